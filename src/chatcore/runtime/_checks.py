"""Every check made on behalf of a client, in one place: visibility, membership, the policy and
the per-connection limits.

The command handlers (``_handlers``) and :meth:`ChatServer.connect
<chatcore.runtime.server.ChatServer.connect>` call these before the server acts; the server's own
methods check none of them, so application code acts with full authority. What a check finds
wrong is a :class:`~chatcore.wire.errors.ClientError`, raised in the order the protocol promises
(``tests/core/test_errors.py`` pins the codes and their order). Checks on the values themselves
(a text's length, a reserved room name) stay with the operation, since application input
passes them too, as do the per-user room quotas (``Limits.rooms_per_user``/``rooms_per_hour``),
which the application API applies by default.
"""

from __future__ import annotations

from ..wire.errors import (
    Forbidden,
    InvalidField,
    NoSuchMessage,
    NoSuchRoom,
    NotMember,
    QuotaExceeded,
    RateLimited,
    Unavailable,
)
from ..wire.limits import Limits
from ..wire.values import DIRECT_PREFIX, Message, Room, User, check_text
from .hub import Hub, Session
from .ports import Runtime
from .ratelimit import TokenBucket

__all__ = (
    "admit",
    "deletable",
    "editable",
    "in_room",
    "joinable_room",
    "managed_room",
    "may_create",
    "member_room",
    "message_room",
    "reactable",
    "readable_room",
    "recipient",
    "sendable_room",
    "visible_room",
)


def admit(limits: Limits, hub: Hub, user: User) -> None:
    """A new connection of ``user`` fits the process's and the user's connection limits."""
    if len(hub.conns) >= limits.max_connections:
        raise Unavailable("the server is full; try again later")
    open_conns = sum(s.outbox.close_code is None for s in hub.user_conns(user.id))
    if open_conns >= limits.connections_per_user:
        raise QuotaExceeded(
            f"quota connections_per_user: {open_conns} connections open, the most allowed"
        )


async def visible_room(runtime: Runtime, user: User, name: str) -> Room:
    """The room ``name``, which ``user`` must be able to see; :class:`NoSuchRoom` otherwise."""
    room = await runtime.get_room(name)
    if not room.visible_to(user.id):
        raise NoSuchRoom(field="room")
    return room


async def member_room(runtime: Runtime, session: Session, name: str) -> Room:
    """The room, which ``session`` must have joined."""
    room = await visible_room(runtime, session.user, name)
    if name not in session.rooms:
        raise NotMember(field="room")
    return room


async def in_room(runtime: Runtime, session: Session, name: str) -> None:
    """``session`` must have joined the room; unlike :func:`member_room`, the room is read
    only when it has not (``typing`` is frequent)."""
    if name not in session.rooms:
        await visible_room(runtime, session.user, name)
        raise NotMember(field="room")


async def readable_room(runtime: Runtime, session: Session, name: str) -> Room:
    """The room, whose members and history ``session`` may read (``Policy.can_join``)."""
    room = await visible_room(runtime, session.user, name)
    if not await runtime.policy.can_join(session.user, room):
        raise Forbidden("you may not read this room", field="room")
    return room


async def managed_room(runtime: Runtime, session: Session, name: str) -> Room:
    """The group room, which ``session``'s user may rename or delete (``Policy.can_manage``)."""
    room = await visible_room(runtime, session.user, name)
    if room.is_direct or not await runtime.policy.can_manage(session.user, room):
        raise Forbidden("only the room's owner may change it", field="room")
    return room


async def sendable_room(runtime: Runtime, session: Session, name: str, text: str) -> Room:
    """Everything about a ``send`` that can be the client's fault, before anything is stored;
    the room."""
    room = await member_room(runtime, session, name)
    if not await runtime.policy.can_send(session.user, room):
        raise Forbidden("you may not write in this room", field="room")
    await runtime.moderation.check_send(session, room)
    check_text(text, runtime.limits.max_text)
    return room


async def may_create(runtime: Runtime, user: User, name: str) -> None:
    """``user`` may create a room named ``name`` (``Policy.can_create``)."""
    if not await runtime.policy.can_create(user, name):
        raise Forbidden("you may not create rooms", field="room")


async def joinable_room(runtime: Runtime, session: Session, name: str) -> Room:
    """The room ``session`` may join: created first if missing and the server auto-creates it
    (and the user may create rooms), visible, allowed by the policy, and within
    ``rooms_per_connection``."""
    user = session.user
    room: Room | None
    try:
        room = await runtime.get_room(name)
    except NoSuchRoom:
        if not runtime.auto_creates(name):
            raise
        await may_create(runtime, user, name)
        room = await runtime.create_auto_room(name, user)  # None: deleted again at once
    if room is None or not room.visible_to(user.id):
        raise NoSuchRoom(field="room")
    if not await runtime.policy.can_join(user, room):
        raise Forbidden("you may not join this room", field="room")
    limit = runtime.limits.rooms_per_connection
    if room.name not in session.rooms and len(session.rooms) >= limit:
        raise Forbidden("this connection is in too many rooms", field="room")
    return room


async def recipient(runtime: Runtime, sender: User, user_id: str, to_self: str) -> User:
    """The user ``user_id``, whom ``sender`` may message (``Policy.can_message``); ``to_self``
    is the error's message when it is the sender."""
    if user_id == sender.id:
        raise InvalidField(to_self, field="to")
    found = await runtime.find_user(user_id)
    if not await runtime.policy.can_message(sender, found):
        raise Forbidden("you may not message this user", field="to")
    return found


async def message_room(runtime: Runtime, session: Session, name: str) -> Room:
    """The room of a message command (``edit``, ``delete_message``, ``react``, ``unreact``),
    which ``session`` must have joined. Another pair's direct room, or a direct room's name
    that does not exist, is :class:`NoSuchMessage`, as a message not in the room is."""
    try:
        room = await runtime.get_room(name)
    except NoSuchRoom:
        if name.startswith(DIRECT_PREFIX):
            raise NoSuchMessage(field="id") from None
        raise
    if not room.visible_to(session.user.id):
        raise NoSuchMessage(field="id")
    if name not in session.rooms:
        raise NotMember(field="room")
    return room


async def editable(runtime: Runtime, session: Session, name: str, message_id: int) -> Message:
    """The message ``session``'s user may edit: their own, in a room they may write in."""
    room = await message_room(runtime, session, name)
    if not await runtime.policy.can_send(session.user, room):
        raise Forbidden("you may not write in this room", field="room")
    runtime.moderation.check_not_muted(session, name)
    message = await runtime.get_message(name, message_id)
    if message.sender.id != session.user.id:
        raise Forbidden("only its author may edit a message", field="id")
    return message


async def deletable(runtime: Runtime, session: Session, name: str, message_id: int) -> Message:
    """The message ``session``'s user may delete: their own, or any if they moderate the
    room (its owner, its moderators, and whom ``Policy.can_moderate`` names)."""
    room = await message_room(runtime, session, name)
    message = await runtime.get_message(name, message_id)
    if message.sender.id != session.user.id and not await runtime.moderation.may_moderate(
        session.user, room
    ):
        raise Forbidden("only its author or a moderator may delete a message", field="id")
    return message


async def reactable(runtime: Runtime, session: Session, name: str) -> None:
    """``session`` may react in the room now: joined, allowed to write, and within
    ``reaction_rate``."""
    room = await message_room(runtime, session, name)
    if not await runtime.policy.can_send(session.user, room):
        raise Forbidden("you may not react in this room", field="room")
    runtime.moderation.check_not_muted(session, name)
    limits = runtime.limits
    now = runtime.clock.now()
    if session.reacting is None:
        session.reacting = TokenBucket(limits.reaction_rate, limits.reaction_burst, now)
    if not session.reacting.take(now):
        raise RateLimited("too many reactions; slow down")
