"""A room's chat: who said what, the recent history late joiners get, and deletion.

Pure and synchronous: the caller passes the time. Messages are kept as plain text; the
server never escapes or interprets them (pages put them on screen with ``textContent``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from server.ids import MemberId, ParticipantId
from server.rooms.errors import ItemNotFound, TextTooLong
from server.rooms.model import Participant

# Messages kept for moderation lookups (deleting one that scrolled out of the history).
RETAIN_MIN = 1000


@dataclass(frozen=True, slots=True)
class Author:
    """Who did something in a room, as others see them."""

    participant_id: ParticipantId
    member_id: MemberId
    name: str
    role: str

    @classmethod
    def of(cls, participant: Participant) -> Author:
        return cls(
            participant.participant_id,
            participant.member_id,
            participant.name,
            participant.role.value,
        )

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.participant_id,
            "member_id": self.member_id,
            "name": self.name,
            "role": self.role,
        }


@dataclass(frozen=True, slots=True)
class ChatMessage:
    message_id: str
    author: Author
    text: str
    ts_ms: int

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.message_id,
            "author": self.author.to_json(),
            "text": self.text,
            "ts": self.ts_ms,
        }


def clean_text(text: str, what: str, limit: int) -> str:
    """``text`` with surrounding white space trimmed, or ``TextTooLong`` past ``limit``."""
    clean = text.strip()
    if len(clean) > limit:
        raise TextTooLong(what, limit)
    return clean


class ChatLog:
    """The chat of one live room: post, delete, and the last ``history`` messages."""

    def __init__(self, history: int = 100, max_length: int = 500) -> None:
        self.history_size = history
        self.max_length = max_length
        self._retain = max(history, RETAIN_MIN)
        self._messages: OrderedDict[str, ChatMessage] = OrderedDict()
        self._seq = 0

    def post(self, author: Author, text: str, now_ms: int) -> ChatMessage:
        """Add a message (surrounding white space trimmed) or raise ``TextTooLong``."""
        clean = clean_text(text, "message", self.max_length)
        self._seq += 1
        message = ChatMessage(f"c{self._seq}", author, clean, now_ms)
        self._messages[message.message_id] = message
        while len(self._messages) > self._retain:
            self._messages.popitem(last=False)
        return message

    def delete(self, message_id: str) -> ChatMessage:
        """Remove a message for everyone, or raise ``ItemNotFound``."""
        message = self._messages.pop(message_id, None)
        if message is None:
            raise ItemNotFound("chat_message", message_id)
        return message

    def history(self) -> list[ChatMessage]:
        """The last ``history`` messages, oldest first."""
        messages = list(self._messages.values())
        return messages[-self.history_size :]
