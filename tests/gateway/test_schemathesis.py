"""schemathesis against /openapi.json (fixed seed, bounded examples): no 5xx, and every response
matches the document. The gateway runs on a real port; schemathesis is a child process."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from devstack.servers import free_port
from gateway.app import Gateway, build_app

pytestmark = pytest.mark.integration

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@contextlib.asynccontextmanager
async def listening(gateway: Gateway) -> AsyncIterator[str]:
    """The gateway on a real port of this event loop (schemathesis runs as a child process)."""
    port = free_port()
    config = uvicorn.Config(
        build_app(gateway),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 5)


async def run_schemathesis(base_url: str, cwd: Path, *extra: str, seconds: int = 8) -> str:
    """Runs schemathesis with a fixed seed and a time budget; fails the test on any finding."""
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance",
        "--seed",
        "20261128",
        "--max-examples",
        "10",
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "5",
        "--max-time",
        str(seconds),
        "--no-shrink",
        "--suppress-health-check",
        "all",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=cwd,
    )
    output, _ = await asyncio.wait_for(process.communicate(), seconds + 40)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-8000:]
    return text


needs_schemathesis = pytest.mark.skipif(
    not SCHEMATHESIS.exists(), reason="schemathesis is a dev dependency"
)


@needs_schemathesis
async def test_schemathesis_finds_no_server_error_and_no_schema_break(
    gateway: Gateway, tmp_path: Path
) -> None:
    async with listening(gateway) as base_url:
        # Fail answers any status it is told to (500 included); Watch streams as long as asked.
        await run_schemathesis(base_url, tmp_path, "--exclude-path-regex", r"/test/v1/fail/|:watch")
