"""The engagement event schema (version 1) and its msgpack wire form.

This module owns what an event *is*: its kinds, its fields, and the one place where
bytes from the stream become an ``Event`` (``decode``) or the other way (``encode``).
It does no I/O. The recorder appends encoded events to ``STREAM_KEY``; the scorer and
any later consumer read them back through ``decode``.

Wire form: a msgpack map ``{"v", "id", "kind", "room_id", "member_id", "ts_ms", "data"}``.
Unknown top-level keys are ignored so that version 1 can gain optional fields; a change
that old readers must not misread bumps ``v``.

``data`` by kind (the contract between whoever records an event and the scorer). Any
kind may also carry ``session`` (the room session id), ``role`` (the participant's role:
events by a ``host`` or ``cohost`` never earn points nor count as member activity),
``by`` (who did it, when not the member: a host's stage invitation or mute is not the
member's activity) and ``action`` (only the actions in ``SCORED_ACTIONS`` earn points;
no ``action`` means the kind's main one):

- ``join``: ``role``. ``leave``: ``watch_seconds`` (float), ``role``.
- ``chat`` (action ``send``), ``reaction`` (``emoji``), ``question`` (``ask``),
  ``upvote`` (``add``), ``poll_vote`` (``vote``), ``hand_raise`` (``raise``),
  ``product_click`` (``click``; ``product_id``).
- ``stage_seconds``: ``seconds`` (float) spent on stage, ``role`` held there (``speaker`` or
  ``cohost``); recorded whenever a seat ends (left the stage, moved off, left the room).
- ``stage_invite``, ``stage_accept``, ``stage_decline``, ``mute``, ``remove``, ``ban``: about
  the member invited, answering, muted or removed; ``by`` is who did it (``mute`` also has
  ``muted`` (bool) and ``self_mute``; ``stage_invite`` has ``hand_raised``).
- ``purchase``: ``order_id``, ``amount``, ``currency`` and optionally ``product_id``;
  build it with ``purchase_data`` and read it with ``parse_purchase``. ``amount`` is a
  decimal string in the currency's major unit (``"129.90"``, at most two decimals);
  ``currency`` is an ISO 4217 code. An order id counts once per member however often it
  is reported, so a shop may safely report a purchase again. ``room_id`` (and
  ``session``) attribute it to a room session; both may be empty.
- ``share``: optionally ``channel``. ``invite``: ``invitee`` (the invited member id).
- ``hook_visit``, ``registration``, ``rsvp``: ``link`` (the hook code), ``channel`` and
  ``session`` (the scheduled session); the member of a visit may be an anonymous visitor
  id (``v-...``) that has no member record.
- ``consultation_requested``, ``consultation_started``, ``consultation_ended``,
  ``consultation_purchase``: see ``EventKind`` (server/consult/).
- ``replay_watch``: ``seconds`` (float, at most ``replay.watch_report_max``), ``session``
  (the recorded room session) and ``report`` (the page's report id, counted once).
- ``external``: ``action``, one of ``EXTERNAL_ACTIONS`` (joined the brand's group chat,
  added the brand's account, clicked a hook link from a public stream).
- Rewards (they earn no engagement score: reward points are a ledger of their own):
  ``coupon_drop`` (by the host: ``coupon``, ``drop``), ``coupon_claim`` (``coupon``,
  ``drop``; ``prize`` when a draw or quiz granted it), ``coupon_redeem`` (``coupon``,
  ``drop``, ``order_id``, ``value``), ``draw`` (by the host: ``draw``, ``condition``,
  ``eligible``, ``winners``), ``draw_win`` (``draw``), ``quiz`` (by the host: ``quiz``,
  ``seconds``), ``quiz_answer`` (``quiz``, ``option``, ``correct``), ``checkin``
  (``streak``, ``points``), ``points`` (``change``: the ledger id, ``points``: signed).
"""

from __future__ import annotations

import functools
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final

import msgpack

from server.ids import MemberId, is_valid_id

SCHEMA_VERSION: Final = 1

# One stream for every event; the hash tag keeps it in one slot on Redis Cluster.
STREAM_KEY: Final = "salon:{events}:stream"
# The only field of a stream entry: the msgpack-encoded event.
STREAM_FIELD: Final = b"e"


class EventKind(StrEnum):
    JOIN = "join"
    LEAVE = "leave"
    CHAT = "chat"
    REACTION = "reaction"
    QUESTION = "question"
    UPVOTE = "upvote"
    POLL_VOTE = "poll_vote"
    HAND_RAISE = "hand_raise"
    STAGE_SECONDS = "stage_seconds"
    PRODUCT_CLICK = "product_click"
    PURCHASE = "purchase"
    SHARE = "share"
    INVITE = "invite"
    EXTERNAL = "external"
    # Stage (server/signaling/stage.py): the member the event is about; ``by`` who did it.
    STAGE_INVITE = "stage_invite"
    STAGE_ACCEPT = "stage_accept"
    STAGE_DECLINE = "stage_decline"
    MUTE = "mute"
    REMOVE = "remove"
    BAN = "ban"
    # Rewards (server/signaling/rewards*.py, server/http/rewards.py): see the docstring.
    COUPON_DROP = "coupon_drop"
    COUPON_CLAIM = "coupon_claim"
    COUPON_REDEEM = "coupon_redeem"
    DRAW = "draw"
    DRAW_WIN = "draw_win"
    QUIZ = "quiz"
    QUIZ_ANSWER = "quiz_answer"
    CHECKIN = "checkin"
    POINTS = "points"
    # The journey before a session (server/hooks/): a hook link opened, a member
    # registered through it, a member's RSVP. ``link`` (the hook code) and ``channel``.
    HOOK_VISIT = "hook_visit"
    REGISTRATION = "registration"
    RSVP = "rsvp"
    # 1:1 consultations (server/consult/): ``consultation`` (its id) in every one; the
    # request has ``origin`` (room or hook code) and ``note_chars``; started has
    # ``advisor``; ended has ``seconds`` (first both-present to the first leave) and
    # ``advisor``; a purchase credited to one has ``order_id``, ``amount``, ``currency``.
    CONSULTATION_REQUESTED = "consultation_requested"
    CONSULTATION_STARTED = "consultation_started"
    CONSULTATION_ENDED = "consultation_ended"
    CONSULTATION_PURCHASE = "consultation_purchase"

    # A replay watched (server/http/replay.py): ``seconds`` (float) since the last report,
    # ``session`` (the recorded session), ``report`` (the page's report number).
    REPLAY_WATCH = "replay_watch"


# Kind by name, for decoding (a dict lookup, not the enum's slower call).
_KINDS: Final[dict[str, EventKind]] = {kind.value: kind for kind in EventKind}


class EventDecodeError(ValueError):
    """Bytes that are not a version-1 event; the message says what was wrong."""


@dataclass(frozen=True, slots=True)
class Event:
    """One thing a member did. ``data`` holds the kind-specific fields.

    Examples of ``data``: leave → ``{"watch_seconds": float}``.
    """

    id: str
    v: int
    kind: EventKind
    room_id: str
    member_id: MemberId
    ts_ms: int
    # A dict cannot be hashed: events hash by their other fields (the id is unique anyway).
    data: dict[str, Any] = field(default_factory=dict, hash=False)


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds (the unit of ``Event.ts_ms``)."""
    return time.time_ns() // 1_000_000


def new_event(kind: EventKind | str, room_id: str, member_id: MemberId, /, **data: Any) -> Event:
    """Create an event stamped now with a fresh id; keyword arguments become ``data``.

    The first three are positional-only, so ``data`` may itself hold a ``room_id`` key.

    Raises ``ValueError`` for an unknown kind or an id that ``decode`` would refuse, so
    that an event which could not be read back is never recorded.
    """
    if not is_valid_id(member_id):
        raise ValueError(f"member_id {member_id!r} is not a valid id")
    if room_id and not is_valid_id(room_id):
        raise ValueError(f"room_id {room_id!r} is not a valid id")
    return Event(
        id=uuid.uuid4().hex,
        v=SCHEMA_VERSION,
        kind=EventKind(kind),
        room_id=room_id,
        member_id=member_id,
        ts_ms=now_ms(),
        data=dict(data),
    )


def encode(event: Event) -> bytes:
    """The msgpack bytes of ``event``. Raises (``TypeError``, ``OverflowError``…) if
    ``data`` holds a value msgpack cannot carry, such as a datetime or a 2**70."""
    payload = {
        "v": event.v,
        "id": event.id,
        "kind": event.kind.value,
        "room_id": event.room_id,
        "member_id": event.member_id,
        "ts_ms": event.ts_ms,
        "data": event.data,
    }
    packed: bytes = msgpack.packb(payload, use_bin_type=True)
    return packed


def _field(obj: dict[Any, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in obj:
        raise EventDecodeError(f"event has no {name!r} field")
    value = obj[name]
    # bool is an int subclass: True is not a version or a timestamp.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise EventDecodeError(f"event field {name!r} has type {type(value).__name__}")
    return value


# ``is_valid_id`` for ids that repeat from event to event (rooms, members, sessions):
# each is checked once (a bounded cache).
valid_id: Final = functools.lru_cache(maxsize=65_536)(is_valid_id)


def _well_formed(obj: dict[Any, Any]) -> Event | None:
    """The event when every field is there with its type (the common case, checked in one
    go: the scorer decodes every entry); None sends ``decode`` to the field-by-field
    checks that say what is wrong. ``type(x) is int`` leaves bools out, as ``_field`` does."""
    try:
        version, event_id, kind_name = obj["v"], obj["id"], obj["kind"]
        room_id, member_id, ts_ms, data = (
            obj["room_id"],
            obj["member_id"],
            obj["ts_ms"],
            obj["data"],
        )
    except KeyError:
        return None
    if (
        type(version) is not int
        or version != SCHEMA_VERSION
        or type(event_id) is not str
        or not event_id
        or type(kind_name) is not str
        or type(room_id) is not str
        or type(member_id) is not str
        or type(ts_ms) is not int
        or type(data) is not dict
    ):
        return None
    kind = _KINDS.get(kind_name)
    if kind is None or (room_id and not valid_id(room_id)) or not valid_id(member_id):
        return None
    for key in data:  # a loop: ``all()`` over a generator cost twice as much here
        if type(key) is not str:
            return None
    return Event(event_id, version, kind, room_id, MemberId(member_id), ts_ms, data)


def decode(raw: bytes) -> Event:
    """Parse stream bytes into an ``Event`` or raise ``EventDecodeError`` saying why."""
    try:
        obj = msgpack.unpackb(raw, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise EventDecodeError(f"not msgpack: {type(exc).__name__}: {exc}") from None
    if not isinstance(obj, dict):
        raise EventDecodeError(f"event is a {type(obj).__name__}, not a map")
    event = _well_formed(obj)
    if event is not None:
        return event
    version = _field(obj, "v", int)
    if version != SCHEMA_VERSION:
        raise EventDecodeError(f"unsupported event schema version {version}")
    event_id = _field(obj, "id", str)
    if not event_id:
        raise EventDecodeError("event id is empty")
    kind_name = _field(obj, "kind", str)
    kind = _KINDS.get(kind_name)
    if kind is None:
        raise EventDecodeError(f"unknown event kind {kind_name!r}")
    room_id = _field(obj, "room_id", str)
    if room_id and not valid_id(room_id):
        raise EventDecodeError(f"room_id {room_id!r} is not a valid id")
    member_id = _field(obj, "member_id", str)
    if not valid_id(member_id):
        raise EventDecodeError(f"member_id {member_id!r} is not a valid id")
    ts_ms = _field(obj, "ts_ms", int)
    data = _field(obj, "data", dict)
    if not all(isinstance(key, str) for key in data):
        raise EventDecodeError("event data keys must be strings")
    return Event(
        id=event_id,
        v=version,
        kind=kind,
        room_id=room_id,
        member_id=MemberId(member_id),
        ts_ms=ts_ms,
        data=data,
    )


def number(data: dict[str, Any], key: str) -> float | None:
    """``data[key]`` as a finite float, or None if it is missing or not a real number."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


# --- kind-specific data ----------------------------------------------------------------

# The member actions that earn points, by kind; an event without ``action`` is the first.
# Other actions (a host pinning a question, a vote changed, a chat line deleted) are
# recorded for the session timeline but earn nothing.
SCORED_ACTIONS: Final[dict[EventKind, tuple[str, ...]]] = {
    EventKind.CHAT: ("send",),
    EventKind.QUESTION: ("ask",),
    EventKind.UPVOTE: ("add",),
    EventKind.POLL_VOTE: ("vote",),
    EventKind.HAND_RAISE: ("raise",),
    EventKind.PRODUCT_CLICK: ("click",),
}
# Roles whose events are staff work, not member engagement.
STAFF_ROLES: Final = frozenset({"host", "cohost"})
EXTERNAL_ACTIONS: Final = ("group_joined", "account_added", "hook_click")

MAX_ORDER_ID: Final = 128
MAX_AMOUNT: Final = Decimal("1000000000")
_ORDER_ID = re.compile(rf"^[\x21-\x7e]{{1,{MAX_ORDER_ID}}}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_AMOUNT = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,2})?$")


def action_of(event: Event) -> str:
    """The event's ``action``, or its kind's main action when it has none."""
    action = event.data.get("action")
    if isinstance(action, str):
        return action
    scored = SCORED_ACTIONS.get(event.kind)
    return scored[0] if scored else ""


def is_member_action(event: Event) -> bool:
    """True unless the event is staff work (a host's or co-host's) or something done to
    the member by someone else (``by``: a host's stage invitation, mute or removal)."""
    if event.data.get("role") in STAFF_ROLES:
        return False
    by = event.data.get("by")
    return by is None or by == event.member_id


def is_scored_action(event: Event) -> bool:
    """True if the event is something a member did that may earn points."""
    if not is_member_action(event):
        return False
    scored = SCORED_ACTIONS.get(event.kind)
    return scored is None or action_of(event) in scored


class PurchaseError(ValueError):
    """Purchase data that breaks the contract; the message names the field."""


@dataclass(frozen=True, slots=True)
class Purchase:
    order_id: str
    # The amount in hundredths of the currency's major unit (cents for EUR or USD).
    amount_minor: int
    currency: str

    @property
    def amount(self) -> Decimal:
        return Decimal(self.amount_minor) / 100


def _amount_minor(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise PurchaseError(
            f'amount must be a decimal string such as "129.90" (got {type(value).__name__})'
        )
    text = str(value)
    if isinstance(value, Decimal):
        try:
            text = f"{value:f}"
        except (ValueError, InvalidOperation):  # pragma: no cover - Decimal formats itself
            text = "?"
    if not _AMOUNT.fullmatch(text):
        raise PurchaseError(
            f"amount {text[:24]!r} must be a positive decimal with at most two decimals"
        )
    amount = Decimal(text)
    if not 0 < amount <= MAX_AMOUNT:
        raise PurchaseError(f"amount {text!r} must be above 0 and at most {MAX_AMOUNT}")
    return int(amount * 100)


def purchase_data(order_id: Any, amount: Any, currency: Any, **extra: Any) -> dict[str, Any]:
    """The ``data`` of a purchase event, checked; raises ``PurchaseError`` naming the field.

    ``amount`` may be a decimal string, an ``int`` or a ``Decimal`` (never a float: binary
    fractions cannot say 0.10). Extra keyword arguments (``product_id``, ``session``) are
    kept as they are.
    """
    if not isinstance(order_id, str) or not _ORDER_ID.fullmatch(order_id):
        raise PurchaseError(
            f"order_id must be 1-{MAX_ORDER_ID} printable characters without spaces"
        )
    minor = _amount_minor(amount)
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise PurchaseError(f"currency {str(currency)[:8]!r} must be an ISO 4217 code like EUR")
    return {
        **extra,
        "order_id": order_id,
        "amount": f"{Decimal(minor) / 100:.2f}",
        "currency": currency,
    }


def parse_purchase(data: dict[str, Any]) -> Purchase:
    """Read a purchase event's data; raises ``PurchaseError`` when it breaks the contract."""
    checked = purchase_data(data.get("order_id"), data.get("amount"), data.get("currency"))
    return Purchase(
        order_id=checked["order_id"],
        amount_minor=_amount_minor(checked["amount"]),
        currency=checked["currency"],
    )
