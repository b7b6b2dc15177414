"""Every message the server sends to pages: one typed constructor per message type.

A broadcast is an ``Outbound``: the message's ``kind`` (its ``type`` on the wire) and
its payload. Rooms send them (``room.broadcast(*outbound.role(...))``) and the signaling
layer sends them to one socket (``outbound.pong(ref)``, ``....to_json()``), so this
module sits below both and imports nothing of theirs (only ``server.ids``): the shape of
everything the server says lives here, and docs/protocol.md lists the same messages.
Payloads a domain object already renders (a question's ``to_json()``, the stage's
state) are passed in whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

from server.ids import ParticipantId

Json = dict[str, Any]
PcName = Literal["pub", "sub"]


class Outbound(NamedTuple):
    """One server message: ``kind`` is its ``type``; ``payload`` the rest of its fields."""

    kind: str
    payload: Json

    def to_json(self, ref: str | None = None) -> Json:
        out = {"type": self.kind, **self.payload}
        if ref is not None:
            out["ref"] = ref
        return out


# --- replies to one socket ---------------------------------------------------------------


def error(
    code: str,
    message: str,
    ref: str | None = None,
    params: Mapping[str, object] | None = None,
    **fields: Any,
) -> Json:
    """An error: its stable ``code``, an English ``message``; ``fields`` (a text refusal's
    ``field``, ``reason``, ``char`` or ``limit``) beside ``code``, as in the REST error
    body; ``params`` (a domain error's parameters) under ``params``, for the page to render
    its own sentence (docs/protocol.md, "Errors")."""
    out: Json = {"type": "error", "code": code, **fields, "message": message}
    if ref is not None:
        out["ref"] = ref
    if params:
        out["params"] = dict(params)
    return out


def wrong_encoding(binary: bool) -> Json:
    """The error for a frame in the other encoding than the socket's subprotocol."""
    sent, expected = ("text", "msgpack (binary)") if binary else ("binary", "JSON (text)")
    return error(
        "wrong_encoding", f"This socket takes {expected} frames; a {sent} frame was ignored."
    )


def reconnect(code: str, retry_after: float) -> Json:
    """Come back in ``retry_after`` seconds (with some jitter): this server is going away
    (``server_stopping``); the socket closes right after (docs/protocol.md)."""
    return Outbound("reconnect", {"code": code, "retry_after": retry_after}).to_json()


def pong(ref: str | None = None) -> Json:
    return Outbound("pong", {}).to_json(ref)


def answer(pc: PcName, sdp: str, ref: str | None = None) -> Json:
    return Outbound("answer", {"pc": pc, "sdp": sdp}).to_json(ref)


def joined(
    room: Json,
    you: Json,
    first_page: Json,
    live: bool,
    publisher: str | None,
    ice_servers: list[Json],
    features: Json,
    resume_token: str | None = None,
    resumed: Json | None = None,
    ref: str | None = None,
) -> Json:
    """The answer to ``join``: the room, the joiner, the first page of people, the
    stream, ICE servers, each feature's state for a late joiner, the resume token for
    this session and (when the join sent one) what became of the previous one."""
    payload = {
        "room": room,
        "you": you,
        **first_page,
        "live": live,
        "publisher": publisher,
        "ice_servers": ice_servers,
        **features,
    }
    if resume_token is not None:
        payload["resume_token"] = resume_token
    if resumed is not None:
        payload["resumed"] = resumed
    return Outbound("joined", payload).to_json(ref or None)


def people_page(people: list[Json], cursor: int | None, count: int) -> Json:
    """A page of the people list: ``next`` asks for the one after it (null: no more)."""
    return Outbound("people_page", {"people": people, "next": cursor, "count": count}).to_json()


def people_found(query: str, people: list[Json]) -> Json:
    return Outbound("people_found", {"query": query, "people": people}).to_json()


def stream(live: bool, publisher: str | None) -> Json:
    return Outbound("stream", {"live": live, "publisher": publisher}).to_json()


# --- room: people, roles, media ------------------------------------------------------------


def role(participant: Json) -> Outbound:
    return Outbound("role", {"participant": participant})


def presence(delta: Json) -> Outbound:
    """Who joined and left since the last one (``Room._delta``)."""
    return Outbound("presence", delta)


def tracks(state: Json) -> Outbound:
    return Outbound("tracks", state)


def speaking(who: Iterable[str], levels: Mapping[ParticipantId, float]) -> Outbound:
    return Outbound("speaking", {"speaking": list(who), "levels": dict(levels)})


def tier(
    participant: str,
    member_id: str,
    name: str,
    change: Mapping[str, Any],
) -> Outbound:
    """A member in the room moved to another tier (hosts only): ``change`` holds ``from``,
    ``to``, ``reason`` and ``rule``."""
    payload: Json = {"participant": participant, "member_id": member_id, "name": name}
    payload.update({k: change[k] for k in ("from", "to", "reason", "rule") if k in change})
    return Outbound("tier", payload)


# --- stage -------------------------------------------------------------------------------


def stage(state: Json) -> Outbound:
    return Outbound("stage", state)


def hands(state: Json) -> Outbound:
    return Outbound("hands", state)


def stage_self(state: Json, by: Json | None = None) -> Outbound:
    """The receiver's own stage state; ``by`` names who invited them."""
    return Outbound("stage_self", state if by is None else {**state, "by": by})


def unmute_request(by: Json) -> Outbound:
    return Outbound("unmute_request", {"by": by})


# --- interactions ----------------------------------------------------------------------------


def question_voted(question_id: str, voted: bool, votes: int) -> Outbound:
    """To the voter alone: their vote on a question counted (or withdrawn)."""
    return Outbound("question_voted", {"id": question_id, "voted": voted, "votes": votes})


def poll_voted(poll_id: str, option: int) -> Outbound:
    """To the voter alone: their poll vote counted."""
    return Outbound("poll_voted", {"id": poll_id, "option": option})


def chat(line: Json) -> Outbound:
    return Outbound("chat", line)


def chat_deleted(message_id: str) -> Outbound:
    return Outbound("chat_deleted", {"id": message_id})


def question(question: Json) -> Outbound:
    return Outbound("question", {"question": question})


def question_votes(question_id: str, votes: int) -> Outbound:
    return Outbound("question_votes", {"id": question_id, "votes": votes})


def question_removed(question_id: str) -> Outbound:
    return Outbound("question_removed", {"id": question_id})


def poll(poll: Json) -> Outbound:
    return Outbound("poll", {"poll": poll})


def poll_results(results: Json) -> Outbound:
    return Outbound("poll_results", results)


def product(product: Json | None) -> Outbound:
    return Outbound("product", {"product": product})


def product_stats(stats: Json) -> Outbound:
    return Outbound("product_stats", stats)


def reactions(counts: Mapping[str, int]) -> Outbound:
    return Outbound("reactions", {"counts": dict(counts)})


def purchase(member_id: str, name: str, product_id: str, details: Mapping[str, Any]) -> Outbound:
    return Outbound(
        "purchase", {"member_id": member_id, "name": name, "product_id": product_id, **details}
    )


# --- rewards ---------------------------------------------------------------------------------


def coupon_drop(drop: Json) -> Outbound:
    """A running offer as one kind of viewer sees it (with ``eligible`` and ``why``)."""
    return Outbound("coupon_drop", drop)


def coupon_stock(drop_id: str, remaining: int) -> Outbound:
    return Outbound("coupon_stock", {"id": drop_id, "remaining": remaining})


def coupon_end(drop_id: str) -> Outbound:
    return Outbound("coupon_end", {"id": drop_id})


def coupon_claimed(claim: Json) -> Outbound:
    return Outbound("coupon_claimed", claim)


def draw_result(result: Json) -> Outbound:
    return Outbound("draw_result", result)


def quiz(state: Json) -> Outbound:
    return Outbound("quiz", state)


def quiz_result(result: Json) -> Outbound:
    return Outbound("quiz_result", result)


def quiz_failed(quiz_id: str, sentence: str, code: str, params: Mapping[str, object]) -> Outbound:
    """The quiz could not close: the English sentence, and the code for pages."""
    return Outbound(
        "quiz_result", {"id": quiz_id, "error": sentence, "code": code, "params": dict(params)}
    )


def quiz_answered(quiz_id: str, option: int) -> Outbound:
    return Outbound("quiz_answered", {"quiz": quiz_id, "option": option})


def checkin_done(streak: int, points: int, balance: int) -> Outbound:
    return Outbound("checkin_done", {"streak": streak, "points": points, "balance": balance})


def points_redeemed(result: Json) -> Outbound:
    return Outbound("points_redeemed", result)


def rewards_self(state: Json) -> Outbound:
    return Outbound("rewards_self", state)


def to_member(kind: Literal["draw_won", "quiz_you"], payload: Json) -> Outbound:
    """A reward told to one member (a draw's prize, a quiz's right answer)."""
    return Outbound(kind, payload)
