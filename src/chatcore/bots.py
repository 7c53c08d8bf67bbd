"""Bots: users run by the application, through the hooks and the application API.

A :class:`Bot` has a connection of its own to the server (so it shows in its rooms' member
lists), joins rooms, and answers ``/command`` messages: a ``message_posted`` listener hears the
command and :meth:`ChatServer.post <chatcore.ChatServer.post>` sends the answer, as a reply to
it. See docs/hooks.md.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from .hooks import ChatEvent, Hooks
from .runtime.connection import Connection
from .runtime.server import ChatServer
from .wire.errors import ChatError
from .wire.values import DIRECT_PREFIX, Message, User

__all__ = ("Bot", "Command")

log = logging.getLogger("chatcore.bots")

#: ``command(args, message)``: the answer's text, or None for no answer.
Command = Callable[[str, Message], Awaitable[str | None]]


class Bot:
    """A bot that answers ``/name args`` messages with the :meth:`command` named ``name``.

    ``user`` is the bot's user, or an async function that returns it (called when the bot
    first connects: say, to make its account). The bot joins ``rooms`` when the server starts,
    and every group room created later with ``join_new_rooms``; with ``answer_everywhere`` it
    answers in every group room, joining one when it first answers there (it connects then,
    not before).
    """

    def __init__(
        self,
        user: User | Callable[[], Awaitable[User]],
        *,
        rooms: Sequence[str] = (),
        join_new_rooms: bool = False,
        answer_everywhere: bool = False,
        prefix: str = "/",
    ) -> None:
        self._user = user
        self.rooms = tuple(rooms)
        self.join_new_rooms = join_new_rooms
        self.answer_everywhere = answer_everywhere
        self.prefix = prefix
        self.commands: dict[str, Command] = {}
        self.server: ChatServer | None = None
        self._connection: Connection | None = None
        self._connecting: anyio.Lock | None = None
        self._started: anyio.Event | None = None  # set when ``start`` has run
        self._joined: set[str] = set()
        self._refs = itertools.count(1)
        self._waiting: dict[int, anyio.Event] = {}
        self._replies: dict[int, dict[str, Any]] = {}

    @property
    def user(self) -> User:
        """The bot's user (once connected, if it was given as a function)."""
        if not isinstance(self._user, User):
            raise RuntimeError("the bot's user is known once it connected")
        return self._user

    def command(self, name: str) -> Callable[[Command], Command]:
        """Decorator: answer ``/name ...`` with this function."""

        def add(function: Command) -> Command:
            self.commands[name] = function
            return function

        return add

    def install(self, hooks: Hooks) -> None:
        """Run this bot with the server that runs ``hooks``."""
        hooks.on_start(self.start)
        hooks.add_listener(self._heard, "message_posted", "room_created")

    async def start(self, server: ChatServer) -> None:
        """The server started: join the bot's rooms (if it has any to join now)."""
        if server is not self.server:  # a new server (or the first): a new connection
            self.server = server
            self._connection = None
            self._joined.clear()
            if self._started is not None:
                self._started.set()
        if self.rooms or self.join_new_rooms:
            await self._connect()
        for room in self.rooms:
            await self.join(room)

    async def join(self, room: str) -> bool:
        """Join ``room`` (its members see the bot); whether it could."""
        reply = await self._request("join", room=room)
        if reply["type"] != "ok":
            log.warning("bot could not join %s: %s", room, reply.get("message"))
            return False
        self._joined.add(room)
        return True

    def answers_in(self, room: str) -> bool:
        if room.startswith(DIRECT_PREFIX):
            return room in self.rooms
        return self.answer_everywhere or self.join_new_rooms or room in self.rooms

    async def _heard(self, event: ChatEvent) -> None:
        if event.kind == "room_created":
            info = event.room_info
            if self.join_new_rooms and info is not None and not info.is_direct:
                await self.join(info.name)
            return
        message = event.message
        server = self.server
        if message is None or server is None or not message.text.startswith(self.prefix):
            return
        if isinstance(self._user, User) and message.sender.id == self._user.id:
            return
        name, _, args = message.text[len(self.prefix) :].partition(" ")
        command = self.commands.get(name)
        if command is None or not self.answers_in(message.room):
            return
        answer = await command(args.strip(), message)
        if not answer:
            return
        try:
            if message.room not in self._joined:
                await self.join(message.room)
            await server.post(message.room, answer, sender=self.user, reply_to=message.id)
        except ChatError as error:  # the room went away, say
            log.warning("bot could not answer in %s: %s", message.room, error)

    async def _connect(self) -> Connection:
        if self._connecting is None:
            self._connecting = anyio.Lock()
        async with self._connecting:
            if self._connection is None:
                while self.server is None:  # the server is starting: its hook comes soon
                    if self._started is None:
                        self._started = anyio.Event()
                    with anyio.fail_after(10):
                        await self._started.wait()
                server = self.server
                if not isinstance(self._user, User):
                    self._user = await self._user()
                self._connection = await server.connect(self._user)
                server.spawn(self._read, self._connection)
            return self._connection

    async def _request(self, kind: str, **fields: Any) -> dict[str, Any]:
        connection = await self._connect()
        ref = next(self._refs)
        done = self._waiting[ref] = anyio.Event()
        await connection.receive(json.dumps({"type": kind, "ref": ref, **fields}))
        with anyio.fail_after(10):
            await done.wait()
        return self._replies.pop(ref)

    async def _read(self, connection: Connection) -> None:
        """Read the bot's frames (its outbox must not fill up): replies to its requests go to
        them; events are dropped."""
        async for text in connection.frames():
            if '"ref"' not in text:
                continue
            frame = json.loads(text)
            done = self._waiting.pop(frame.get("ref"), None)
            if done is not None and frame["type"] in ("ok", "error"):
                self._replies[frame["ref"]] = frame
                done.set()
