"""A policy for Django sites: the site's staff (``is_staff``) moderate every room.

Set ``CHATCORE = {"POLICY": "chatcore_django.policy.StaffPolicy", ...}``; subclass it to decide
more (it is a :class:`chatcore.Policy`).
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from chatcore import Policy, Room, User

from .users import _pk

__all__ = ("StaffPolicy",)


def _is_staff(user_id: str) -> bool:
    pk = _pk(user_id)
    if pk is None:
        return False
    model = get_user_model()
    return bool(model._default_manager.filter(pk=pk, is_active=True, is_staff=True).exists())


class StaffPolicy(Policy):
    """The default policy, and ``is_staff`` users moderate every room (as its owner does, but
    for acting on the owner; docs/protocol.md, "Moderation")."""

    async def can_moderate(self, user: User, room: Room) -> bool:
        if await super().can_moderate(user, room):
            return True
        staff: bool = await database_sync_to_async(_is_staff)(user.id)
        return staff
