"""The real processes: `python -m notify_svc.smtp_sink` and `python -m notify_svc`, driven by
grpcurl exactly as the README shows; the mail lands in the sink's folder as an .eml file."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from devstack import servers
from svckit.auth import issue_token
from tests.support import wait_serving

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GRPCURL = str(Path(sys.executable).parent / "grpcurl")



def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


@pytest_asyncio.fixture(loop_scope="session")
async def stack(
    database_url: str, secret: str, tmp_path: Path
) -> AsyncIterator[tuple[int, Path, Path]]:
    sink_port, grpc_port = servers.free_port(), servers.free_port()
    mail_dir = tmp_path / "mail"
    sink_log = tmp_path / "sink.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO"}
    sink = _spawn(["-m", "notify_svc.smtp_sink", "--port", str(sink_port), "--dir",
                   str(mail_dir)], env, sink_log)
    notify = _spawn(
        ["-m", "notify_svc"],
        {**env, "DATABASE_URL": database_url, "JWT_SECRET": secret,
         "NOTIFY_GRPC_PORT": str(grpc_port), "NOTIFY_METRICS_PORT": "0",
         "NOTIFY_EMAIL_MODE": "smtp", "NOTIFY_SMTP_PORT": str(sink_port)},
        tmp_path / "notify.log",
    )
    try:
        await asyncio.to_thread(servers.wait_for_port, sink_port, 30, sink)
        await wait_serving(grpc_port, lambda: notify.poll() is None, "notify_svc")
        yield grpc_port, mail_dir, sink_log
    finally:
        for proc in (notify, sink):
            proc.terminate()
        for proc in (notify, sink):
            try:
                await asyncio.to_thread(proc.wait, 15)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)


async def grpcurl(*args: str) -> dict:  # type: ignore[type-arg]
    proc = await asyncio.create_subprocess_exec(
        GRPCURL, "-plaintext", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return json.loads(out or b"{}")


async def test_send_with_grpcurl_lands_in_the_mail_sink(
    stack: tuple[int, Path, Path], secret: str
) -> None:
    port, mail_dir, sink_log = stack
    token = issue_token(secret, "dev-admin", "admin", ttl_seconds=600)
    order_id = str(uuid.uuid4())
    request = {
        "idempotency_key": f"{order_id}:SEND_CONFIRMATION",
        "order_id": order_id,
        "customer_id": "cust-demo",
        "template": "ORDER_CONFIRMED",
        "locale": "es",
        "variables": {"customer_name": "Ana", "total": "19.98", "currency": "EUR"},
        "items": [{"name": "Taza azul", "quantity": 2, "line_total": "19.98"}],
        "channels": ["CHANNEL_EMAIL"],
        "recipient": {"email": "ana@example.com"},
    }
    auth = ["-H", f"authorization: Bearer {token}"]
    target = f"127.0.0.1:{port}"
    sent = await grpcurl(*auth, "-d", json.dumps(request), target,
                         "shop.notify.v1.NotificationService/Send")
    (email,) = sent["notification"]["deliveries"]
    assert email["status"] == "DELIVERY_STATUS_DELIVERED"
    (eml,) = list(mail_dir.glob("*.eml"))
    content = eml.read_text()
    assert "ana@example.com" in content and order_id in content
    events = [json.loads(line) for line in sink_log.read_text().splitlines() if line.strip()]
    received = [e for e in events if e.get("msg") == "mail received"]
    assert received and received[0]["to"] == ["ana@example.com"]
    assert received[0]["subject"] == f"Tu pedido {order_id} está confirmado"
    listed = await grpcurl(*auth, "-d", json.dumps({"order_id": order_id}), target,
                           "shop.notify.v1.NotificationService/ListNotifications")
    key = "notificationId" if "notificationId" in sent["notification"] else "notification_id"
    assert listed["notifications"][0][key] == sent["notification"][key]
