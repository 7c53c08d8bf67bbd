"""Bots: users run by the application, through the hooks and the application API.

A :class:`Bot` connects to the server when it starts (so it shows in its rooms' member
lists), joins its rooms, and answers ``/command`` messages: a ``message_posted`` listener hears
the command and :meth:`ChatServer.post <chatcore.ChatServer.post>` sends the answer, as a reply
to it. See docs/hooks.md.
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
from .wire.values import Message, User

__all__ = ("Bot", "Command")

log = logging.getLogger("chatcore.bots")

#: ``command(args, message)``: the answer's text, or None for no answer.
Command = Callable[[str, Message], Awaitable[str | None]]


class Bot:
    """A bot ``user`` in ``rooms`` (and, with ``join_new_rooms``, every group room created
    later) that answers ``/name args`` messages with the :meth:`command` named ``name``."""

    def __init__(
        self,
        user: User,
        *,
        rooms: Sequence[str] = (),
        join_new_rooms: bool = False,
        prefix: str = "/",
    ) -> None:
        self.user = user
        self.rooms = tuple(rooms)
        self.join_new_rooms = join_new_rooms
        self.prefix = prefix
        self.commands: dict[str, Command] = {}
        self.server: ChatServer | None = None
        self._connection: Connection | None = None
        self._ready: anyio.Event | None = None  # set once connected
        self._refs = itertools.count(1)
        self._waiting: dict[int, anyio.Event] = {}
        self._replies: dict[int, dict[str, Any]] = {}

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
        """Connect and join the bot's rooms (called when the server starts)."""
        self.server = server
        self._connection = await server.connect(self.user)
        server.spawn(self._read, self._connection)
        if self._ready is not None:
            self._ready.set()
        for room in self.rooms:
            await self.join(room)

    async def join(self, room: str) -> bool:
        """Join ``room`` (its members see the bot); whether it could."""
        reply = await self._request("join", room=room)
        if reply["type"] != "ok":
            log.warning("bot %s could not join %s: %s", self.user.id, room, reply.get("message"))
            return False
        return True

    def answers_in(self, room: str) -> bool:
        return room in self.rooms or (self.join_new_rooms and not room.startswith("dm-"))

    async def _heard(self, event: ChatEvent) -> None:
        if event.kind == "room_created":
            info = event.room_info
            if self.join_new_rooms and info is not None and not info.is_direct:
                await self.join(info.name)
            return
        message = event.message
        if message is None or message.sender.id == self.user.id or self.server is None:
            return
        if not message.text.startswith(self.prefix) or not self.answers_in(message.room):
            return
        name, _, args = message.text[len(self.prefix) :].partition(" ")
        command = self.commands.get(name)
        if command is None:
            return
        answer = await command(args.strip(), message)
        if answer:
            try:
                await self.server.post(message.room, answer, sender=self.user, reply_to=message.id)
            except ChatError as error:  # the room went away, say
                log.warning("bot %s could not answer in %s: %s", self.user.id, message.room, error)

    async def _request(self, kind: str, **fields: Any) -> dict[str, Any]:
        while self._connection is None:  # the server is starting: wait for it
            if self._ready is None:
                self._ready = anyio.Event()
            with anyio.fail_after(10):
                await self._ready.wait()
        connection = self._connection
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
