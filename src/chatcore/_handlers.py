"""One coroutine per client command: checks, then the server's operation, then the reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from . import commands as c
from .errors import Forbidden, InvalidField, NotMember
from .hub import Conn
from .protocol import wire_size
from .values import Message, Room, check_text, check_title

if TYPE_CHECKING:
    from .server import ChatServer

__all__ = ("check_send", "handle", "post_send")

Result = dict[str, Any]
_C = TypeVar("_C", bound=c.Command)
_Handler = Callable[["ChatServer", Conn, Any], Awaitable[Result]]
_HANDLERS: dict[type[Any], _Handler] = {}


def _handles(
    kind: type[_C],
) -> Callable[[Callable[[ChatServer, Conn, _C], Awaitable[Result]]], None]:
    def register(handler: Callable[[ChatServer, Conn, _C], Awaitable[Result]]) -> None:
        _HANDLERS[kind] = handler

    return register


async def handle(server: ChatServer, conn: Conn, command: c.Command) -> Result:
    """Carry out ``command`` for ``conn``; the result is the ``ok`` reply's fields."""
    return await _HANDLERS[type(command)](server, conn, command)


async def _member_room(server: ChatServer, conn: Conn, name: str) -> Room:
    """The room, which ``conn`` must have joined."""
    room = await server.get_room(name, conn.user)
    if not server.hub.in_room(conn, name):
        raise NotMember(field="room")
    return room


async def _readable_room(server: ChatServer, conn: Conn, name: str) -> Room:
    room = await server.get_room(name, conn.user)
    if not await server.policy.can_join(conn.user, room):
        raise Forbidden("you may not read this room", field="room")
    return room


async def _managed_room(server: ChatServer, conn: Conn, name: str) -> Room:
    room = await server.get_room(name, conn.user)
    if room.is_direct or not await server.policy.can_manage(conn.user, room):
        raise Forbidden("only the room's owner may change it", field="room")
    return room


def _newest_fitting(server: ChatServer, messages: Sequence[Message]) -> tuple[list[Any], bool]:
    """The wire form of the newest ``messages`` that fit in a reply (a quarter of the outbox's
    byte budget, so one reply never fills it), and whether older ones were left out."""
    wire = [message.to_wire() for message in messages]
    room = server.limits.outbox_bytes // 4
    for index in range(len(wire) - 1, -1, -1):
        room -= wire_size(wire[index]) + 1
        if room < 0:
            return wire[index + 1 :], True
    return wire, False


@_handles(c.Join)
async def _join(server: ChatServer, conn: Conn, cmd: c.Join) -> Result:
    joining = await server.join(conn, cmd.room, cmd.since)
    history, cut = _newest_fitting(server, joining.history.messages)
    return {
        "room": joining.room.to_wire(len(joining.members)),
        "members": [user.to_wire() for user in joining.members],
        "history": history,
        # A resume that had to leave messages out is a gap; a first join is a page of the
        # newest messages, and the client asks ``history`` for older ones.
        "gap": joining.gap or (cut and cmd.since is not None),
    }


@_handles(c.Leave)
async def _leave(server: ChatServer, conn: Conn, cmd: c.Leave) -> Result:
    await _member_room(server, conn, cmd.room)
    await server.leave(conn, cmd.room)
    return {}


@_handles(c.Send)
async def _send(server: ChatServer, conn: Conn, cmd: c.Send) -> Result:
    await check_send(server, conn, cmd)
    return await post_send(server, conn, cmd)


async def check_send(server: ChatServer, conn: Conn, cmd: c.Send) -> None:
    """Everything about a ``send`` that can be the client's fault, before anything is stored."""
    room = await _member_room(server, conn, cmd.room)
    if not await server.policy.can_send(conn.user, room):
        raise Forbidden("you may not write in this room", field="room")
    check_text(cmd.text, server.limits.max_text)


async def post_send(server: ChatServer, conn: Conn, cmd: c.Send) -> Result:
    """The checked ``send``: store and publish its message."""
    appended = await server.post(cmd.room, cmd.text, sender=conn.user, client_id=cmd.client_id)
    return {"id": appended.message.id}


@_handles(c.SendPrivate)
async def _send_private(server: ChatServer, conn: Conn, cmd: c.SendPrivate) -> Result:
    if cmd.room is not None:
        await _member_room(server, conn, cmd.room)
    event = await server.send_private(conn.user, cmd.to, cmd.text, cmd.room)
    return {"id": event.id}


@_handles(c.Typing)
async def _typing(server: ChatServer, conn: Conn, cmd: c.Typing) -> Result:
    if not server.hub.in_room(conn, cmd.room):
        await server.get_room(cmd.room, conn.user)
        raise NotMember(field="room")
    await server.typing(conn, cmd.room)
    return {}


@_handles(c.ListRooms)
async def _rooms(server: ChatServer, conn: Conn, cmd: c.ListRooms) -> Result:
    if cmd.watch is not None:
        server.hub.watch(conn, cmd.watch)
    return {"rooms": await server.list_rooms(conn.user)}


@_handles(c.CreateRoom)
async def _create_room(server: ChatServer, conn: Conn, cmd: c.CreateRoom) -> Result:
    title = check_title(cmd.title) if cmd.title is not None else None
    if not await server.policy.can_create(conn.user, cmd.room):
        raise Forbidden("you may not create rooms", field="room")
    room = await server.create_room(cmd.room, title, owner=conn.user)
    return {"room": await server.room_wire(room)}


@_handles(c.UpdateRoom)
async def _update_room(server: ChatServer, conn: Conn, cmd: c.UpdateRoom) -> Result:
    title = check_title(cmd.title)
    await _managed_room(server, conn, cmd.room)
    room = await server.update_room(cmd.room, title)
    return {"room": await server.room_wire(room)}


@_handles(c.DeleteRoom)
async def _delete_room(server: ChatServer, conn: Conn, cmd: c.DeleteRoom) -> Result:
    await _managed_room(server, conn, cmd.room)
    await server.delete_room(cmd.room)
    return {}


@_handles(c.Direct)
async def _direct(server: ChatServer, conn: Conn, cmd: c.Direct) -> Result:
    room = await server.direct_room(conn.user, cmd.to)
    return {"room": await server.room_wire(room)}


@_handles(c.Members)
async def _members(server: ChatServer, conn: Conn, cmd: c.Members) -> Result:
    await _readable_room(server, conn, cmd.room)
    return {"members": [user.to_wire() for user in await server.broker.members(cmd.room)]}


@_handles(c.History)
async def _history(server: ChatServer, conn: Conn, cmd: c.History) -> Result:
    page_size = server.limits.history_page
    limit = page_size if cmd.limit is None else cmd.limit
    if not 1 <= limit <= page_size:
        raise InvalidField(f"'limit' is 1-{page_size}", field="limit")
    await _readable_room(server, conn, cmd.room)
    page = await server.store.history(cmd.room, limit=limit, before=cmd.before)
    messages, cut = _newest_fitting(server, page.messages)
    return {"messages": messages, "more": page.more or cut}


@_handles(c.Ping)
async def _ping(server: ChatServer, conn: Conn, cmd: c.Ping) -> Result:
    return {}
