"""What the WebSocket fuzzer sends: hypothesis strategies for one frame at a time.

Three families, mixed: *valid* messages of every client type (the parsers' own tables:
``messages.CORE_TYPES`` and ``messages.FEATURE_PARSERS``), built from what the room holds
now (``Known``: chat, question, poll and product ids, participants); *mutated* ones (a
field of the wrong type, odd text: lone surrogates, controls, bidi overrides, huge
strings; a field dropped or added; an odd ``type`` or ``ref``; deep nesting); and
*garbage* (random text and bytes, truncated JSON, ``[`` x 40,000, msgpack oddities,
frames above the size limit, invalid UTF-8 in a text frame, the other encoding).

Every frame is built so that the fuzzer itself can always send it: JSON is dumped with
``ensure_ascii`` (a lone surrogate travels as ``\\ud800``), msgpack strings are packed
with ``surrogatepass``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import msgpack
from hypothesis import strategies as st

from server.rooms import draws, quiz
from server.rooms.reactions import REACTIONS
from server.signaling import messages as m

St = st.SearchStrategy


@dataclass(frozen=True, slots=True)
class Frame:
    """One WebSocket frame, in a text (``binary=False``) or a binary frame: ``data`` as
    is, or a ``message`` to resolve (``Pick``) and encode when it is sent."""

    binary: bool
    note: str  # what it is, for failure reports
    data: str | bytes = b""
    message: Any = None

    def payload(self, pools: dict[str, tuple[str, ...]]) -> str | bytes:
        if self.message is None:
            return self.data
        return encode(resolve(self.message, pools), self.binary)


@dataclass(frozen=True, slots=True)
class Known:
    """What stays the same for one fuzzed socket: its token, the room, a real offer."""

    token: str
    room: str
    sdp: str


@dataclass(frozen=True, slots=True)
class Pick:
    """The ``index``-th id (modulo) of a pool the room holds *when the frame is sent*:
    strategies must not depend on state that changes between examples."""

    pool: str  # participants, chats, questions, polls, products
    index: int


def resolve(value: Any, pools: dict[str, tuple[str, ...]]) -> Any:
    """``value`` with every ``Pick`` replaced by an id from ``pools`` (or a stranger's)."""
    if isinstance(value, Pick):
        pool = pools.get(value.pool) or ("nobody",)
        return pool[value.index % len(pool)]
    if isinstance(value, dict):
        return {k: resolve(v, pools) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, pools) for v in value]
    return value


SAFE_ALPHABET = st.characters(exclude_categories=["Cs"])
WORDS = st.sampled_from(["hi", "你好 👋", "שלום", "  trimmed  ", "a\nb", "<b>bold</b>", "Ünïcödé"])
ODD_TEXT = st.sampled_from(
    [
        "x\ud800",
        "\udfff",
        "a\ud83d",
        "a\x00b",
        "\x1b[31mred",
        "evil\u202egnp.exe",
        "\u2067iso\u2069",
        "line\u2028sep",
        "",
        "   ",
        "\t",
        "a" * 5000,
        "😀" * 3000,
        "\ufeff",
    ]
)
TEXT = st.one_of(WORDS, st.text(SAFE_ALPHABET, max_size=60), ODD_TEXT)
ODD_VALUE: St[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.just(2**70),
    st.floats(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    ODD_TEXT,
    st.text(SAFE_ALPHABET, max_size=20),
)
# Plain alphabets: a regex strategy costs several times more per draw.
ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
NEW_ID = st.text(ID_CHARS, min_size=1, max_size=10)
PC = st.sampled_from(["pub", "sub"])
REWARD_ID = st.one_of(st.just("fuzz"), NEW_ID)


def pick(pool: str) -> St[Any]:
    """An id from the room's ``pool`` most of the time, else a made-up one."""
    return st.one_of(st.integers(0, 99).map(lambda i: Pick(pool, i)), NEW_ID)


def _candidate() -> St[Any]:
    line = st.builds(
        lambda port: f"candidate:1 1 udp 2122260223 127.0.0.1 {port} typ host",
        st.integers(1024, 65535),
    )
    return st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {"candidate": line, "sdpMid": st.just("0"), "sdpMLineIndex": st.just(0)}
        ),
        st.fixed_dictionaries(
            {
                "candidate": st.sampled_from(
                    ["candidate:1 1 udp", "candidate:", "", "candidate:1 1 udp 1 ::zz 1 typ host"]
                ),
                "sdpMid": st.sampled_from(["0", "9", None]),
                "sdpMLineIndex": st.sampled_from([0, 7, -1, None]),
            }
        ),
    )


def _sdp(k: Known) -> St[str]:
    """The fuzzer's real offer, or a broken variant of it (no ``a=mid``, cut, garbage)."""
    lines = k.sdp.split("\r\n")
    return st.one_of(
        st.just(k.sdp),
        st.just("\r\n".join(x for x in lines if not x.startswith("a=mid:"))),
        st.integers(0, len(lines)).map(lambda n: "\r\n".join(lines[:n]) + "\r\n"),
        st.just(k.sdp.replace("m=video", "m=text")),
        st.sampled_from(["v=0", "garbage", "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"]),
    )


def _valid(k: Known) -> dict[str, St[dict[str, Any]]]:
    def obj(**fields: St[Any]) -> St[dict[str, Any]]:
        return st.fixed_dictionaries(fields)

    def target(pool: str) -> St[dict[str, Any]]:
        return obj(participant=pick(pool))

    def about(pool: str) -> St[dict[str, Any]]:
        return obj(id=pick(pool))

    nothing: St[dict[str, Any]] = st.just({})
    url = st.sampled_from(["https://shop.example.com/p/1", "http://a.example/x?y=1"])
    return {
        "join": st.fixed_dictionaries(
            {"token": st.one_of(st.just(k.token), TEXT), "room": st.just(k.room)},
            optional={"resume": st.one_of(TEXT, st.just("r1." + "A" * 43))},
        ),
        "offer": obj(pc=PC, sdp=_sdp(k)),
        "candidate": obj(pc=PC, candidate=_candidate()),
        "stop": obj(pc=PC),
        "leave": nothing,
        "ping": nothing,
        "chat_send": obj(text=TEXT),
        "chat_delete": about("chats"),
        "reaction": obj(emoji=st.sampled_from(REACTIONS)),
        "question_ask": obj(text=TEXT),
        "question_upvote": about("questions"),
        "question_unvote": about("questions"),
        "question_answer": about("questions"),
        "question_pin": about("questions"),
        "question_unpin": about("questions"),
        "question_dismiss": about("questions"),
        "poll_create": obj(question=TEXT, options=st.lists(TEXT, min_size=1, max_size=7)),
        "poll_vote": obj(id=pick("polls"), option=st.integers(-1, 7)),
        "poll_close": about("polls"),
        "product_pin": obj(
            id=NEW_ID, title=TEXT, price=st.sampled_from(["€49", "$5", "x\ud800"]), link=url
        ),
        "product_unpin": nothing,
        "product_click": about("products"),
        "hand_raise": nothing,
        "hand_lower": nothing,
        "stage_invite": target("participants"),
        "hand_dismiss": target("participants"),
        "stage_reply": obj(accept=st.booleans()),
        "stage_leave": nothing,
        "stage_move_off": target("participants"),
        "mute": target("participants"),
        "unmute": target("participants"),
        "ask_unmute": target("participants"),
        "make_cohost": target("participants"),
        # `remove` never bans and never targets the fuzzer's own members: a removal holds for
        # the rest of the room session (issue 13), so they could not come back. It names
        # made-up participants (not_found) instead; functional tests cover real removals.
        "remove": obj(participant=NEW_ID, ban=st.just(False)),
        # Rewards (issue 15): drops, quizzes and rewards are made-up ids or the fuzz ones.
        "coupon_drop": obj(coupon=REWARD_ID),
        "coupon_end": nothing,
        "coupon_claim": obj(drop=NEW_ID),
        "draw_run": obj(
            condition=st.sampled_from([c.value for c in draws.Condition]),
            winners=st.integers(1, draws.MAX_WINNERS),
            minutes=st.integers(1, draws.MAX_MINUTES),
            weighted=st.booleans(),
            note=TEXT,
        ),
        "quiz_ask": obj(
            question=TEXT,
            options=st.lists(TEXT, min_size=quiz.MIN_OPTIONS, max_size=quiz.MAX_OPTIONS),
            correct=st.integers(0, quiz.MIN_OPTIONS - 1),
            seconds=st.integers(quiz.MIN_SECONDS, quiz.MAX_SECONDS),
            points=st.integers(1, 100),
        ),
        "quiz_answer": obj(quiz=NEW_ID, option=st.integers(-1, quiz.MAX_OPTIONS)),
        "checkin": nothing,
        "points_redeem": obj(reward=REWARD_ID),
        "rewards_me": nothing,
        # People (issue 17): older pages of the list, and a moderator's search by name.
        "people_page": st.one_of(nothing, obj(before=st.integers(0, 10_000))),
        "people_search": obj(query=TEXT),
    }


# Hypothesis leans to the first entries: the cheap, common messages go first, then the
# ones that close the socket or build peer connections.
_LATE = ("join", "leave", "offer", "remove")
ALL_TYPES = (
    *(t for t in (*m.FEATURE_PARSERS, *m.CORE_TYPES) if t not in _LATE),
    *_LATE,
)


@functools.cache
def valid_message(k: Known) -> St[dict[str, Any]]:
    """A well-formed message of any client type, with a ``ref`` now and then."""
    table = _valid(k)
    missing = set(ALL_TYPES) - set(table)
    assert not missing, f"the fuzzer has no generator for {sorted(missing)}"

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        kind = draw(st.sampled_from(ALL_TYPES))
        message = {"type": kind, **draw(table[kind])}
        if draw(st.booleans()):
            message["ref"] = draw(st.text(ID_CHARS, min_size=1, max_size=8))
        return message

    return build()


@functools.cache
def mutated_message(k: Known) -> St[dict[str, Any] | str]:
    return _mutated(k)


@st.composite
def _mutated(draw: st.DrawFn, k: Known) -> dict[str, Any] | str:
    """A valid message with one thing wrong (or a raw text frame with deep nesting)."""
    message = dict(draw(valid_message(k)))
    fields = [f for f in message if f != "type"] or ["type"]
    how = draw(st.sampled_from(["set", "set", "drop", "add", "type", "ref", "nest"]))
    if how == "set":
        message[draw(st.sampled_from(fields))] = draw(ODD_VALUE)
    elif how == "drop":
        message.pop(draw(st.sampled_from(fields)), None)
    elif how == "add":
        message[draw(st.text(SAFE_ALPHABET, max_size=8))] = draw(ODD_VALUE)
    elif how == "type":
        message["type"] = draw(st.one_of(ODD_VALUE, st.sampled_from(["ping ", "JOIN", "chat"])))
    elif how == "ref":
        message["ref"] = draw(st.one_of(ODD_VALUE, st.just("r" * 65)))
    else:
        depth = draw(st.integers(1, 40_000))
        field = draw(st.sampled_from(fields))
        text = json.dumps(message, default=lambda _: "nobody")
        return text[:-1] + f', "{field}": ' + "[" * depth + "]" * depth + "}"
    return message


GARBAGE_TEXT: St[str] = st.one_of(
    st.text(SAFE_ALPHABET, max_size=200),
    st.integers(1, 40_000).map(lambda n: "[" * n),
    st.integers(1, 40_000).map(lambda n: '{"a":' * n),
    st.sampled_from(
        [
            '{"type":',
            "null",
            "[]",
            '"join"',
            "{}",
            '{"type": null}',
            '{"type": 5}',
            '{"type": ["join"]}',
            "NaN",
            "1e999999",
            "9" * 5000,
            '{"type": "ping", "type": "leave"}',
            '{"type": "chat_send", "text": "\\ud800"}',
        ]
    ),
)
GARBAGE_BYTES: St[bytes] = st.one_of(
    st.binary(max_size=200),
    st.integers(1, 40_000).map(lambda n: b"\x91" * n),
    st.sampled_from(
        [
            b"\xc1",
            b"\xd4\x01\x00",
            b"\x81\x01\x02",
            b"\x81\xa4type\xc4\x04ping",
            b"\x81\xa4type\xa3\xed\xa0\x80",
            b"\xc7\x01\x05x",
            b"\xdf\xff\xff\xff\xff",
            b"\xdd\xff\xff\xff\xff",
        ]
    ),
)


def _clamp(value: Any) -> Any:
    """msgpack holds integers of 64 bits: bigger ones become the largest it holds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(-(2**63), min(value, 2**64 - 1))
    if isinstance(value, dict):
        return {k: _clamp(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clamp(v) for v in value]
    return value


def encode(message: Any, binary: bool) -> str | bytes:
    if binary:
        packed = msgpack.packb(_clamp(message), use_bin_type=True, unicode_errors="surrogatepass")
        return bytes(packed)
    return json.dumps(message)


@functools.cache
def frame(k: Known, binary: bool, limit: int) -> St[Frame]:
    """One frame for a socket whose subprotocol is msgpack (``binary``) or JSON (cached:
    building strategies costs more than drawing from them)."""
    return _frame(k, binary, limit)


@st.composite
def _frame(draw: st.DrawFn, k: Known, binary: bool, limit: int) -> Frame:
    family = draw(st.sampled_from(["valid"] * 4 + ["mutated"] * 4 + ["garbage"] * 2 + ["other"]))
    if family == "valid":
        message = draw(valid_message(k))
        return Frame(binary, f"valid {message['type']}", message=message)
    if family == "mutated":
        mutant = draw(mutated_message(k))
        if isinstance(mutant, str):  # deep nesting: JSON text only
            return Frame(False, "nested", data=mutant)
        return Frame(binary, f"mutated {str(mutant.get('type'))[:20]}", message=mutant)
    if family == "garbage":
        rare = draw(st.integers(0, 59))
        if rare == 0:
            return Frame(binary, "above the size limit", data="a" * (limit + 1))
        if rare == 1:
            return Frame(False, "invalid UTF-8 text", data=b'{"type": "ping", "x": "\xff"}')
        if binary:
            return Frame(True, "garbage bytes", data=draw(GARBAGE_BYTES))
        return Frame(False, "garbage text", data=draw(GARBAGE_TEXT))
    # The other encoding than the socket's.
    message = draw(valid_message(k))
    return Frame(not binary, "other encoding", message=message)
