"""An asyncio client of wire protocol v1, on the ``websockets`` package (the ``client`` extra).

For bots, tests and benchmarks::

    async with ChatClient("ws://127.0.0.1:8001/ws", cookies={"session": token}) as client:
        await client.join("lobby")
        await client.send("lobby", "hello")
        async for event in client:
            print(event["type"], event)

Requests are matched to replies by ``ref``; an ``error`` reply raises :class:`ReplyError`. When
the socket is lost the client reconnects with exponential backoff and jitter, rejoins its rooms
with ``since`` (the last message id it saw in each) and passes the messages it missed on as
``message`` events. Each message reaches the caller once: either in ``join``'s history or as an
event, never both, never twice. The changes made to messages meanwhile (edits, deletions,
reactions) follow as ``message_changed`` events, each holding the message's whole new state, so
applying one again (a change seen live before the socket was lost) changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self

import attrs
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.typing import Origin

from .wire.errors import ReplyError

__all__ = ("Backoff", "ChatClient", "ClientClosed", "ConnectionLost", "Frame", "ReplyError")

log = logging.getLogger("chatcore.client")

Frame = dict[str, Any]
# Frames go out as UTF-8, as the server sizes them: "ж" is 2 bytes, not the 6 of "\u0436".
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: Close codes after which reconnecting cannot help: unauthorized, policy violation.
_FINAL_CLOSE_CODES = frozenset({1008, 4401})


def _client_id() -> str:
    return secrets.token_hex(12)


def _sanction(room: str, user: str, until: int | None, reason: str | None) -> Frame:
    fields: Frame = {"room": room, "user": user}
    if until is not None:
        fields["until"] = until
    if reason is not None:
        fields["reason"] = reason
    return fields


class ClientClosed(Exception):
    """The client is closed, or gave up reconnecting (``code`` is the last close code)."""

    def __init__(self, message: str = "the client is closed", code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ConnectionLost(Exception):
    """The socket was lost before the reply to a request arrived; it may or may not have run."""


@attrs.frozen
class Backoff:
    """Reconnect delays: ``initial * factor**attempt`` capped at ``maximum``, with jitter.

    The delay is drawn uniformly between half and all of that value, so clients cut off together
    do not all come back at the same instant.
    """

    initial: float = 0.25
    factor: float = 2.0
    maximum: float = 10.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.maximum, self.initial * self.factor ** min(attempt, 32))
        return random.uniform(ceiling / 2, ceiling)


class ChatClient:
    """A chat connection that survives lost sockets. Use ``async with`` or :meth:`connect`.

    ``headers`` and ``cookies`` go with every handshake (each reconnect too); ``origin`` sets
    the ``Origin`` header. With ``reconnect=False`` a lost socket closes the client.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        origin: str | None = None,
        reconnect: bool = True,
        backoff: Backoff | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.headers = dict(headers or {})
        if cookies:
            self.headers["Cookie"] = "; ".join(f"{key}={value}" for key, value in cookies.items())
        self.origin = origin
        self.reconnect = reconnect
        self.backoff = backoff or Backoff()
        self.timeout = timeout
        #: The ``welcome`` frame of the current (or last) socket.
        self.welcome: Frame = {}
        #: How many sockets this client has opened; grows by one on each reconnect.
        self.sessions = 0
        #: The close code of the last socket that ended.
        self.close_code: int | None = None
        self._refs = itertools.count(1)
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()
        self._closed: ClientClosed | None = None
        self._pending: dict[int, asyncio.Future[Frame]] = {}
        self._events: asyncio.Queue[Frame | None] = asyncio.Queue()
        #: Joined rooms and the last message id seen in each.
        self._rooms: dict[str, int] = {}
        #: Rooms being joined, with the live messages (and changes) that arrived before the
        #: join's history was passed on.
        self._joining: dict[str, list[Frame]] = {}
        #: The ``watch`` and ``unread`` of the last :meth:`rooms` call, asked again on reconnect.
        self._listing: dict[str, bool] = {}
        self._task: asyncio.Task[None] | None = None

    # lifecycle

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def user(self) -> Frame:
        """This client's user, as the server sees it."""
        user: Frame = self.welcome["user"]
        return user

    @property
    def joined(self) -> dict[str, int]:
        """The rooms this client is in, each with the last message id it has seen."""
        return dict(self._rooms)

    async def connect(self) -> None:
        """Open the first socket and wait for ``welcome``; errors here are raised, not retried."""
        if self._task is not None:
            raise RuntimeError("connect() was already called")
        ws = await self._open()
        self._task = asyncio.create_task(self._run(ws), name=f"chatcore client {self.url}")
        # Let the task start: a close() before it ran would cancel it before the try/finally
        # that closes the socket, and leave the socket open.
        await asyncio.sleep(0)

    async def close(self) -> None:
        """Close the socket (code 1000) and stop reconnecting. Event iteration ends."""
        self._stop(ClientClosed())
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def abort(self) -> None:
        """Drop the socket abruptly, without a close frame, as a network failure would."""
        if self._ws is not None:
            self._ws.transport.abort()

    async def wait_ready(self) -> None:
        """Wait until a socket is open and every room has been rejoined."""
        while not self._ready.is_set():
            if self._closed is not None:
                raise self._closed
            await self._ready.wait()
        if self._closed is not None:
            raise self._closed

    # requests

    async def request(self, kind: str, **fields: Any) -> Frame:
        """Send a ``kind`` frame and return its ``ok`` reply; raise :class:`ReplyError` on error.

        Waits for a socket first if the client is reconnecting. Raises :class:`ConnectionLost`
        if the socket is lost before the reply, and :class:`TimeoutError` after ``timeout``.
        """
        async with asyncio.timeout(self.timeout):
            await self.wait_ready()
            return await self._request(kind, fields)

    async def _request(self, kind: str, fields: Mapping[str, Any]) -> Frame:
        ws = self._ws
        if ws is None:
            raise ConnectionLost("no open socket")
        ref = next(self._refs)
        reply: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending[ref] = reply
        try:
            try:
                await ws.send(_encoder.encode({"type": kind, "ref": ref, **fields}))
            except ConnectionClosed as error:
                if self._ws is ws:
                    self._ready.clear()  # retries wait for the next socket, not spin on this one
                raise ConnectionLost(str(error)) from None
            frame = await reply
        finally:
            self._pending.pop(ref, None)
        if frame["type"] == "error":
            raise ReplyError(frame)
        return frame

    async def _retrying(self, kind: str, fields: Mapping[str, Any]) -> Frame:
        """Request ``kind``, again after a reconnect if the socket is lost: it must be idempotent."""
        async with asyncio.timeout(self.timeout):
            while True:
                await self.wait_ready()
                try:
                    return await self._request(kind, fields)
                except ConnectionLost:
                    continue

    async def join(self, room: str, since: int | None = None) -> Frame:
        """Join ``room``: the reply has ``room``, ``members``, ``history``, ``gap`` and
        ``read`` (this user's read mark; in a direct room ``seen`` is the other user's).

        ``since`` is the last message id the caller has (kept from an earlier run, say): the
        reply's ``history`` then holds the messages after it, the changes made to messages
        since then follow as ``message_changed`` events, and ``gap`` is true when not all of
        them could be given. Without ``since``, joining a room the client is in already
        resumes it from the last message it passed on: missed messages come as events.
        """
        if since is None and room in self._rooms:
            return await self._resume(room, self._retrying)
        fields: Frame = {"room": room} if since is None else {"room": room, "since": since}
        self._joining[room] = []
        try:
            reply = await self._retrying("join", fields)
            ids = [message["id"] for message in reply["history"]]
            # With nothing new, the caller is up to date at ``since``, unless ``since`` is past
            # the room's end (``gap``): then every message from 1 on is new to it.
            nothing_new = 0 if since is None or reply["gap"] else since
            self._rooms[room] = max(ids, default=nothing_new)
        finally:
            held = self._joining.pop(room, [])
        for frame in held:
            self._deliver(frame)
        return reply

    async def _resume(
        self, room: str, request: Callable[[str, Mapping[str, Any]], Awaitable[Frame]]
    ) -> Frame:
        """Join ``room`` with ``since``; pass the messages missed on as events, in order."""
        self._joining[room] = []
        try:
            reply = await request("join", {"room": room, "since": self._rooms[room]})
        except ReplyError:
            self._rooms.pop(room, None)
            raise
        finally:
            held = self._joining.pop(room, [])
        for message in reply["history"]:
            self._deliver({"type": "message", **message})
        for frame in held:
            self._deliver(frame)
        if reply["gap"]:
            self._emit({"type": "gap", "room": room})
        return reply

    async def leave(self, room: str) -> None:
        self._rooms.pop(room, None)
        with contextlib.suppress(ReplyError):  # not_member after a reconnect: already out
            await self._retrying("leave", {"room": room})

    async def send(
        self,
        room: str,
        text: str,
        *,
        reply_to: int | None = None,
        meta: Mapping[str, Any] | None = None,
        client_id: str | None = None,
    ) -> int:
        """Send ``text`` to ``room``; returns the message id. ``reply_to`` is the id of a
        message of the room this one answers; ``meta`` is a JSON object for the application.
        A retry after a lost socket carries the same ``client_id`` (a random one unless
        given), so the message is never posted twice."""
        fields: Frame = {"room": room, "text": text, "client_id": client_id or _client_id()}
        if reply_to is not None:
            fields["reply_to"] = reply_to
        if meta is not None:
            fields["meta"] = dict(meta)
        reply = await self._retrying("send", fields)
        return int(reply["id"])

    async def edit(
        self, room: str, id: int, text: str, *, meta: Mapping[str, Any] | None = None
    ) -> Frame:
        """Change the text of one of this user's messages (and its ``meta``, when given);
        returns the message as it is now. The room gets a ``message_changed`` event."""
        fields: Frame = {"room": room, "id": id, "text": text}
        if meta is not None:
            fields["meta"] = dict(meta)
        message: Frame = (await self._retrying("edit", fields))["message"]
        return message

    async def delete_message(self, room: str, id: int) -> None:
        """Delete a message: this user's own, or any in a room this user moderates."""
        fields = {"room": room, "id": id}
        async with asyncio.timeout(self.timeout):
            lost = False
            while True:
                await self.wait_ready()
                try:
                    await self._request("delete_message", fields)
                    return
                except ConnectionLost:
                    lost = True
                except ReplyError as error:
                    # Asked again after a lost socket: the first request may have deleted it.
                    if lost and error.code == "no_such_message":
                        return
                    raise

    async def react(self, room: str, id: int, emoji: str) -> None:
        """Add this user's ``emoji`` to a message (again changes nothing)."""
        await self._retrying("react", {"room": room, "id": id, "emoji": emoji})

    async def unreact(self, room: str, id: int, emoji: str) -> None:
        """Take this user's ``emoji`` off a message (when it is not there, nothing changes)."""
        await self._retrying("unreact", {"room": room, "id": id, "emoji": emoji})

    async def mark_read(self, room: str, id: int) -> int:
        """Move this user's read mark in ``room`` forward to message ``id``; returns the mark
        (it never moves back, and stops at the newest message). The user's connections (and
        in a direct room the other user's) get a ``read`` event."""
        reply = await self._retrying("read", {"room": room, "id": id})
        return int(reply["id"])

    async def send_private(self, to: str, text: str, room: str | None = None) -> int:
        fields: Frame = {"to": to, "text": text}
        if room is not None:
            fields["room"] = room
        return int((await self.request("send_private", **fields))["id"])

    async def typing(self, room: str) -> None:
        await self.request("typing", room=room)

    async def rooms(self, watch: bool | None = None, unread: bool | None = None) -> list[Frame]:
        """The rooms this user can see; those the user belongs to carry ``read`` (their mark)
        and ``unread`` (messages from others after it, up to 100).

        ``watch=True`` makes ``room`` events follow; with ``unread=True`` too, the ``message``
        events of every room the user belongs to, joined or not, so unread counts can be kept
        current. ``False`` stops either. The server keeps these per socket: after a reconnect
        the client asks again with the same values and passes the reply on as a ``rooms``
        event (the counts may have changed meanwhile).
        """
        fields: dict[str, bool] = {}
        if watch is not None:
            fields["watch"] = watch
        if unread is not None:
            fields["unread"] = unread
        rooms: list[Frame] = (await self.request("rooms", **fields))["rooms"]
        self._listing.update(fields)
        return rooms

    async def create_room(
        self, room: str, title: str | None = None, *, private: bool | None = None
    ) -> Frame:
        """Create a room; ``private=True``: seen by you and the users you invite only."""
        fields: Frame = {"room": room} if title is None else {"room": room, "title": title}
        if private is not None:
            fields["private"] = private
        created: Frame = (await self.request("create_room", **fields))["room"]
        return created

    async def update_room(
        self, room: str, title: str | None = None, *, private: bool | None = None
    ) -> Frame:
        """Rename ``room`` and/or make it private or public."""
        fields: Frame = {"room": room} if title is None else {"room": room, "title": title}
        if private is not None:
            fields["private"] = private
        updated: Frame = (await self.request("update_room", **fields))["room"]
        return updated

    async def delete_room(self, room: str) -> None:
        await self.request("delete_room", room=room)
        self._rooms.pop(room, None)

    async def direct(self, to: str) -> Frame:
        """The direct room with user ``to`` (join it to talk there)."""
        direct: Frame = (await self.request("direct", to=to))["room"]
        return direct

    async def members(self, room: str) -> list[Frame]:
        members: list[Frame] = (await self.request("members", room=room))["members"]
        return members

    async def members_page(
        self,
        room: str,
        after: str | None = None,
        limit: int | None = None,
        query: str | None = None,
    ) -> Frame:
        """A page of ``room``'s members by name: ``{"members": [...], "count": n, "next":
        cursor or None}``; ``after`` is an earlier page's ``next``, ``query`` a name prefix."""
        fields: Frame = {"room": room}
        if after is not None:
            fields["after"] = after
        if limit is not None:
            fields["limit"] = limit
        if query is not None:
            fields["query"] = query
        return await self.request("members", **fields)

    async def watch_users(self, users: list[str]) -> list[str]:
        """Watch up to 500 users' online status (replacing the list): those online now;
        ``status`` events follow."""
        online: list[str] = (await self.request("watch_users", users=users))["online"]
        return online

    async def history(
        self, room: str, before: int | None = None, limit: int | None = None
    ) -> Frame:
        """A page of ``room``'s messages: ``{"messages": [...], "more": bool}``."""
        fields: Frame = {"room": room}
        if before is not None:
            fields["before"] = before
        if limit is not None:
            fields["limit"] = limit
        return await self.request("history", **fields)

    async def ping(self) -> None:
        await self.request("ping")

    # moderation (docs/protocol.md, "Moderation"); ``until`` is ms since the epoch

    async def set_role(self, room: str, user: str, role: str) -> None:
        """Make ``user`` a ``"moderator"`` of ``room``, or a ``"member"`` again (the owner)."""
        await self.request("set_role", room=room, user=user, role=role)

    async def kick(self, room: str, user: str, reason: str | None = None) -> None:
        await self.request("kick", **_sanction(room, user, None, reason))

    async def ban(
        self, room: str, user: str, until: int | None = None, reason: str | None = None
    ) -> None:
        """Kick ``user`` and refuse their ``join`` until ``until`` (None: for ever)."""
        await self.request("ban", **_sanction(room, user, until, reason))

    async def unban(self, room: str, user: str) -> None:
        await self.request("unban", room=room, user=user)

    async def mute(
        self, room: str, user: str, until: int | None = None, reason: str | None = None
    ) -> None:
        """Refuse ``user``'s writing in ``room`` until ``until`` (None: for ever)."""
        await self.request("mute", **_sanction(room, user, until, reason))

    async def unmute(self, room: str, user: str) -> None:
        await self.request("unmute", room=room, user=user)

    async def invite(self, room: str, user: str) -> None:
        """Let ``user`` see and join the private ``room``."""
        await self.request("invite", room=room, user=user)

    async def audit(self, room: str, before: int | None = None, limit: int | None = None) -> Frame:
        """A page of the room's moderation log: ``{"entries": [...], "more": bool}``."""
        fields: Frame = {"room": room}
        if before is not None:
            fields["before"] = before
        if limit is not None:
            fields["limit"] = limit
        return await self.request("audit", **fields)

    async def block(self, user: str) -> list[str]:
        """Refuse ``user``'s private and direct messages; whom you block now."""
        blocked: list[str] = (await self.request("block", user=user))["blocked"]
        return blocked

    async def unblock(self, user: str) -> list[str]:
        blocked: list[str] = (await self.request("unblock", user=user))["blocked"]
        return blocked

    async def blocks(self) -> list[str]:
        blocked: list[str] = (await self.request("blocks"))["blocked"]
        return blocked

    # events

    def __aiter__(self) -> AsyncIterator[Frame]:
        return self.events()

    async def events(self) -> AsyncIterator[Frame]:
        """Server events (``message``, ``message_changed``, ``read``, ``private``, ``presence``,
        ...) and the client's own: ``open`` (``{"reconnect": bool}``), ``close``
        (``{"code": int | None}``), ``reconnecting`` (``{"attempt", "delay"}``), ``gap``
        (``{"room"}``: messages or changes were missed and could not be replayed) and ``rooms``
        (``{"rooms": [...]}``: the room list asked again after a reconnect, see :meth:`rooms`).
        Ends when the client closes."""
        while True:
            try:
                yield await self.next_event()
            except ClientClosed:
                return

    async def next_event(self) -> Frame:
        """The next event (see :meth:`events`); raises :class:`ClientClosed` after the last."""
        event = await self._events.get()
        if event is None:
            self._events.put_nowait(None)  # so every later call ends too
            raise self._closed or ClientClosed()
        return event

    # the socket

    async def _open(self) -> ClientConnection:
        ws = await connect(
            self.url,
            additional_headers=self.headers,
            origin=Origin(self.origin) if self.origin else None,
            open_timeout=self.timeout,
        )
        try:
            async with asyncio.timeout(self.timeout):
                welcome = json.loads(await ws.recv())
        except BaseException:
            await ws.close()
            raise
        if not isinstance(welcome, dict) or welcome.get("type") != "welcome":
            await ws.close()
            raise ClientClosed("the server did not send welcome first")
        self.welcome = welcome
        self.sessions += 1
        return ws

    async def _run(self, ws: ClientConnection) -> None:
        """Run sockets one after the other until the client closes or gives up."""
        while True:
            await self._session(ws, reconnect=self.sessions > 1)
            attempt = 0
            while True:
                if not self.reconnect or self.close_code in _FINAL_CLOSE_CODES:
                    self._stop(ClientClosed("the connection closed", self.close_code))
                    return
                delay = self.backoff.delay(attempt)
                attempt += 1
                self._emit({"type": "reconnecting", "attempt": attempt, "delay": delay})
                await asyncio.sleep(delay)
                try:
                    ws = await self._open()
                    break
                except InvalidStatus as error:
                    if 400 <= error.response.status_code < 500:  # refused: retrying cannot help
                        self.close_code = 4401 if error.response.status_code == 403 else None
                        self._stop(ClientClosed(f"refused: {error}", self.close_code))
                        return
                except (OSError, TimeoutError, WebSocketException, ValueError) as error:
                    log.debug("reconnect attempt %d failed: %s", attempt, error)

    async def _session(self, ws: ClientConnection, reconnect: bool) -> None:
        """Run one socket: rejoin rooms, then dispatch frames until it ends."""
        self._ws = ws
        self._emit({"type": "open", "reconnect": reconnect, "user": self.welcome.get("user")})
        reader = asyncio.create_task(self._read(ws))
        try:
            if not reconnect or await self._rejoin():
                self._ready.set()
            await reader
        finally:
            reader.cancel()
            self._ready.clear()
            self._ws = None
            try:
                await ws.close()
            finally:
                self.close_code = ws.close_code
                lost = ConnectionLost(f"the socket closed ({ws.close_code})")
                for reply in self._pending.values():
                    if not reply.done():
                        reply.set_exception(lost)
                self._emit({"type": "close", "code": ws.close_code})

    async def _rejoin(self) -> bool:
        """Rejoin every room and list the rooms again if asked to before; False if the socket
        was lost meanwhile (the next one retries)."""
        for room in list(self._rooms):
            try:
                await self._resume(room, self._request)
            except ReplyError as error:  # the room is gone, or this user may no longer join it
                self._emit({**error.frame, "room": room})
            except ConnectionLost:
                return False
        if self._listing.get("watch"):
            try:
                reply = await self._request("rooms", self._listing)
            except ReplyError as error:
                self._emit(error.frame)
            except ConnectionLost:
                return False
            else:
                self._emit({"type": "rooms", "rooms": reply["rooms"]})
        return True

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for data in ws:
                try:
                    frame = json.loads(data)
                except ValueError:
                    log.warning("the server sent a frame that is not JSON")
                    continue
                reply = self._pending.get(frame.get("ref")) if "ref" in frame else None
                if reply is not None and frame.get("type") in ("ok", "error"):
                    if not reply.done():
                        reply.set_result(frame)
                elif frame.get("type") in ("message", "message_changed"):
                    self._live(frame)
                elif frame.get("type") == "kicked":
                    self._rooms.pop(frame.get("room"), None)  # out of it: nothing to resume
                    self._emit(frame)
                else:
                    self._emit(frame)

    def _live(self, frame: Frame) -> None:
        """A message, or a change to one: held while its room is being joined, so that it
        comes after the join's history (a change never before its message)."""
        changed = frame.get("message")
        room = changed.get("room") if isinstance(changed, dict) else frame.get("room")
        held = self._joining.get(room) if isinstance(room, str) else None
        if held is not None:
            held.append(frame)  # until the join's history is known
        else:
            self._deliver(frame)

    def _deliver(self, frame: Frame) -> None:
        if frame.get("type") == "message_changed":
            self._emit(frame)  # the message's whole state: passing it on twice does no harm
            return
        room, message_id = frame.get("room"), frame.get("id")
        if not isinstance(room, str) or not isinstance(message_id, int):
            return
        last = self._rooms.get(room)
        if last is not None:
            if message_id <= last:
                return  # seen already (live, and again in a replayed history)
            self._rooms[room] = message_id
        self._emit(frame)

    def _emit(self, event: Frame) -> None:
        self._events.put_nowait(event)

    def _stop(self, reason: ClientClosed) -> None:
        if self._closed is None:
            self._closed = reason
            self._events.put_nowait(None)
            self._ready.set()  # wake waiters so they see the client is closed
