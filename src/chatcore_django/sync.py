"""Synchronous helpers for views, signal handlers, tasks and management commands.

Each call runs on the chat server of the calling thread's event loop when there is one (a sync
view under an ASGI server), so connected clients see the result at once. Elsewhere (a management
command, a Celery task, cron) it goes through an emitter (:mod:`chatcore.emitter`): a server of
the same settings that is never started, so it holds no socket, subscribes to nothing and keeps
no presence; the message takes the room's next id in the database and reaches the sockets of
every server process through the shared broker (Redis or PostgreSQL), in id order. Do not call these from async code; ``await`` the server's
methods there (``server = await chatcore_django.get_server()``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import import_module
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from django.conf import settings

from chatcore import ChatServer, CloseCode, Message, Room, User
from chatcore.emitter import close_backends
from chatcore.wire.values import check_title

from .runtime import build_server, running_server
from .users import chat_user

__all__ = (
    "ban",
    "create_room",
    "delete_message",
    "delete_room",
    "direct_room",
    "disconnect_user",
    "edit_message",
    "invite",
    "kick",
    "login_session",
    "mute",
    "post",
    "post_direct",
    "set_private",
    "set_role",
    "unban",
    "unmute",
    "update_room",
    "update_user",
)

_T = TypeVar("_T")


def _run(action: Callable[[ChatServer], Awaitable[_T]]) -> _T:
    async def main() -> _T:
        server = running_server()
        if server is not None:
            return await action(server)
        emitter = build_server()  # never started: no presence, no subscription
        try:
            return await action(emitter)
        finally:
            await close_backends(emitter)

    return async_to_sync(main)()


def _as_chat_user(user: Any) -> User:
    return user if isinstance(user, User) else chat_user(user)


def post(room: str, text: str, sender: Any) -> Message:
    """Post ``text`` into ``room`` as ``sender`` (a Django user or a :class:`chatcore.User`)."""
    member = _as_chat_user(sender)

    async def action(server: ChatServer) -> Message:
        return (await server.post(room, text, sender=member)).message

    return _run(action)


def edit_message(room: str, message_id: int, text: str) -> Message:
    """Change a message's text (a moderator's correction, say); the room's connections get
    ``message_changed``. Raises :class:`chatcore.NoSuchMessage` or
    :class:`chatcore.InvalidField`."""

    async def action(server: ChatServer) -> Message:
        return await server.edit_message(room, message_id, text)

    return _run(action)


def delete_message(room: str, message_id: int) -> Message:
    """Delete a message as the chat does: it keeps its id and place, loses its text, meta and
    reactions, and the room's connections get ``message_changed``."""

    async def action(server: ChatServer) -> Message:
        return await server.delete_message(room, message_id)

    return _run(action)


def create_room(name: str, title: str | None = None, owner: Any = None) -> Room:
    """Create the group room ``name`` (``owner``: a Django user, a :class:`chatcore.User` or
    None); watchers of the room list see it at once. Raises :class:`chatcore.wire.errors.RoomExists`
    or :class:`chatcore.wire.errors.InvalidField`."""
    member = None if owner is None else _as_chat_user(owner)

    async def action(server: ChatServer) -> Room:
        return await server.create_room(name, title, owner=member)

    return _run(action)


def update_room(name: str, title: str) -> Room:
    """Give the room ``name`` a new title; its members and the list's watchers see it."""

    async def action(server: ChatServer) -> Room:
        return await server.update_room(name, check_title(title))

    return _run(action)


def delete_room(name: str) -> None:
    """Delete the room ``name`` and its history; its members are removed from it."""

    async def action(server: ChatServer) -> None:
        await server.delete_room(name)

    _run(action)


def direct_room(user: Any, other: Any) -> Room:
    """The direct room of two users (Django users or ids), created on first use."""
    member = _as_chat_user(user)
    other_id = other if isinstance(other, str) else str(other.pk)

    async def action(server: ChatServer) -> Room:
        return await server.direct_room(member, other_id)

    return _run(action)


def post_direct(sender: Any, to: Any, text: str) -> Message:
    """Post ``text`` into the direct room of ``sender`` and ``to``; it waits there if they are offline."""
    room = direct_room(sender, to)
    return post(room.name, text, sender)


def update_user(user: Any) -> None:
    """Show a user's changed name or avatar in every open member list."""
    member = _as_chat_user(user)

    async def action(server: ChatServer) -> None:
        await server.update_user(member)

    _run(action)


def disconnect_user(user: Any, code: CloseCode = CloseCode.UNAUTHORIZED) -> None:
    """Close every open chat socket of ``user`` (a Django user or a user id) with ``code``."""
    user_id = user if isinstance(user, str) else str(user.pk)

    async def action(server: ChatServer) -> None:
        await server.disconnect_user(user_id, code)

    _run(action)


def login_session(user: Any) -> str:
    """A new session logged in as ``user`` (a Django user); its key, the value of the session
    cookie (``sessionid``) a bot sends with its socket. It lasts as long as any session
    (``SESSION_COOKIE_AGE``); a new password or a deactivated account ends it, and its sockets."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = user._meta.pk.value_to_string(user)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return str(session.session_key)


# Moderation (docs/protocol.md, "Moderation"), with full authority: ``by`` is who acts (a Django
# user or a user id), shown to the user concerned and kept in the audit trail.


def _id(user: Any) -> str:
    return user if isinstance(user, str) else str(user.pk)


def kick(room: str, user: Any, by: Any, reason: str | None = None) -> None:
    """Put ``user``'s connections out of ``room``, in every process; they may join again."""

    async def action(server: ChatServer) -> None:
        await server.kick(room, _id(user), by=_id(by), reason=reason)

    _run(action)


def ban(room: str, user: Any, by: Any, until: int | None = None, reason: str | None = None) -> None:
    """Kick ``user`` and refuse their ``join`` until ``until`` (ms since the epoch; None: for
    ever)."""

    async def action(server: ChatServer) -> None:
        await server.ban(room, _id(user), by=_id(by), until=until, reason=reason)

    _run(action)


def unban(room: str, user: Any, by: Any) -> None:
    async def action(server: ChatServer) -> None:
        await server.unban(room, _id(user), by=_id(by))

    _run(action)


def mute(
    room: str, user: Any, by: Any, until: int | None = None, reason: str | None = None
) -> None:
    """Refuse ``user``'s writing in ``room`` until ``until`` (None: for ever)."""

    async def action(server: ChatServer) -> None:
        await server.mute(room, _id(user), by=_id(by), until=until, reason=reason)

    _run(action)


def unmute(room: str, user: Any, by: Any) -> None:
    async def action(server: ChatServer) -> None:
        await server.unmute(room, _id(user), by=_id(by))

    _run(action)


def set_role(room: str, user: Any, role: str, by: Any) -> None:
    """Make ``user`` a ``"moderator"`` of ``room``, or a ``"member"`` again."""

    async def action(server: ChatServer) -> None:
        await server.set_role(room, _id(user), role, by=_id(by))

    _run(action)


def invite(room: str, user: Any, by: Any) -> Room:
    """Let ``user`` see and join the private ``room``."""

    async def action(server: ChatServer) -> Room:
        return await server.invite(room, _id(user), by=_id(by))

    return _run(action)


def set_private(room: str, private: bool) -> Room:
    """Make ``room`` private (its owner and present users invited) or public."""

    async def action(server: ChatServer) -> Room:
        return await server.set_private(room, private)

    return _run(action)
