"""Rate limits per member and room session, not per connection (issue 14)."""

from __future__ import annotations

from tests.functional.conftest import Room, drain_presence


async def test_reconnecting_does_not_refill_the_rate_limit(room: Room) -> None:
    """Regression (issue 14): rate limits were per connection, so a reconnect refilled
    them and a script could chat without limit by reconnecting."""
    # Ada stays: an empty room closes and its session (and limits) end with it; this test
    # relied on a bug that left an emptied room open when the last socket dropped.
    ada = await room("ada", **{"interactions.chat_burst": 2, "interactions.chat_rate": 0.05})
    cora = await room("cora")
    for n in range(2):
        await cora.send({"type": "chat_send", "text": f"hi {n}"})
        await cora.recv_type("chat")
        assert (await ada.recv_type("chat"))["text"] == f"hi {n}"
    await cora.ws.close()
    again = await room("cora")
    await drain_presence(again)
    await again.send({"type": "chat_send", "text": "fresh socket", "ref": "r1"})
    reply = await again.recv()
    assert (reply["type"], reply.get("code"), reply.get("ref")) == ("error", "rate_limited", "r1")
    # Another member still has a full budget.
    await drain_presence(ada)
    await ada.send({"type": "chat_send", "text": "fine"})
    assert (await ada.recv_type("chat"))["text"] == "fine"
