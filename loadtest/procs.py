"""Load-test processes: how the orchestrator starts, pins, talks to and stops them.

Every process of ``loadtest`` (the scenario runner's bot workers) and of the fan-out
benchmark (``benchmarks.fanout``: its relay server, publisher and subscribers) starts
with ``child_main`` under the ``spawn`` method, pinned to the cores it is given, and
talks to the orchestrator over a ``multiprocessing`` pipe: ``{"op": ...}`` in,
``{"ok": bool, ...}`` out, ``{"op": "stop"}`` to end it. A child dies with its parent
(``PR_SET_PDEATHSIG``) and ignores Ctrl-C: the orchestrator alone decides when to stop,
so it can still collect figures and write a report after an interrupt.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

logger = logging.getLogger(__name__)

Message = dict[str, Any]
Handler = Callable[[Message], Awaitable[Message]]
Cores = frozenset[int] | None

CALL_TIMEOUT = 10.0
STOP_GRACE = 5.0

# What each role runs: "module:coroutine function", imported in the child only, so that
# the orchestrator does not load aiortc just to start a process. A role not named here is
# itself "module:coroutine function" (the fan-out benchmark's, in ``benchmarks``).
ROLES = {
    "bots": "loadtest.worker:run_worker",
}


class BenchError(RuntimeError):
    """A load-test process could not do what it was asked."""


# --- the child's side -------------------------------------------------------------------


def child_main(role: str, conn: Connection, cpus: Cores, parent_pid: int, options: Message) -> None:
    """Entry point of every load-test process (``multiprocessing`` spawn target)."""
    _die_with_parent(parent_pid)
    # Ctrl-C reaches the whole process group; the orchestrator alone decides shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if cpus:
        # Before any thread starts, so decoder/encoder threads inherit the mask.
        os.sched_setaffinity(0, cpus)
    logging.basicConfig(
        level=logging.WARNING, format=f"[{role}] %(levelname)s %(name)s: %(message)s"
    )
    module, _, name = ROLES.get(role, role).partition(":")
    body: Callable[..., Coroutine[Any, Any, None]] = getattr(importlib.import_module(module), name)
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(body(conn, **options))
    except Exception as exc:
        logger.exception("%s failed", role)
        with contextlib.suppress(OSError):
            conn.send({"ok": False, "error": f"{role}: {type(exc).__name__}: {exc}"})
        raise SystemExit(1) from None
    finally:
        conn.close()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    # The server runs on uvloop in production (server.app.run); bots use it for speed.
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGTERM this process when the orchestrator dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # it died before prctl took effect
        os._exit(1)


async def serve_commands(conn: Connection, handler: Handler) -> None:
    """Answer the orchestrator's commands until it says ``stop`` or goes away."""
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    loop.add_reader(conn.fileno(), readable.set)
    try:
        while True:
            await readable.wait()
            readable.clear()
            while conn.poll():
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    return
                if message.get("op") == "stop":
                    return
                try:
                    reply = await handler(message)
                except Exception as exc:  # reported to the orchestrator, which gives up
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                # uvloop's add_reader made the pipe non-blocking: a reply larger than the
                # pipe's buffer (a fan-out bot process's frame arrivals) failed with EAGAIN.
                # The orchestrator is waiting to read it, so a blocking write is brief.
                os.set_blocking(conn.fileno(), True)
                conn.send(reply)
    finally:
        loop.remove_reader(conn.fileno())


# --- the orchestrator's side ------------------------------------------------------------


@dataclass
class Child:
    """One load-test process and the orchestrator's end of its command pipe."""

    name: str
    process: BaseProcess
    conn: Connection

    def reply(self, timeout: float) -> Message:
        if not self.conn.poll(timeout):
            raise BenchError(f"{self.name} did not answer within {timeout:.0f}s")
        try:
            message: Message = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(1)
            raise BenchError(f"{self.name} exited (status {self.process.exitcode})") from None
        if not message.get("ok"):
            raise BenchError(f"{self.name}: {message.get('error', 'failed')}")
        return message

    def call(self, op: str, timeout: float = CALL_TIMEOUT, **fields: Any) -> Message:
        self.send(op, **fields)
        return self.reply(timeout)

    def send(self, op: str, **fields: Any) -> None:
        try:
            self.conn.send({"op": op, **fields})
        except OSError:
            raise BenchError(f"{self.name} is gone (status {self.process.exitcode})") from None

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Ask the process to close its peers and exit; terminate, then kill, if it won't."""
        with contextlib.suppress(OSError):
            self.conn.send({"op": "stop"})
        self.process.join(grace)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def spawn(name: str, role: str, cpus: Cores, **options: Any) -> Child:
    context = multiprocessing.get_context("spawn")  # no inherited event loop or threads
    ours, theirs = context.Pipe()
    process = context.Process(
        target=child_main,
        name=f"loadtest-{name}",
        daemon=True,
        args=(role, theirs, cpus, os.getpid(), options),
    )
    process.start()
    theirs.close()
    return Child(name, process, ours)


def plan_cores() -> tuple[Cores, Cores, str]:
    """Server on one core, bots on the others, when there are at least two."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None, f"not pinned (only {len(cores)} core available)"
    server, bots = frozenset(cores[:1]), frozenset(cores[1:])
    return server, bots, f"server on CPU {cores[0]}, bots on CPU {','.join(map(str, cores[1:]))}"
