"""Sockets follow their login: each open socket is checked again, at an interval and at once
on the account signals of this process, and ended with 4401 when its login is over.

A socket's login is over when its user is gone or inactive, when its session is missing (deleted,
flushed at logout, expired), or when the session's auth hash no longer matches the user's password
(a password changed anywhere, a management command in another process included). The check of
one event loop's sockets is one batch: one query for their users and one for their sessions
(database sessions; other session engines load each session), however many sockets are open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable, Iterator
from importlib import import_module
from typing import Any, TypeVar

import attrs
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from chatcore import CloseCode, Connection

from .users import _pk

__all__ = ("Login", "Logins", "end_session", "expired_logins", "logins")

log = logging.getLogger("chatcore.django")

_T = TypeVar("_T")
_BATCH = 500  # ids per ``IN (...)`` query (SQLite allows 999 parameters)


@attrs.frozen
class Login:
    """What a socket was let in with: a user's primary key (as a string) and a session key."""

    user_id: str
    session_key: str | None


class Logins:
    """One event loop's open sockets and their logins."""

    def __init__(self) -> None:
        self.sockets: dict[Connection, Login] = {}

    def add(self, connection: Connection, login: Login) -> None:
        self.sockets[connection] = login

    def discard(self, connection: Connection) -> None:
        self.sockets.pop(connection, None)

    async def check(self) -> None:
        """End every socket whose login is over (one batch of queries, in a thread)."""
        if not self.sockets:
            return
        over = await database_sync_to_async(expired_logins)(set(self.sockets.values()))
        for connection, login in list(self.sockets.items()):
            if login in over:
                self._end(connection)

    async def watch(self, interval: float | None) -> None:
        """Check every ``interval`` seconds, until cancelled (``None``: never)."""
        if interval is None:
            await asyncio.Event().wait()
            return
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check()
            except Exception:  # the database is away: the next round tries again
                log.exception("could not check the logins of open sockets")

    def end_session(self, session_key: str) -> None:
        """End the sockets of a session that is gone (runs in the loop's thread)."""
        for connection, login in list(self.sockets.items()):
            if login.session_key == session_key:
                self._end(connection)

    def _end(self, connection: Connection) -> None:
        self.discard(connection)
        connection.end(CloseCode.UNAUTHORIZED)


_by_loop: dict[asyncio.AbstractEventLoop, Logins] = {}


def logins() -> Logins:
    """The running event loop's :class:`Logins`."""
    loop = asyncio.get_running_loop()
    found = _by_loop.get(loop)
    if found is None:
        for old in [old for old in _by_loop if old.is_closed()]:
            del _by_loop[old]
        found = _by_loop[loop] = Logins()
    return found


def end_session(session_key: str) -> None:
    """End this process's sockets of a deleted session, from any thread."""
    for loop, registry in list(_by_loop.items()):
        if not loop.is_closed():
            loop.call_soon_threadsafe(registry.end_session, session_key)


def _chunks(items: Collection[_T]) -> Iterator[list[_T]]:
    ordered = list(items)
    for start in range(0, len(ordered), _BATCH):
        yield ordered[start : start + _BATCH]


def _sessions(keys: Collection[str]) -> dict[str, dict[str, Any]]:
    """The data of the sessions among ``keys`` that still exist and have not expired."""
    from django.contrib.sessions.backends.db import SessionStore as DatabaseStore

    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    found: dict[str, dict[str, Any]] = {}
    if issubclass(store_class, DatabaseStore):  # db and cached_db: one query per batch
        model, decoder = store_class.get_model_class(), store_class()
        now = timezone.now()
        for chunk in _chunks(keys):
            for row in model.objects.filter(session_key__in=chunk, expire_date__gt=now):
                found[row.session_key] = decoder.decode(row.session_data)
        return found
    for key in keys:  # cache, file, signed cookies: each engine loads its own way
        data = store_class(session_key=key).load()
        if data:
            found[key] = data
    return found


def _hash_matches(user: Any, session_hash: Any) -> bool:
    """Whether the session was made with the user's current password (as Django checks it)."""
    if not hasattr(user, "get_session_auth_hash"):
        return True
    if not isinstance(session_hash, str) or not session_hash:
        return False
    return constant_time_compare(session_hash, user.get_session_auth_hash()) or any(
        constant_time_compare(session_hash, fallback)
        for fallback in user.get_session_auth_fallback_hash()
    )


def expired_logins(current: Iterable[Login]) -> set[Login]:
    """The logins among ``current`` that are over (sync: two queries per 500 logins)."""
    current = set(current)
    pks = {pk for pk in (_pk(login.user_id) for login in current) if pk is not None}
    users: dict[str, Any] = {}
    manager = get_user_model()._default_manager
    for chunk in _chunks(pks):
        users.update((str(user.pk), user) for user in manager.filter(pk__in=chunk))
    keys = {login.session_key for login in current if login.session_key}
    sessions = _sessions(keys)
    over = set()
    for login in current:
        user = users.get(login.user_id)
        if user is None or not getattr(user, "is_active", True):
            over.add(login)
        elif login.session_key is not None:  # let in by its session: it must still hold
            session = sessions.get(login.session_key)
            if (
                session is None
                or str(session.get(SESSION_KEY)) != login.user_id
                or session.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS
                or not _hash_matches(user, session.get(HASH_SESSION_KEY))
            ):
                over.add(login)
    return over
