"""A test kit: in-process clients of a :class:`~chatcore.runtime.server.ChatServer`, no sockets.

Like a real client they speak JSON frames; unlike one, they read the server's outbox directly,
so a test can say "every frame sent so far" without sleeping::

    async with ChatServer() as server:
        alice = await LocalClient.connect(server, User(id="1", name="Alice"))
        await alice.call("create_room", room="lobby")
        await alice.call("join", room="lobby")
        assert alice.events("presence")[0]["event"] == "join"
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import anyio

from ..runtime.connection import Connection
from ..runtime.outbox import Closed
from ..runtime.server import ChatServer
from ..wire.errors import CloseCode
from ..wire.errors import ReplyError as ReplyError
from ..wire.values import User

__all__ = ("Frame", "LocalClient", "ReplyError")

Frame = dict[str, Any]


class LocalClient:
    """A client connected in-process. Frames that are not replies collect in :attr:`inbox`."""

    _refs = itertools.count(1)

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.inbox: list[Frame] = []

    @classmethod
    async def connect(cls, server: ChatServer, user: User) -> LocalClient:
        client = cls(await server.connect(user))
        client.pump()
        return client

    @property
    def user(self) -> User:
        return self.connection.user

    @property
    def close_code(self) -> CloseCode | None:
        """Set once the server has closed the connection (the server stopping included)."""
        return self.connection.close_code

    @property
    def welcome(self) -> Frame:
        return next(frame for frame in self.inbox if frame["type"] == "welcome")

    def pump(self) -> list[Frame]:
        """Move every queued frame into :attr:`inbox`; return the new ones."""
        new: list[Frame] = []
        while True:
            try:
                text = self.connection.next_frame_nowait()
            except Closed:
                break  # a closed outbox holds no frame
            if text is None:
                break
            new.append(json.loads(text))
        self.inbox.extend(new)
        return new

    async def send(self, data: Frame | str | bytes) -> None:
        """Send one frame: a dict is sent as JSON, text and bytes as they are."""
        raw = json.dumps(data) if isinstance(data, dict) else data
        await self.connection.receive(raw)
        self.pump()

    async def request(self, kind: str, **fields: Any) -> Frame:
        """Send a frame with a fresh ``ref``; return its reply, ``ok`` or ``error``, with every
        frame queued before it in :attr:`inbox`."""
        ref = next(self._refs)
        await self.connection.receive(json.dumps({"type": kind, "ref": ref, **fields}))
        with anyio.fail_after(5):
            while True:
                self.pump()
                for index, frame in enumerate(self.inbox):
                    if frame.get("ref") == ref and frame["type"] in ("ok", "error"):
                        del self.inbox[index]
                        return frame
                if self.close_code is not None:
                    raise Closed(self.close_code)
                # A reply made in another task (a pipelined send's post): wait for the next
                # frame. Not for every task to be idle: with periodic tasks (a Redis broker's
                # heartbeats) that moment may never be seen.
                self.inbox.append(json.loads(await self.connection.next_frame()))

    async def call(self, kind: str, **fields: Any) -> Frame:
        """Like :meth:`request`, but an ``error`` reply raises :class:`ReplyError`."""
        reply = await self.request(kind, **fields)
        if reply["type"] == "error":
            raise ReplyError(reply)
        return reply

    def events(self, kind: str | None = None) -> list[Frame]:
        """Take the collected frames of type ``kind`` (all types if None) out of the inbox."""
        self.pump()
        taken: list[Frame] = []
        kept: list[Frame] = []
        for frame in self.inbox:
            (taken if kind is None or frame["type"] == kind else kept).append(frame)
        self.inbox = kept
        return taken

    async def close(self) -> None:
        """Drop the connection, as a closed socket would."""
        self.pump()
        await self.connection.close()
