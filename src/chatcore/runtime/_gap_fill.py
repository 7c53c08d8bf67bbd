"""Broker outages without a reconnect storm: each room's gap is filled from the store.

Theory of operation
-------------------
For every room with local connections the process knows the newest message id it delivered
(its *cursor*: set by the ``message`` envelopes it delivers, or by the history read of the
join that subscribed the room) and the newest version of each message whose change it
delivered. A broker delivers :meth:`Envelope.link` notices to its own process
(``docs/backends.md``, "Outages"):

===================  ========================================================================
notice               what happens
===================  ========================================================================
``LinkLost``         every room channel of the process is *held*: envelopes for it that
                     arrive from now on wait in a list, in order
``LinkRestored``     the subscriptions are back, so anything published from now on arrives
                     (held). One task per held room reads what came after its cursor
                     (``history`` with ``after``, then ``changes`` with ``since``) and, with no
                     await in between, delivers it in the room's order (each change after the
                     message it was made after), then the held envelopes minus what the read
                     already gave: messages up to the new cursor, changes no newer than the
                     versions delivered. The room is live again.
gap not covered      the store no longer holds every message or change after the cursor (or
                     more than ``Limits.history_size`` messages were missed), or the store
                     cannot be read after a few tries: the room's connections are closed with
                     1013 and their clients resume with ``join``/``since``.
lost again           a fill that ends after a newer ``LinkLost`` delivers nothing: the next
                     ``LinkRestored`` fills the room again, from the same cursor.
===================  ========================================================================

The module also gives each room a *token* that changes with every message or change delivered
to it (and with every outage); :mod:`chatcore.runtime._shared_reads` lets a read join an
identical one in flight only while the room's token is the one that read started with.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator

import anyio

from ..backends.envelope import Envelope, LinkLost, LinkRestored, RoomRemoved, ToRoom
from ..backends.store import Change, Store
from ..wire.errors import ChatError, CloseCode
from ..wire.limits import Limits
from ..wire.values import Message
from .hub import Hub

__all__ = ("GapFill",)

log = logging.getLogger("chatcore")

#: Versions kept per room for skipping changes delivered already (older ones are forgotten:
#: the worst that follows is a change delivered twice, the same state both times).
_VERSIONS_KEPT = 256
#: Tries to read a room's gap before its connections are closed (the store may be coming back
#: with the broker), and the pause between them, in seconds.
_TRIES, _PAUSE = 3, 0.5


class GapFill:
    """The gap filling of one server: ``hub()`` is its current hub, ``deliver`` hands an
    envelope to it, ``spawn`` starts a short task."""

    def __init__(
        self,
        store: Store,
        limits: Limits,
        hub: Callable[[], Hub],
        deliver: Callable[[Envelope], None],
        spawn: Callable[..., None],
    ) -> None:
        self._store = store
        self._limits = limits
        self._hub = hub
        self._deliver = deliver
        self._spawn = spawn
        self._cursors: dict[str, int | None] = {}
        self._versions: dict[str, dict[int, int]] = {}
        self._ticks: dict[str, int] = {}
        #: Rooms whose subscription is known to be in place (see ``token``).
        self._confirmed: set[str] = set()
        self._counter = itertools.count(1)
        self._epoch = 0
        #: Rooms whose envelopes wait for their fill, each with the envelopes held.
        self._held: dict[str, list[Envelope]] = {}
        #: Whether the link is down (between LinkLost and LinkRestored).
        self._lost = False
        #: Counts the fills done and the connections closed, for tests and metrics.
        self.filled = 0
        self.closed_rooms = 0

    # the token of shared reads

    def token(self, room: str) -> tuple[int, int] | None:
        """Changes whenever a message or change of ``room`` is delivered, the room is removed,
        or the link breaks; None unless the room's channel is subscribed (the subscription
        made by a join completed, and a local connection is still there), when nothing this
        process receives tells of its changes."""
        if room not in self._confirmed or not self._hub().has_local(room):
            return None
        return self._epoch, self._ticks.get(room, 0)

    # what the runtime tells

    def subscribing(self, room: str) -> None:
        """The room's channel is about to be subscribed anew: what was known of it is stale."""
        self._cursors[room] = None
        self._versions.pop(room, None)
        self._confirmed.discard(room)
        self._ticks[room] = next(self._counter)

    def subscribed(self, room: str) -> None:
        """The room's channel is subscribed: from now on whatever changes the room reaches this
        process (and moves its token), so identical reads may be shared."""
        self._confirmed.add(room)

    def joined(self, room: str, last_id: int) -> None:
        """A join read the room's history up to ``last_id``: a cursor if none is known yet
        (messages delivered since the subscription are known; the read saw at least those)."""
        if self._cursors.get(room) is None:
            self._cursors[room] = last_id
        self._confirmed.add(room)  # the join that subscribed it returned: it is subscribed
        if len(self._cursors) > 64 + 2 * len(self._held) + 2 * len(self._hub().conns):
            self._prune()

    def hold(self, envelope: Envelope) -> bool:
        """Take note of an envelope the broker delivers; True if this module took it (a link
        notice, or an envelope held for a room being filled), False if it is to be delivered."""
        effect = envelope.effect
        if effect is not None:
            if type(effect) is LinkLost:
                self._link_lost()
                return True
            if type(effect) is LinkRestored:
                self._link_restored()
                return True
            if type(effect) is RoomRemoved:
                self._ticks[effect.room] = next(self._counter)  # a room of that name is new
        target = envelope.target
        if type(target) is ToRoom:
            room = target.room
            if self._held:
                held = self._held.get(room)
                if held is not None:
                    held.append(envelope)
                    return True
            if envelope.message_id is not None or envelope.version is not None:
                self._note(room, envelope)
        return False

    # the outage

    def _link_lost(self) -> None:
        self._epoch += 1
        if self._lost:
            return
        self._lost = True
        for room in self._hub().local_rooms():
            self._held.setdefault(room, [])

    def _link_restored(self) -> None:
        if not self._lost:
            return
        self._lost = False
        epoch = self._epoch
        log.info("the broker's link is back: filling the gaps of %d rooms", len(self._held))
        for room in list(self._held):
            self._spawn(self._fill, room, epoch)

    async def _fill(self, room: str, epoch: int) -> None:
        cursor = self._cursors.get(room)
        read: tuple[list[Message], list[Change]] | None = None
        if cursor is not None:
            for attempt in range(_TRIES):
                try:
                    read = await self._read(room, cursor)
                    break
                except ChatError as error:
                    log.warning("could not read the gap of %s (%r)", room, error)
                except Exception:
                    log.exception("reading the gap of %s failed", room)
                if attempt + 1 < _TRIES:
                    await anyio.sleep(_PAUSE)
        if epoch != self._epoch:
            return  # the link broke again meanwhile: the next restore fills the room
        held = self._held.pop(room, [])
        if cursor is not None:
            if read is None:
                self._close(room)
            else:
                count = 0
                for envelope in self._in_order(room, *read):
                    self._note(room, envelope)
                    self._deliver(envelope)
                    count += 1
                self.filled += 1
                log.debug("filled the gap of %s after %d: %d events", room, cursor, count)
        for envelope in held:
            if not self._delivered(room, envelope):
                self._note(room, envelope)
                self._deliver(envelope)

    async def _read(self, room: str, cursor: int) -> tuple[list[Message], list[Change]] | None:
        """The messages after ``cursor`` and the changes since, or None when the store no
        longer covers the gap."""
        limits = self._limits
        page_size = min(limits.resume_limit, limits.history_size)
        page = await self._store.history(room, limit=page_size, after=cursor)
        if cursor > page.last_id:
            return None  # the room was made again: nothing of it is known
        messages = list(page.messages)
        while page.more and messages and len(messages) < limits.history_size:
            page = await self._store.history(
                room, limit=page_size, after=cursor, before=messages[0].id
            )
            messages[:0] = page.messages
        first = messages[0].id if messages else page.last_id + 1
        if page.more or first != cursor + 1:
            return None
        log_page = await self._store.changes(room, since=cursor, limit=limits.resume_limit)
        if log_page.gap:
            return None
        return messages, list(log_page.changes)

    def _in_order(
        self, room: str, messages: list[Message], changes: list[Change]
    ) -> Iterator[Envelope]:
        """The room's events in its order: each change after the message it was made after;
        changes delivered already are left out."""
        delivered = self._versions.get(room, {})
        pending = iter(changes)
        change = next(pending, None)
        for message in messages:
            while change is not None and change.after < message.id:
                if delivered.get(change.message.id, -1) < change.message.version:
                    yield Envelope.changed(change)
                change = next(pending, None)
            yield Envelope.message(message)
        while change is not None:
            if delivered.get(change.message.id, -1) < change.message.version:
                yield Envelope.changed(change)
            change = next(pending, None)

    def _close(self, room: str) -> None:
        """The gap is not covered: the room's clients resume by themselves."""
        sessions = self._hub().room_sessions(room)
        log.warning(
            "the gap of %s is not in the store; closing %d connections", room, len(sessions)
        )
        for session in sessions:
            session.outbox.close(CloseCode.TRY_AGAIN_LATER)
        self.closed_rooms += 1
        self._cursors[room] = None

    # bookkeeping

    def _note(self, room: str, envelope: Envelope) -> None:
        message_id = envelope.message_id
        if message_id is not None:
            cursor = self._cursors.get(room)
            if cursor is None or message_id > cursor:
                self._cursors[room] = message_id
            self._ticks[room] = next(self._counter)
        elif envelope.version is not None:
            versions = self._versions.setdefault(room, {})
            id, version = envelope.version
            if version > versions.get(id, -1):
                versions.pop(id, None)
                versions[id] = version
                if len(versions) > _VERSIONS_KEPT:
                    del versions[next(iter(versions))]
            self._ticks[room] = next(self._counter)

    def _delivered(self, room: str, envelope: Envelope) -> bool:
        """Whether the fill gave this held envelope's event already."""
        message_id = envelope.message_id
        if message_id is not None:
            cursor = self._cursors.get(room)
            return cursor is not None and message_id <= cursor
        if envelope.version is not None:
            id, version = envelope.version
            return version <= self._versions.get(room, {}).get(id, -1)
        return False

    def _prune(self) -> None:
        hub = self._hub()
        for room in [room for room in self._cursors if not hub.has_local(room)]:
            if room not in self._held:
                del self._cursors[room]
                self._confirmed.discard(room)
                self._versions.pop(room, None)
                self._ticks.pop(room, None)
