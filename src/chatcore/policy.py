"""Permissions: who may create, join, write to, manage and moderate rooms, and message whom.

Subclass :class:`Policy` and override what your site decides otherwise. Whatever the policy
says, a direct room stays visible to its two users only.
"""

from __future__ import annotations

from .wire.values import Room, User

__all__ = ("Policy",)


class Policy:
    """The default: everyone may do everything, and only a room's owner manages it."""

    async def can_create(self, user: User, name: str) -> bool:
        return True

    async def can_join(self, user: User, room: Room) -> bool:
        """Join a room, list its members and read its history."""
        return True

    async def can_send(self, user: User, room: Room) -> bool:
        return True

    async def can_manage(self, user: User, room: Room) -> bool:
        """Rename or delete the room."""
        return room.owner is not None and room.owner == user.id

    async def can_moderate(self, user: User, room: Room) -> bool:
        """Moderate the room as site staff: delete other people's messages (authors may always
        delete their own; the room's moderators may too), kick, ban, mute, invite and appoint
        moderators (docs/protocol.md, "Moderation"). The default: the room's owner (who may do
        all of it anyway, but for deleting messages)."""
        return room.owner is not None and room.owner == user.id

    async def can_message(self, sender: User, recipient: User) -> bool:
        """Send private messages to ``recipient`` and open a direct room with them."""
        return True
