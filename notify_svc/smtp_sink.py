"""A local SMTP sink for development: `python -m notify_svc.smtp_sink` saves each mail as .eml.

Every message received is written to NOTIFY_MAILSINK_DIR (default .data/mail/) as one .eml file
(open it with any mail client, or `cat` it) and logged as one JSON line with sender, recipients,
subject and file name.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import re
import signal
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

from svckit import logs, runtime
from svckit.config import Env

log = logging.getLogger("notify_svc.smtp_sink")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    subject: str
    message_id: str
    content: bytes
    path: Path | None


class MailFolder:
    """aiosmtpd handler: keeps every message (in memory and, given a folder, as .eml files)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.received: list[ReceivedMail] = []
        self._seq = itertools.count(1)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        parsed = message_from_bytes(content, policy=policy.default)
        subject = str(parsed.get("Subject", ""))
        message_id = str(parsed.get("Message-ID", ""))
        path = None
        if self.folder is not None:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            name = _UNSAFE.sub("_", message_id.strip("<>"))[:80] or "message"
            path = self.folder / f"{stamp}-{next(self._seq):05d}-{name}.eml"
            path.write_bytes(content)
        mail = ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), subject, message_id,
                            content, path)
        self.received.append(mail)
        log.info("mail received", extra={"from": mail.mail_from, "to": mail.rcpt_tos,
                                         "subject": subject, "message_id": message_id,
                                         "bytes": len(content), "file": str(path or "")})
        return "250 Message accepted for delivery"


async def start(handler: object, host: str, port: int) -> asyncio.Server:
    """An SMTP server for `handler` on this event loop ('port 0' picks a free one)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, hostname="mailsink.local", enable_SMTPUTF8=True), host, port
    )


def _arguments() -> argparse.Namespace:
    env = Env()
    parser = argparse.ArgumentParser(
        prog="python -m notify_svc.smtp_sink",
        description="Local SMTP sink: saves every message it receives as an .eml file.",
        epilog="example: python -m notify_svc.smtp_sink --port 1025 --dir .data/mail",
    )
    parser.add_argument("--host", default=env.str("NOTIFY_MAILSINK_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=env.int("NOTIFY_MAILSINK_PORT", 1025))
    parser.add_argument("--dir", type=Path,
                        default=Path(env.str("NOTIFY_MAILSINK_DIR", ".data/mail")))
    return parser.parse_args()


async def main() -> None:
    args = _arguments()
    logs.configure("mailsink", Env().str("LOG_LEVEL", "INFO"))
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter
    server = await start(MailFolder(args.dir), args.host, args.port)
    log.info("mail sink listening",
             extra={"host": args.host, "port": args.port, "dir": str(args.dir.resolve())})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()
    log.info("mail sink stopped")


if __name__ == "__main__":
    runtime.run(main())
