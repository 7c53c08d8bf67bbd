"""The values of moderation: roles and ranks, bans and mutes, the audit log's entries.

A user's *rank* in a room decides what they may do to whom (docs/protocol.md, "Moderation"):
the owner and site staff outrank moderators, who outrank members. A rank acts only on lower
ranks, and nobody acts on the owner.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

import attrs

from .errors import InvalidField
from .values import check_text

__all__ = (
    "ACTIONS",
    "MAX_REASON",
    "ROLES",
    "Action",
    "AuditEntry",
    "AuditPage",
    "Rank",
    "Sanction",
    "SanctionKind",
    "Standing",
    "check_reason",
    "check_until",
)

#: Longest ``reason`` of a kick, ban or mute, in characters.
MAX_REASON = 500

#: What the audit log and the ``moderation`` event name.
Action = Literal["kick", "ban", "unban", "mute", "unmute", "set_role", "invite"]
ACTIONS: tuple[Action, ...] = ("kick", "ban", "unban", "mute", "unmute", "set_role", "invite")

#: The roles ``set_role`` gives.
ROLES = ("moderator", "member")

#: The two stored sanctions.
SanctionKind = Literal["ban", "mute"]


class Rank(enum.IntEnum):
    """Where a user stands in a room; a higher rank acts on lower ones."""

    MEMBER = 0
    MODERATOR = 1
    STAFF = 2  # the policy's ``can_moderate``: moderates every room
    OWNER = 3

    @property
    def role(self) -> str:
        """The wire's ``role``: ``owner``, ``staff``, ``moderator`` or ``member``."""
        return self.name.lower()

    def acts_on(self, other: Rank) -> bool:
        """Whether this rank may kick, ban or mute a user of rank ``other``."""
        return self >= Rank.MODERATOR and other < self and other is not Rank.OWNER


def check_reason(value: object, field: str = "reason") -> str:
    """Return the trimmed reason: 1-500 characters, one line or more, visible."""
    return check_text(value, MAX_REASON, field)


def check_until(value: int | None, now: int) -> int | None:
    """``until`` must be in the future (None: for ever)."""
    if value is not None and value <= now:
        raise InvalidField("'until' must be in the future (ms since the epoch)", field="until")
    return value


@attrs.frozen(kw_only=True)
class Sanction:
    """A ban or a mute: by whom, when, until when (None: for ever), and why."""

    by: str
    at: int
    until: int | None = None
    reason: str | None = None

    def active(self, now: int) -> bool:
        return self.until is None or now < self.until


@attrs.frozen(kw_only=True)
class Standing:
    """A user's standing in one room, as the store keeps it."""

    moderator: bool = False
    ban: Sanction | None = None
    mute: Sanction | None = None


@attrs.frozen(kw_only=True)
class AuditEntry:
    """One moderation action; ``id`` grows by one per entry in the store."""

    id: int
    room: str
    action: Action
    user: str
    by: str
    ts: int
    until: int | None = None
    reason: str | None = None
    role: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.id,
            "room": self.room,
            "action": self.action,
            "user": self.user,
            "by": self.by,
            "ts": self.ts,
        }
        if self.until is not None:
            wire["until"] = self.until
        if self.reason is not None:
            wire["reason"] = self.reason
        if self.role is not None:
            wire["role"] = self.role
        return wire


@attrs.frozen
class AuditPage:
    """Entries newest first, and whether older ones exist."""

    entries: tuple[AuditEntry, ...]
    more: bool
