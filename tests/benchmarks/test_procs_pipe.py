"""A load-test process's reply larger than a pipe's buffer reaches the orchestrator."""

from __future__ import annotations

from multiprocessing.connection import Connection

from loadtest.procs import Message, serve_commands, spawn

BIG = 1_000_000  # bytes: well over Linux's 64 KiB pipe buffer


async def big_replies(conn: Connection) -> None:
    """A child role (``loadtest.procs``) answering every command with ``BIG`` bytes."""

    async def answer(_: Message) -> Message:
        return {"ok": True, "blob": b"x" * BIG}

    conn.send({"ok": True})
    await serve_commands(conn, answer)


def test_a_reply_larger_than_the_pipe_buffer_is_delivered() -> None:
    """Regression: on uvloop, ``serve_commands``'s ``add_reader`` left the pipe
    non-blocking, and a fan-out bot process's frame arrivals (a few hundred KiB at
    N = 50) failed with BlockingIOError (EAGAIN), killing the process mid-run."""
    child = spawn("big", f"{__name__}:big_replies", None)
    try:
        child.reply(30)
        for _ in range(3):
            assert len(child.call("big", 30)["blob"]) == BIG
    finally:
        child.stop()
