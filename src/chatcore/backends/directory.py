"""The user directory hook: from a user id to the :class:`~chatcore.wire.values.User` to show."""

from __future__ import annotations

from typing import Protocol

from ..wire.values import User

__all__ = ("Directory", "MemoryDirectory")


class Directory(Protocol):
    """Resolves user ids, including users who are offline.

    Applications implement it over their user table (the Django adapter does, over the site's
    user model). :meth:`remember` is told of every user that connects or changes.
    """

    async def get_user(self, user_id: str) -> User | None: ...

    def remember(self, user: User) -> None: ...


class MemoryDirectory:
    """Knows the users it is given and every user that has connected."""

    def __init__(self, users: tuple[User, ...] | list[User] = ()) -> None:
        self._users = {user.id: user for user in users}

    async def get_user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def remember(self, user: User) -> None:
        self._users[user.id] = user
