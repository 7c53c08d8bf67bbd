"""Test doubles of the backends: a store and a broker that fail on demand."""

from __future__ import annotations

from typing import Any

from chatcore import MemoryBroker, MemoryStore
from chatcore.backends.envelope import Envelope
from chatcore.backends.presence import MembersPage, PresenceChange
from chatcore.backends.store import Appended, HistoryPage
from chatcore.wire.values import Room, User


class Failures:
    """Which methods fail, and with what."""

    def __init__(self) -> None:
        self.raising: dict[str, Exception] = {}

    def check(self, method: str) -> None:
        error = self.raising.get(method)
        if error is not None:
            raise error


class FlakyStore(MemoryStore):
    """A :class:`MemoryStore` whose methods raise what :attr:`failures` says."""

    def __init__(self, history_size: int = 1_000) -> None:
        super().__init__(history_size)
        self.failures = Failures()

    async def create_room(self, room: Room) -> None:
        self.failures.check("create_room")
        await super().create_room(room)

    async def get_room(self, name: str) -> Room | None:
        self.failures.check("get_room")
        return await super().get_room(name)

    async def list_rooms(self, user_id: str) -> list[Room]:
        self.failures.check("list_rooms")
        return await super().list_rooms(user_id)

    async def append(
        self,
        room: str,
        sender: User,
        text: str,
        ts: int,
        client_id: str | None = None,
        **fields: Any,
    ) -> Appended:
        self.failures.check("append")
        return await super().append(room, sender, text, ts, client_id, **fields)

    async def history(
        self, room: str, *, limit: int, after: int | None = None, before: int | None = None
    ) -> HistoryPage:
        self.failures.check("history")
        return await super().history(room, limit=limit, after=after, before=before)


class FlakyBroker(MemoryBroker):
    """A :class:`MemoryBroker` whose methods raise what :attr:`failures` says."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = Failures()

    async def publish(self, envelope: Envelope) -> None:
        self.failures.check("publish")
        await super().publish(envelope)

    async def join(self, room: str, user: User) -> bool:
        self.failures.check("join")
        return await super().join(room, user)

    async def members(self, room: str) -> list[User]:
        self.failures.check("members")
        return await super().members(room)

    async def connect(self, user: User) -> None:
        self.failures.check("connect")
        await super().connect(user)

    async def disconnect(self, user_id: str) -> None:
        self.failures.check("disconnect")
        await super().disconnect(user_id)

    async def is_online(self, user_id: str) -> bool:
        self.failures.check("is_online")
        return await super().is_online(user_id)

    # (the runtime's calls: each fails as the v1 method of the same job does)
    async def enter(self, room: str, user: User) -> PresenceChange:
        self.failures.check("join")
        return await super().enter(room, user)

    async def members_page(
        self, room: str, after: str | None, limit: int, query: str | None = None
    ) -> MembersPage:
        self.failures.check("members")
        return await super().members_page(room, after, limit, query)

    async def come_online(self, user: User) -> bool:
        self.failures.check("connect")
        return await super().come_online(user)

    async def go_offline(self, user_id: str) -> bool:
        self.failures.check("disconnect")
        return await super().go_offline(user_id)
