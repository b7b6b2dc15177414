"""The server's one catalog of error sentences, rendered at the edges (socket, REST, CLI).

Every refusal is a ``RoomError`` (``server/rooms/errors.py``; rewards' ``RewardError``
is one) with a stable ``code`` and ``params``. ``render(code, params)`` picks the
sentence for ``code`` (or ``code.case`` when the error names a ``case``) and fills it
in: parameters that are codes (an action, a role, a kind of item) read through the
``TERMS`` tables, lists read "a, b and c". Unknown parameters are ignored; a missing
one renders as ``?``; an unknown code gets a generic sentence, never the bare code.

This catalog is English (the socket's ``message`` for old clients, logs, REST, the CLI);
the pages render the same codes from their own catalogs (web/i18n/*.json), in the
reader's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.rooms.errors import RoomError

GENERIC = "That was refused."

SENTENCES: dict[str, str] = {
    # --- entry ---------------------------------------------------------------------------
    "token_invalid": "This link is not valid. Ask the host for a new link.",
    "token_invalid.signature": (
        "This link is not valid: its signature does not match. Ask the host for a new link."
    ),
    "token_invalid.missing_claim": (
        "This link is not valid: it lacks the '{claim}' claim. Ask the host for a new link."
    ),
    "token_invalid.malformed": (
        "This link is not valid: it is malformed. Ask the host for a new link."
    ),
    "token_invalid.no_subject": (
        "This link is not valid: it names no valid member or room. Ask the host for a new link."
    ),
    "token_invalid.bad_role": (
        "This link is not valid: it names no valid role. Ask the host for a new link."
    ),
    "token_expired": "This link has expired. Ask the host for a new link.",
    "wrong_room": "This link was made for room '{token_room}', not for room '{room}'.",
    "room_not_found": "There is no room called '{room}'.",
    "unknown_member": (
        "We could not find a membership for '{member}'. Membership is needed to enter."
    ),
    "tier_too_low": "'{room_title}' is open to {allowed} members; your membership tier is {tier}.",
    "tier_too_low.invite_only": (
        "'{room_title}' is open to invited guests only; your membership tier is {tier}."
    ),
    "room_full": "'{room_title}' is full ({capacity} of {capacity} places taken).",
    "private_room": "'{room_title}' is a private consultation: only its two people may enter.",
    "unavailable": (
        "We cannot check your membership right now, so the room stays closed. "
        "Please try again in a moment."
    ),
    "replaced": "You joined this room from another window, so this one was closed.",
    "room_moved": "The room moved to another server: reconnecting.",
    "banned": (
        "You have been banned from '{room_title}', so you cannot rejoin it, even with a "
        "new link, until the ban is lifted."
    ),
    "removed": "{by} removed you from the room.",
    "removed.banned": "{by} removed you from the room and banned you: you cannot rejoin it.",
    "removed.this_session": (
        "You were removed from '{room_title}' and cannot rejoin it until this session ends."
    ),
    # --- roles and media -------------------------------------------------------------------
    "forbidden": "A {role} cannot {action}.",
    "forbidden.on_host": "A {role} cannot {action} the host.",
    "forbidden.in_this_room": "A {role} cannot {action} in this room.",
    "media_failed": "The media connection could not be set up.",
    "media_failed.bad_candidate": (
        "The media connection could not be set up: the ICE candidate is malformed."
    ),
    "media_failed.candidate_port": (
        "The media connection could not be set up: the ICE candidate names no valid port "
        "or component."
    ),
    "media_failed.candidate_address": (
        "The media connection could not be set up: the ICE candidate names no valid address."
    ),
    "media_failed.no_media": (
        "The media connection could not be set up: the offer has no audio or video section."
    ),
    "media_failed.negotiation": "The media connection could not be set up: {detail}.",
    # --- interactions --------------------------------------------------------------------
    "rate_limited": (
        "Slow down: the {limit} limit allows {burst} at once, then {rate}. "
        "Try again in {retry_after} s."
    ),
    "too_long": "That {what} is too long: at most {limit} characters.",
    "not_found": "There is no {what} '{id}' in this room (any more).",
    "not_found.participant": "There is nobody with id '{id}' in this room (any more).",
    "not_found.replay": (
        "There is no replay of session '{id}' (a replay appears when its session ends)."
    ),
    "already_voted": "You have already upvoted this {what}.",
    "not_voted": "You have not upvoted this {what}, so there is nothing to take back.",
    "own_item": "You cannot {action} your own question.",
    "limit_reached": "This room has reached its limit of {limit} {what}.",
    "invalid_field": "That request was not valid.",
    "invalid_field.option": "Option {option} does not exist: this poll has options 0 to {last}.",
    "invalid_field.replay_seconds": "'seconds' must be a number above 0 and at most {limit}.",
    "invalid_field.replay_report": "'report' must be an id: 1-64 letters, digits, '.', '_' or '-'.",
    "invalid_field.recording_toggle": "'on' must be true or false.",
    "invalid_state": "That cannot be done right now.",
    "invalid_state.no_product_card": "No product card is shown: there is nothing to unpin.",
    "invalid_state.poll_open": "The poll '{poll}' is still open: close it first.",
    "invalid_state.poll_not_open": "The poll '{poll}' is {state}: it cannot be {done}.",
    "invalid_state.question_not_pinned": "The question '{question}' is not pinned.",
    "invalid_state.session_closed": "This room's session has ended.",
    "invalid_state.question_not_open": "The question '{question}' is {state}: it cannot be {done}.",
    # --- stage ----------------------------------------------------------------------------
    "stage_full": "The stage is full ({cap} of {cap} speakers). Someone must leave first.",
    "invalid_state.no_invitation": "You have no invitation to the stage to answer.",
    "invalid_state.already_on_stage": "{name} is already on the stage.",
    "invalid_state.nothing_to_dismiss": "{name} has no raised hand or invitation to dismiss.",
    "invalid_state.not_on_stage": "{name} is not on the stage.",
    "invalid_state.not_muted": "{name} is not a muted speaker.",
    "invalid_state.cohost_taken": (
        "There is a co-host already: move them off the stage to appoint another."
    ),
    "invalid_state.cannot_cohost": "{name} cannot become co-host.",
    "invalid_state.remove_self": "You cannot remove yourself: leave the room instead.",
    # --- rewards ----------------------------------------------------------------------------
    "not_eligible": "This offer is for {tiers} members; your membership tier is {tier}.",
    "staff": "Hosts and co-hosts run rewards; they cannot {action} themselves.",
    "expired": "This coupon has expired.",
    "sold_out": "All of these coupons have been claimed.",
    "claim_limit": "You have already claimed this coupon ({limit} per member).",
    "no_drop": "That offer is no longer available in this room.",
    "no_coupon": "There is no coupon '{coupon}'.",
    "no_code": "That coupon code does not exist.",
    "not_your_code": "That coupon code belongs to another member.",
    "already_redeemed": "That coupon code was already used (order {order}).",
    "code_expired": "That coupon code has expired.",
    "drop_running": "An offer is already running in this room: end it first.",
    "quiz_running": "A quiz is already running in this room: wait for its results.",
    "no_quiz": "There is no open quiz '{quiz}' in this room.",
    "quiz_closed": "Time is up: this quiz takes no more answers.",
    "already_answered": "You have already answered this quiz.",
    "bad_option": "Pick one of the {count} answers.",
    "already_checked_in": "You have already checked in today (streak: {streak} days).",
    "not_enough_points": "This reward costs {cost} points; your balance is {balance}.",
    "no_reward": "There is no reward '{reward}'.",
    "nobody_eligible": "Nobody meets the draw's condition ({condition}) yet.",
    "invalid": "'{field}' {rule}.",
    "unavailable.rewards": "Rewards cannot be reached right now: please try again in a moment.",
}

# Parameters that are codes, and the words they read as. A value with no entry is shown
# as it is (a tier name, a rate limit's name, a state).
TERMS: dict[str, dict[str, str]] = {
    "role": {"host": "host", "cohost": "co-host", "speaker": "speaker", "member": "member"},
    "action": {
        # stage (server.rooms.stage.Action)
        "raise_hand": "raise a hand",
        "lower_hand": "lower a hand",
        "reply": "answer a stage invitation",
        "leave_stage": "leave the stage",
        "invite": "invite someone to the stage",
        "dismiss": "dismiss a raised hand",
        "move_off": "move someone off the stage",
        "mute_other": "mute someone else",
        "mute_self": "mute a microphone",
        "unmute_self": "unmute a microphone",
        "unmute_other": "unmute someone else; ask them to unmute instead",
        "ask_unmute": "ask someone to unmute",
        "make_cohost": "appoint a co-host",
        "remove": "remove someone from the room",
        "ban": "ban someone from the room",
        "publish_audio": "publish a microphone",
        "publish_video": "publish a camera",
        # rewards (server.rooms.rewards.Action)
        "drop_coupon": "drop a coupon",
        "end_drop": "end an offer",
        "claim_coupon": "claim a coupon",
        "run_draw": "run a lucky draw",
        "ask_quiz": "ask a quiz",
        "answer_quiz": "answer a quiz",
        "check_in": "check in",
        "redeem_points": "redeem points",
        # interactions and people
        "delete_chat": "delete chat messages",
        "answer_question": "mark questions answered",
        "pin_question": "pin questions",
        "unpin_question": "unpin questions",
        "dismiss_question": "dismiss questions",
        "create_poll": "create polls",
        "close_poll": "close polls",
        "pin_product": "pin products",
        "unpin_product": "unpin products",
        "search_people": "search the people list",
        "upvote": "upvote",
    },
    # What cannot be done to an item in its state (``invalid_state``: "it cannot be …").
    "done": {
        "vote": "voted on",
        "close": "closed",
        "answer": "answered",
        "pin": "pinned",
        "dismiss": "dismissed",
    },
    "what": {
        "chat_message": "chat message",
        "message": "message",
        "question": "question",
        "questions": "questions",
        "poll": "poll",
        "pinned_product": "pinned product",
        "participant": "participant",
    },
}
# Actions done to someone, with the host in place of "someone" (``forbidden.on_host``).
ON_HOST: dict[str, str] = {
    "invite": "invite",
    "dismiss": "dismiss the raised hand of",
    "move_off": "move off the stage",
    "mute_other": "mute",
    "ask_unmute": "ask to unmute",
    "make_cohost": "appoint as co-host",
    "remove": "remove from the room",
    "ban": "ban from the room",
}


class _Defaulting(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _shown(name: str, value: Any, case: str | None) -> Any:
    if isinstance(value, list | tuple):
        words = [str(v) for v in value]
        if not words:
            return "invited"
        return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    if name == "rate" and isinstance(value, int | float) and value > 0:
        return f"{value:g} per second" if value >= 1 else f"1 every {1 / value:g} seconds"
    if isinstance(value, float):
        return f"{value:g}"
    if name == "action" and case == "on_host" and value in ON_HOST:
        return ON_HOST[value]
    terms = TERMS.get(name)
    if terms is not None and isinstance(value, str):
        return terms.get(value, value)
    return value


def template(code: str, params: Mapping[str, Any]) -> str:
    """The sentence for ``code`` (refined by ``params["case"]``), or the generic one."""
    case = params.get("case")
    if isinstance(case, str) and f"{code}.{case}" in SENTENCES:
        return SENTENCES[f"{code}.{case}"]
    return SENTENCES.get(code, GENERIC)


def render(code: str, params: Mapping[str, Any]) -> str:
    case = params.get("case")
    case = case if isinstance(case, str) else None
    shown = _Defaulting({k: _shown(k, v, case) for k, v in params.items()})
    return template(code, params).format_map(shown)


def sentence(error: RoomError) -> str:
    return render(error.code, error.params)
