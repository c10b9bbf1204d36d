"""Generate Python stubs and .pyi files for proto/ into the git-ignored gen/ folder."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

import google.api
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "proto"
GEN = ROOT / "gen"
BUF_DEPS = ROOT / ".buf-deps" / "googleapis"


def googleapis_root() -> Path:
    """The site-packages folder holding google/api/*.proto from googleapis-common-protos."""
    return Path(next(iter(google.api.__path__))).parent.parent


def well_known_root() -> Path:
    return Path(protoc.__file__).parent / "_proto"


def generate() -> None:
    """Generate into a scratch folder, then swap it in (other shells may be importing gen/)."""
    out = ROOT / f".gen-{os.getpid()}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    files = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO}",
        f"-I{googleapis_root()}",
        f"-I{well_known_root()}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *files,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    # Plain packages (not namespace packages) so mypy and importers resolve them the same way.
    for folder in [out / "shop", *(p for p in (out / "shop").rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    (out / "shop" / "py.typed").touch()
    old = ROOT / f".gen-old-{os.getpid()}"
    if GEN.exists():
        GEN.rename(old)
    out.rename(GEN)
    shutil.rmtree(old, ignore_errors=True)


def copy_buf_deps() -> None:
    """Give buf the google/api and google/rpc protos of the installed package (git-ignored)."""
    if BUF_DEPS.exists():
        shutil.rmtree(BUF_DEPS)
    src = googleapis_root() / "google"
    for sub in ("api", "rpc"):
        dest = BUF_DEPS / "google" / sub
        dest.mkdir(parents=True)
        for proto in (src / sub).glob("*.proto"):
            shutil.copy(proto, dest / proto.name)
    (BUF_DEPS / "buf.yaml").unlink(missing_ok=True)


def link_into_venv() -> None:
    """Put gen/ on sys.path of the running interpreter's environment with a .pth file."""
    purelib = Path(sysconfig.get_paths()["purelib"])
    (purelib / "shop_gen.pth").write_text(f"{GEN}\n")


if __name__ == "__main__":
    generate()
    copy_buf_deps()
    link_into_venv()
    print(f"generated stubs in {GEN}")
