"""Django users as chat users: the user hook, and a directory over the site's user model."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from chatcore import User

from .conf import chat_settings

__all__ = ("DjangoDirectory", "chat_user", "chat_users", "default_chat_user")


def default_chat_user(user: Any) -> User:
    """The default hook: ``id`` is the primary key, ``name`` the full name or the username."""
    name = (user.get_full_name() or "").strip() or user.get_username()
    return User(id=str(user.pk), name=name, avatar=None)


def chat_user(user: Any) -> User:
    """The :class:`chatcore.User` of a Django user, through ``CHATCORE['USER']`` (sync, may query)."""
    return chat_settings().user_hook(user)


def _pk(user_id: str) -> Any:
    """``user_id`` as a primary key of the user model, or None if it cannot be one."""
    try:
        return get_user_model()._meta.pk.to_python(user_id)
    except (ValidationError, ValueError, TypeError):
        return None


def chat_users(user_ids: list[str]) -> dict[str, User]:
    """The active users among ``user_ids`` (sync, queries the database)."""
    pks = [pk for pk in (_pk(user_id) for user_id in user_ids) if pk is not None]
    if not pks:
        return {}
    hook = chat_settings().user_hook
    users = get_user_model().objects.filter(pk__in=pks, is_active=True)
    return {str(user.pk): hook(user) for user in users}


class DjangoDirectory:
    """A :class:`chatcore.Directory` over the site's user model, offline users included."""

    async def get_user(self, user_id: str) -> User | None:
        found: dict[str, User] = await database_sync_to_async(chat_users)([user_id])
        return found.get(user_id)

    def remember(self, user: User) -> None:
        """Nothing to keep: the database is the directory."""
