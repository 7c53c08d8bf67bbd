"""The broker contract: fan-out between processes, and presence across them.

One broker object serves one server process. Its contract (``docs/backends.md``):

Fan-out
    :meth:`publish` hands the envelope to the ``deliver`` callback of every process subscribed to
    ``envelope.target.channel``, the publishing process included, in publish order per channel,
    each exactly once while the broker is healthy. ``rooms`` is subscribed by every process.
    A broker whose :attr:`~Broker.orders_messages` is true delivers a room's ``message`` events
    in id order even when they are published out of order (as they may be by several
    processes, or by posts that overlap); it delivers a ``message_changed`` envelope after
    message ``envelope.after`` of its room, and may drop one whose ``envelope.version`` is older
    than one it delivered for that message.

Presence
    Presence is kept per (room, user, process). :meth:`join` returns True when the user was not
    present in the room in any process; :meth:`leave` removes this process's entry and returns
    True when no process has the user in the room any more. Entries of a process that dies are
    removed within the broker's expiry time, and their ``leave`` announced once: the process
    that finds them delivers ``Envelope(ToRoom(room), None, effect=Departed(room, users))`` to
    itself alone, once per room, and its server announces them (a ``presence`` leave each, or
    an ``occupancy`` count in a large room) and drops rooms that vanish with their last
    member.

Online
    :meth:`connect`/:meth:`disconnect` mark this process as holding connections of a user;
    :meth:`is_online` is true while any process does.

Large rooms (``chatcore.backends.presence``)
    :meth:`enter` and :meth:`exit` are :meth:`join` and :meth:`leave` that also say how many
    users are present after them (the runtime uses these). :meth:`members_page` lists a room's
    members in ``member_key`` order from a cursor, optionally only names with a prefix, at a
    cost that does not grow with the room. :meth:`claim_occupancy` applies
    ``occupancy_claim`` to the room's present count atomically across processes, with the
    caller's ``now``, so one count per room per interval is sent in all.

Online status
    :meth:`come_online` / :meth:`go_offline` are :meth:`connect` / :meth:`disconnect` that say
    whether the user came online in the first process / went offline in the last one;
    :meth:`online` tells which of several users are online.

Loss
    A broker whose link may lose envelopes for this process (its subscription connection
    broke) delivers ``Envelope.link(lost=True)`` (effect ``LinkLost``) to its own process
    once per loss, and ``Envelope.link(lost=False)`` (``LinkRestored``) once every subscription
    is confirmed again; the runtime then fills each room's gap from the store
    (``runtime._gap_fill``). It carries ``message_id`` and ``version`` across processes.

Any method may raise :class:`~chatcore.wire.errors.Unavailable` when the backend cannot be reached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from anyio.abc import TaskStatus

from ..wire.values import User
from .envelope import Envelope
from .presence import Claim, MembersPage, PresenceChange

__all__ = ("Broker", "Deliver")

Deliver = Callable[[Envelope], None]


class Broker(Protocol):
    @property
    def orders_messages(self) -> bool:
        """Whether a room's ``message`` events reach every process in id order whatever order
        they were published in (see the contract above)."""
        ...

    async def run(self, deliver: Deliver, *, task_status: TaskStatus[None]) -> None:
        """Serve until cancelled; report started once envelopes can flow."""
        ...

    # fan-out
    async def publish(self, envelope: Envelope) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    # presence
    async def join(self, room: str, user: User) -> bool: ...

    async def leave(self, room: str, user_id: str) -> bool: ...

    async def members(self, room: str) -> list[User]: ...

    async def counts(self, rooms: list[str]) -> dict[str, int]: ...

    async def clear(self, room: str) -> None:
        """Forget every presence entry of a deleted room."""
        ...

    async def update_user(self, user: User) -> list[str]:
        """Show ``user`` with its new name and avatar; return the rooms they are present in."""
        ...

    # online
    async def connect(self, user: User) -> None: ...

    async def disconnect(self, user_id: str) -> None: ...

    async def is_online(self, user_id: str) -> bool: ...

    # large rooms
    async def enter(self, room: str, user: User) -> PresenceChange: ...

    async def exit(self, room: str, user_id: str) -> PresenceChange: ...

    async def members_page(
        self, room: str, after: str | None, limit: int, query: str | None = None
    ) -> MembersPage: ...

    async def claim_occupancy(
        self, room: str, now: int, interval: int, limit: int, scale: int = 0
    ) -> Claim: ...

    # online status
    async def come_online(self, user: User) -> bool: ...

    async def go_offline(self, user_id: str) -> bool: ...

    async def online(self, user_ids: list[str]) -> list[str]: ...
