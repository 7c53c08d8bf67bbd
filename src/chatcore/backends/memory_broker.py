"""The in-memory broker: one process by default, or several servers in one event loop.

Servers that share a :class:`MemoryBus` behave like processes sharing a Redis: each has its own
:class:`MemoryBroker`, subscriptions and presence entries. Tests use that to check cross-process
behaviour without a network.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import anyio
from anyio.abc import TaskStatus

from ..wire.values import User
from .broker import Deliver
from .envelope import Departed, Envelope, ToRoom
from .presence import Claim, MemberIndex, MembersPage, PresenceChange, occupancy_claim

__all__ = ("MemoryBroker", "MemoryBus")


class MemoryBus:
    """Shared state of the in-memory brokers attached to it."""

    def __init__(self) -> None:
        self.brokers: dict[int, MemoryBroker] = {}
        # room -> user id -> process ids that hold the user in the room
        self.presence: dict[str, dict[str, set[int]]] = defaultdict(dict)
        self.users: dict[str, User] = {}
        # user id -> process ids holding connections of the user
        self.online: dict[str, set[int]] = defaultdict(set)
        # room -> its members' keys, sorted (pages, prefix queries)
        self.index: dict[str, MemberIndex] = {}
        # room -> (count, ms) of its last occupancy sent
        self.occupancy: dict[str, tuple[int, int]] = {}
        self._ids = itertools.count(1)

    def attach(self, broker: MemoryBroker) -> int:
        process = next(self._ids)
        self.brokers[process] = broker
        return process

    def detach(self, process: int) -> None:
        self.brokers.pop(process, None)


class MemoryBroker:
    """A :class:`~chatcore.backends.broker.Broker` held in memory."""

    #: Envelopes are delivered as they are published.
    orders_messages = False

    def __init__(self, bus: MemoryBus | None = None) -> None:
        self.bus = bus if bus is not None else MemoryBus()
        self.process = self.bus.attach(self)
        self.channels: set[str] = set()
        self._deliver: Deliver | None = None

    async def run(self, deliver: Deliver, *, task_status: TaskStatus[None]) -> None:
        self._deliver = deliver
        try:
            task_status.started()
            await anyio.sleep_forever()
        finally:
            self._deliver = None
            self._forget_process()

    def _forget_process(self) -> None:
        """This process stops, as a dead one would with Redis, but at once: its presence
        entries are removed and their ``leave`` announced to the other processes, one of which
        also gets ``Departed(room)`` (see the broker contract). A server started again on this
        broker then finds no member or online user of its last run."""
        self.channels.clear()
        bus = self.bus
        left: list[tuple[str, User]] = []
        for room, members in list(bus.presence.items()):
            for user_id, holders in list(members.items()):
                if self.process in holders:
                    holders.discard(self.process)
                    if not holders:
                        del members[user_id]
                        bus.index[room].remove(user_id)
                        left.append((room, bus.users[user_id]))
            if not members:
                del bus.presence[room]
                bus.index.pop(room, None)
        for user_id, holders in list(bus.online.items()):
            holders.discard(self.process)
            if not holders:
                del bus.online[user_id]
        for room, user in left:
            self._deliver_all(Envelope.presence(room, "leave", user))
        announcer = next((b for b in bus.brokers.values() if b._deliver is not None), None)
        if announcer is not None and announcer._deliver is not None:
            for room in dict.fromkeys(room for room, _ in left):
                announcer._deliver(Envelope(ToRoom(room), None, effect=Departed(room)))

    async def publish(self, envelope: Envelope) -> None:
        self._deliver_all(envelope)

    def _deliver_all(self, envelope: Envelope) -> None:
        channel = envelope.target.channel
        for broker in list(self.bus.brokers.values()):
            if channel in broker.channels and broker._deliver is not None:
                broker._deliver(envelope)

    async def subscribe(self, channel: str) -> None:
        self.channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)

    async def join(self, room: str, user: User) -> bool:
        return (await self.enter(room, user)).changed

    async def leave(self, room: str, user_id: str) -> bool:
        return (await self.exit(room, user_id)).changed

    async def enter(self, room: str, user: User) -> PresenceChange:
        members = self.bus.presence[room]
        holders = members.setdefault(user.id, set())
        first = not holders
        holders.add(self.process)
        self.bus.users[user.id] = user
        if first:
            index = self.bus.index.get(room)
            if index is None:
                index = self.bus.index[room] = MemberIndex()
            index.add(user)
        return PresenceChange(first, len(members))

    async def exit(self, room: str, user_id: str) -> PresenceChange:
        members = self.bus.presence.get(room)
        if members is None or user_id not in members:
            return PresenceChange(False, 0 if members is None else len(members))
        holders = members[user_id]
        holders.discard(self.process)
        if holders:
            return PresenceChange(False, len(members))
        del members[user_id]
        self.bus.index[room].remove(user_id)
        if not members:
            del self.bus.presence[room]
            del self.bus.index[room]
        return PresenceChange(True, len(members))

    async def members_page(
        self, room: str, after: str | None, limit: int, query: str | None = None
    ) -> MembersPage:
        index = self.bus.index.get(room)
        if index is None:
            return MembersPage([], 0, None)
        ids, after = index.page(after, limit, query)
        users = self.bus.users
        return MembersPage([users[user_id] for user_id in ids], len(index), after)

    async def claim_occupancy(
        self, room: str, now: int, interval: int, limit: int, scale: int = 0
    ) -> Claim:
        count = len(self.bus.presence[room]) if room in self.bus.presence else 0
        records = self.bus.occupancy
        claim, record, write = occupancy_claim(
            count, records.get(room), now, interval, limit, scale
        )
        if write:
            if record is None:
                records.pop(room, None)
            else:
                records[room] = record
        return claim

    async def members(self, room: str) -> list[User]:
        return [self.bus.users[user_id] for user_id in self.bus.presence.get(room, {})]

    async def counts(self, rooms: list[str]) -> dict[str, int]:
        presence = self.bus.presence
        return {room: len(presence[room]) if room in presence else 0 for room in rooms}

    async def clear(self, room: str) -> None:
        self.bus.presence.pop(room, None)
        self.bus.index.pop(room, None)
        self.bus.occupancy.pop(room, None)

    async def update_user(self, user: User) -> list[str]:
        self.bus.users[user.id] = user
        rooms = [room for room, members in self.bus.presence.items() if user.id in members]
        for room in rooms:
            self.bus.index[room].add(user)  # its place by name
        return rooms

    async def connect(self, user: User) -> None:
        await self.come_online(user)

    async def disconnect(self, user_id: str) -> None:
        await self.go_offline(user_id)

    async def come_online(self, user: User) -> bool:
        self.bus.users[user.id] = user
        holders = self.bus.online[user.id]
        first = not holders
        holders.add(self.process)
        return first

    async def go_offline(self, user_id: str) -> bool:
        holders = self.bus.online.get(user_id)
        if holders is None or self.process not in holders:
            return False
        holders.discard(self.process)
        if holders:
            return False
        del self.bus.online[user_id]
        return True

    async def online(self, user_ids: list[str]) -> list[str]:
        online = self.bus.online
        return [user_id for user_id in user_ids if online.get(user_id)]

    async def is_online(self, user_id: str) -> bool:
        return bool(self.bus.online.get(user_id))
