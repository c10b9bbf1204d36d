"""Runs child processes, restarts the ones that crash, stops them all on request."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import dataclass, field

log = logging.getLogger("devstack")


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Supervisor:
    """Keeps every child running (restart with backoff) until `stop()`."""

    def __init__(self, cwd: str) -> None:
        self.cwd = cwd
        self.children: list[Child] = []
        self._stopping = asyncio.Event()

    def add(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.children.append(Child(name, argv, env))

    async def _spawn(self, child: Child) -> None:
        child.proc = await asyncio.create_subprocess_exec(
            *child.argv, cwd=self.cwd, env=child.env, start_new_session=True
        )
        child.started_at = time.monotonic()
        print(f"[devstack] started {child.name} (pid {child.proc.pid})", flush=True)

    async def _keep_alive(self, child: Child) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            await self._spawn(child)
            assert child.proc is not None
            code = await child.proc.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - child.started_at > 30:
                backoff = 0.5  # it ran for a while: a fresh crash, not a crash loop
            child.restarts += 1
            print(
                f"[devstack] {child.name} exited with {code}; restarting in {backoff:.1f}s "
                f"(restart #{child.restarts})",
                flush=True,
            )
            try:
                await asyncio.wait_for(self._stopping.wait(), backoff)
            except TimeoutError:
                pass
            backoff = min(backoff * 2, 10.0)

    async def start(self) -> None:
        for child in self.children:
            child.task = asyncio.create_task(self._keep_alive(child))
        await asyncio.sleep(0)

    async def stop(self, grace: float = 15.0) -> None:
        """SIGTERM every child (they drain), SIGKILL what is still alive after `grace`."""
        self._stopping.set()
        alive = [c for c in self.children if c.proc and c.proc.returncode is None]
        for child in alive:
            assert child.proc is not None
            try:
                os.killpg(child.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        for child in alive:
            assert child.proc is not None
            try:
                await asyncio.wait_for(child.proc.wait(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                print(f"[devstack] {child.name} did not stop in time: killing", flush=True)
                try:
                    os.killpg(child.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                await child.proc.wait()
        for child in self.children:
            if child.task:
                child.task.cancel()
