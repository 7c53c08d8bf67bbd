"""One coroutine per client command: its checks (``_checks``), then the server's operation
(through :class:`~chatcore.runtime.ports.Runtime`, nothing else of the server), then the fields of its
``ok`` reply.

:data:`HANDLERS` maps each command class to its handler; ``tests/core/test_handlers.py`` fails
when a command of the protocol has no handler here, or a handler no command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import attrs

from ..backends.store import Change
from ..hooks import Draft
from ..wire import commands as c
from ..wire._json import RawJSON
from ..wire.errors import ClientError, InvalidField
from ..wire.events import MessageChanged
from ..wire.limits import Limits
from ..wire.protocol import encode, frame_size
from ..wire.values import Message, check_text, check_title
from . import _checks as check
from ._history_json import newest_fitting
from .hub import Session
from .ports import Runtime

__all__ = ("HANDLERS", "Reply", "check_send", "handle", "post_send")


@attrs.frozen
class Reply:
    """A result whose ``ok`` reply is followed by more frames for the same connection."""

    fields: dict[str, Any]
    then: tuple[str, ...]


Result = dict[str, Any] | Reply
_C = TypeVar("_C", bound=c.Command)
_Handler = Callable[[Runtime, Session, Any], Awaitable[Result]]
#: The handler of each command class.
HANDLERS: dict[type[Any], _Handler] = {}


def _handles(
    kind: type[_C],
) -> Callable[[Callable[[Runtime, Session, _C], Awaitable[Result]]], None]:
    def register(handler: Callable[[Runtime, Session, _C], Awaitable[Result]]) -> None:
        HANDLERS[kind] = handler

    return register


async def handle(runtime: Runtime, session: Session, command: c.Command) -> Result:
    """Carry out ``command`` for ``session``; the result is the ``ok`` reply's fields."""
    return await HANDLERS[type(command)](runtime, session, command)


def _newest_fitting(limits: Limits, messages: tuple[Message, ...]) -> tuple[RawJSON, bool]:
    """The wire form of the newest ``messages`` that fit in a reply (a quarter of the outbox's
    byte budget, so one reply never fills it), and whether older ones were left out."""
    return newest_fitting(messages, limits.outbox_bytes // 4)


def _oldest_fitting(limits: Limits, changes: Sequence[Change]) -> tuple[tuple[str, ...], bool]:
    """The ``message_changed`` frames of the oldest ``changes`` that fit in a quarter of the
    outbox's byte budget, and whether some were left out."""
    frames: list[str] = []
    room = limits.outbox_bytes // 4
    for change in changes:
        frame = encode(MessageChanged(change=change.kind, message=change.message))
        room -= frame_size(frame)
        if room < 0:
            return tuple(frames), True
        frames.append(frame)
    return tuple(frames), False


@_handles(c.Join)
async def _join(runtime: Runtime, session: Session, cmd: c.Join) -> Result:
    room = await check.joinable_room(runtime, session, cmd.room)
    admission = await runtime.moderation.admit(session, room)
    joining = await runtime.join(session, room, cmd.since)
    try:
        await runtime.moderation.confirm(session, room, admission)
    except ClientError:
        await runtime.leave(session, room.name)
        raise
    limits = runtime.limits
    history, cut = _newest_fitting(limits, joining.history.messages)
    # The changes made since follow the reply as ``message_changed`` events, in order.
    changes, cut_changes = _oldest_fitting(limits, joining.changes)
    count = len(joining.members) if joining.count is None else joining.count
    fields: dict[str, Any] = {
        "room": joining.room.to_wire(count),
        "members": [user.to_wire() for user in joining.members],
        "count": count,
        "next": joining.next,
        "history": history,
        # A resume that had to leave messages out is a gap; a first join is a page of the
        # newest messages, and the client asks ``history`` for older ones.
        "gap": joining.gap or ((cut or cut_changes) and cmd.since is not None),
        "read": joining.read,
        **admission.to_wire(),
    }
    if joining.seen is not None:
        fields["seen"] = joining.seen
    return Reply(fields, changes) if changes else fields


@_handles(c.Leave)
async def _leave(runtime: Runtime, session: Session, cmd: c.Leave) -> Result:
    await check.member_room(runtime, session, cmd.room)
    await runtime.leave(session, cmd.room)
    return {}


@_handles(c.Send)
async def _send(runtime: Runtime, session: Session, cmd: c.Send) -> Result:
    cmd = await check_send(runtime, session, cmd)
    return await post_send(runtime, session, cmd)


async def check_send(runtime: Runtime, session: Session, cmd: c.Send) -> c.Send:
    """Everything about a ``send`` that can be the client's fault, before anything is stored,
    then the message hooks: the ``send`` to post (changed by a hook, or ``cmd``)."""
    room = await check.sendable_room(runtime, session, cmd.room, cmd.text)
    if not runtime.checks_messages:
        return cmd
    text = check_text(cmd.text, runtime.limits.max_text)
    draft = Draft(
        kind="send", sender=session.user, room=room, text=text, meta=cmd.meta, reply_to=cmd.reply_to
    )
    checked = await runtime.check_message(draft)
    if checked.text == cmd.text and checked.meta is cmd.meta:
        return cmd
    return attrs.evolve(cmd, text=checked.text, meta=checked.meta)


async def post_send(runtime: Runtime, session: Session, cmd: c.Send) -> Result:
    """The checked ``send``: store and publish its message."""
    if cmd.reply_to is None and cmd.meta is None:
        appended = await runtime.post(
            cmd.room, cmd.text, sender=session.user, client_id=cmd.client_id
        )
    else:
        appended = await runtime.post(
            cmd.room,
            cmd.text,
            sender=session.user,
            client_id=cmd.client_id,
            reply_to=cmd.reply_to,
            meta=cmd.meta,
        )
    return {"id": appended.message.id}


@_handles(c.Edit)
async def _edit(runtime: Runtime, session: Session, cmd: c.Edit) -> Result:
    text = check_text(cmd.text, runtime.limits.max_text)
    old = await check.editable(runtime, session, cmd.room, cmd.id)
    if runtime.checks_messages:
        draft = await _check_edit(runtime, session, cmd, old, text)
        text = draft.text
        if draft.meta is not old.meta:  # given by the client, or changed by a hook
            message = await runtime.edit_message(cmd.room, cmd.id, text, meta=draft.meta)
            return {"message": message.to_wire()}
    if cmd.meta is None:  # not given: the message keeps its meta
        message = await runtime.edit_message(cmd.room, cmd.id, text)
    else:
        message = await runtime.edit_message(cmd.room, cmd.id, text, meta=cmd.meta)
    return {"message": message.to_wire()}


async def _check_edit(
    runtime: Runtime, session: Session, cmd: c.Edit, old: Message, text: str
) -> Draft:
    """An edit through the message hooks; its ``meta`` is the message's own unless the client
    gave one."""
    draft = Draft(
        kind="edit",
        sender=session.user,
        room=await runtime.get_room(cmd.room),
        text=text,
        meta=old.meta if cmd.meta is None else cmd.meta,
        reply_to=old.reply_to,
        message_id=cmd.id,
    )
    return await runtime.check_message(draft)


@_handles(c.DeleteMessage)
async def _delete_message(runtime: Runtime, session: Session, cmd: c.DeleteMessage) -> Result:
    await check.deletable(runtime, session, cmd.room, cmd.id)
    await runtime.delete_message(cmd.room, cmd.id)
    return {}


@_handles(c.React)
async def _react(runtime: Runtime, session: Session, cmd: c.React) -> Result:
    await check.reactable(runtime, session, cmd.room)
    await runtime.react(cmd.room, cmd.id, session.user, cmd.emoji)
    return {}


@_handles(c.Unreact)
async def _unreact(runtime: Runtime, session: Session, cmd: c.Unreact) -> Result:
    await check.reactable(runtime, session, cmd.room)
    await runtime.unreact(cmd.room, cmd.id, session.user, cmd.emoji)
    return {}


@_handles(c.Read)
async def _read(runtime: Runtime, session: Session, cmd: c.Read) -> Result:
    room = await check.readable_room(runtime, session, cmd.room)
    mark = await runtime.mark_read(room, session.user, cmd.id)
    return {"room": room.name, "id": mark}


@_handles(c.SendPrivate)
async def _send_private(runtime: Runtime, session: Session, cmd: c.SendPrivate) -> Result:
    if cmd.room is not None:
        await check.member_room(runtime, session, cmd.room)
    text = check_text(cmd.text, runtime.limits.max_text)
    to = await check.recipient(
        runtime, session.user, cmd.to, "you cannot send a private message to yourself"
    )
    await runtime.moderation.check_not_blocked(session.user, to.id)
    event = await runtime.send_private(session.user, to, text, cmd.room)
    return {"id": event.id}


@_handles(c.Typing)
async def _typing(runtime: Runtime, session: Session, cmd: c.Typing) -> Result:
    await check.in_room(runtime, session, cmd.room)
    runtime.moderation.check_not_muted(session, cmd.room)
    await runtime.typing(session, cmd.room)
    return {}


@_handles(c.ListRooms)
async def _rooms(runtime: Runtime, session: Session, cmd: c.ListRooms) -> Result:
    if cmd.watch is not None:
        runtime.watch_rooms(session, cmd.watch)
    # Following starts before the counts are read: a message posted meanwhile is counted, or
    # comes live, or both (a count one too high until the next ``read``), never neither.
    if cmd.watch is False or (cmd.watch and cmd.unread is not None):
        await runtime.follow_unread(session, bool(cmd.watch and cmd.unread))
    return {"rooms": await runtime.list_rooms(session.user)}


@_handles(c.CreateRoom)
async def _create_room(runtime: Runtime, session: Session, cmd: c.CreateRoom) -> Result:
    title = check_title(cmd.title) if cmd.title is not None else None
    await check.may_create(runtime, session.user, cmd.room)
    if cmd.private:
        room = await runtime.create_room(cmd.room, title, owner=session.user, private=True)
    else:
        room = await runtime.create_room(cmd.room, title, owner=session.user)
    return {"room": await runtime.room_wire(room)}


@_handles(c.UpdateRoom)
async def _update_room(runtime: Runtime, session: Session, cmd: c.UpdateRoom) -> Result:
    title = check_title(cmd.title) if cmd.title is not None else None
    room = await check.managed_room(runtime, session, cmd.room)
    if title is not None:
        room = await runtime.update_room(cmd.room, title)
    if cmd.private is not None:
        room = await runtime.set_private(cmd.room, cmd.private)
    return {"room": await runtime.room_wire(room)}


@_handles(c.DeleteRoom)
async def _delete_room(runtime: Runtime, session: Session, cmd: c.DeleteRoom) -> Result:
    await check.managed_room(runtime, session, cmd.room)
    await runtime.delete_room(cmd.room)
    return {}


@_handles(c.Direct)
async def _direct(runtime: Runtime, session: Session, cmd: c.Direct) -> Result:
    other = await check.recipient(
        runtime, session.user, cmd.to, "a direct conversation needs another user"
    )
    room = await runtime.direct_room(session.user, other)
    return {"room": await runtime.room_wire(room)}


@_handles(c.Members)
async def _members(runtime: Runtime, session: Session, cmd: c.Members) -> Result:
    most = runtime.limits.members_page
    if cmd.limit is not None and not 1 <= cmd.limit <= most:
        raise InvalidField(f"'limit' is 1-{most}", field="limit")
    await check.readable_room(runtime, session, cmd.room)
    page = await runtime.members_page(cmd.room, cmd.after, cmd.limit, cmd.query)
    return {
        "members": [user.to_wire() for user in page.members],
        "count": page.count,
        "next": page.next,
    }


@_handles(c.WatchUsers)
async def _watch_users(runtime: Runtime, session: Session, cmd: c.WatchUsers) -> Result:
    most = runtime.limits.watch_users
    if len(cmd.users) > most:
        raise InvalidField(f"a connection may watch at most {most} users", field="users")
    return {"online": await runtime.watch_users(session, cmd.users)}


@_handles(c.History)
async def _history(runtime: Runtime, session: Session, cmd: c.History) -> Result:
    page_size = runtime.limits.history_page
    limit = page_size if cmd.limit is None else cmd.limit
    if not 1 <= limit <= page_size:
        raise InvalidField(f"'limit' is 1-{page_size}", field="limit")
    await check.readable_room(runtime, session, cmd.room)
    page = await runtime.history(cmd.room, limit=limit, before=cmd.before)
    messages, cut = _newest_fitting(runtime.limits, page.messages)
    return {"messages": messages, "more": page.more or cut}


@_handles(c.Ping)
async def _ping(runtime: Runtime, session: Session, cmd: c.Ping) -> Result:
    return {}


# The moderation commands register themselves here.
from . import _moderation_handlers  # noqa: E402, F401
