"""The store contract: rooms, and each room's history.

Contract (``docs/backends.md``), for every implementation:

- room names are unique: :meth:`create_room` raises :class:`~chatcore.wire.errors.RoomExists`;
  :meth:`update_room` and :meth:`delete_room` raise :class:`~chatcore.wire.errors.NoSuchRoom`;
- :meth:`append` gives a room's messages ids 1, 2, 3, ... with no gaps, even when several
  processes append at once; an append that repeats a (sender, ``client_id``) pair seen recently
  in the room stores nothing and returns the first message with ``created=False``;
- deleting a room deletes its history; a room created again with the same name starts at id 1;
- with :attr:`~Store.pipelined` true, appends may overlap: appends started one after another
  (each called before the previous one returned) take ids in the order they were started, and
  each publishes its own ``message`` event (:attr:`Appended.published`);
- :meth:`history` returns messages in id order, in their current state, the newest ``limit``
  of those with ``after < id < before``, with ``more`` true when older ones in that range were
  left out and ``last_id`` the room's newest id (0 when empty).

The room event log: besides appends, a room's history takes *changes* (an edit, a deletion,
new reactions) to messages it still holds. Each is one call, :meth:`change`, which replaces
the message by its new state if nobody changed it since it was read (its ``version`` is one
more than the stored one; otherwise nothing happens and it returns None, and the caller reads
again and retries). A change takes the next number of the room's change counter (``seq``: 1,
2, 3, ... with no gaps) and records the room's newest message id when it was made
(``after``), so it has a place among the appends; :meth:`changes` returns those made after
message ``since`` was appended (``after >= since``), oldest first, for a client that resumes.
A store keeps at least the newest ``history_size`` changes of a room; ``gap`` is true when one
it should return is no longer kept. With :attr:`~Store.pipelined` true and a broker, a change
publishes its ``message_changed`` event in the same atomic step (``Change.published``),
unless told not to (reactions are sent in batches, see ``runtime._reaction_batches``).

Read marks: per (room, user), the id up to which the user has read the room. :meth:`mark_read`
moves it forward only, never past the room's newest id; with ``id`` None it creates the mark
at the newest id if the user has none (a first join) and otherwise leaves it. A user *belongs*
to the rooms they have a mark in and to their direct rooms (mark 0 until they set one);
:meth:`reading` gives each of them with its mark and unread count: the messages after the mark
that the user did not send and that are not deleted, counted up to :data:`UNREAD_CAP`.
Deleting a room deletes its changes and marks.

Moderation (docs/protocol.md, "Moderation"): per room, the moderators, and a ban and a mute
per user (:class:`~chatcore.wire.moderation.Sanction`, kept as given: the server decides
whether one is still active); the audit log, whose entries take ids 1, 2, 3, ... per room and
come back newest first; per user, the users they block. A private room's invited users are
its :attr:`Room.users <chatcore.wire.values.Room.users>`, changed by :meth:`update_access` in
one atomic step. A room's moderation state (roles, sanctions, log) goes with the room when it
is deleted; a room created again with the same name starts with none. Blocks are the users'.

Any method may raise :class:`~chatcore.wire.errors.Unavailable` when the backend cannot be reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from ..wire.moderation import AuditEntry, AuditPage, Sanction, SanctionKind, Standing
from ..wire.values import ChangeKind, Message, Room, User

__all__ = ("UNREAD_CAP", "Appended", "Change", "ChangePage", "HistoryPage", "Reading", "Store")

#: Unread counts stop at this (a client shows "100+").
UNREAD_CAP = 100


@attrs.frozen
class HistoryPage:
    messages: tuple[Message, ...]
    more: bool
    last_id: int


@attrs.frozen
class Appended:
    message: Message
    created: bool
    #: The store already published the ``message`` event to the room in the same atomic step
    #: as the append (the Redis store does, so messages reach every process in id order).
    published: bool = False


@attrs.frozen
class Change:
    """One change in a room's log: ``message`` as it is after it."""

    kind: ChangeKind
    message: Message
    #: The room's change counter: 1, 2, 3, ...
    seq: int
    #: The room's newest message id when the change was made: it comes after that message.
    after: int
    #: The store already published the ``message_changed`` event in the same atomic step.
    published: bool = False


@attrs.frozen
class ChangePage:
    changes: tuple[Change, ...]
    #: Some change made after ``since`` is no longer kept (or more than ``limit`` were made).
    gap: bool


@attrs.frozen
class Reading:
    """A room a user belongs to: the user's read mark and how many messages are unread."""

    read: int
    unread: int


class Store(Protocol):
    @property
    def pipelined(self) -> bool:
        """Whether a room's appends may overlap (see the contract above). The server then
        starts each post at once instead of waiting for the one before to finish."""
        ...

    async def create_room(self, room: Room) -> None: ...

    async def get_room(self, name: str) -> Room | None: ...

    async def update_room(self, name: str, title: str) -> Room: ...

    async def delete_room(self, name: str) -> None: ...

    async def list_rooms(self, user_id: str) -> list[Room]:
        """Group rooms, and the direct rooms of ``user_id``, by name."""
        ...

    async def append(
        self,
        room: str,
        sender: User,
        text: str,
        ts: int,
        client_id: str | None = None,
        *,
        reply_to: int | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Appended: ...

    async def history(
        self, room: str, *, limit: int, after: int | None = None, before: int | None = None
    ) -> HistoryPage: ...

    # the room event log

    async def get_message(self, room: str, id: int) -> Message | None:
        """The message ``id`` of ``room`` in its current state (deleted ones too), or None
        when the room's history does not hold it; :class:`NoSuchRoom` for a missing room."""
        ...

    async def change(
        self, room: str, kind: ChangeKind, message: Message, *, publish: bool = True
    ) -> Change | None:
        """Replace message ``message.id`` by ``message`` (its new state) if its stored
        ``version`` is ``message.version - 1``, and log the change; None (and no change) if the
        version moved. :class:`NoSuchRoom`, or :class:`NoSuchMessage` when the history does not
        hold the message. A pipelined store publishes the ``message_changed`` event in the same
        step unless ``publish`` is False (the server then sends it later, or not at all: a
        batch of reactions); a store that does not publish ignores it."""
        ...

    async def changes(self, room: str, *, since: int, limit: int) -> ChangePage:
        """The changes made after message ``since`` was appended, oldest first (see above)."""
        ...

    # read state

    async def mark_read(self, room: str, user_id: str, id: int | None) -> int:
        """Move ``user_id``'s mark in ``room`` forward to ``id`` (clamped to the newest id), or
        with None create it at the newest id if there is none; return the mark."""
        ...

    async def read_marks(self, room: str) -> dict[str, int]:
        """Every user's mark in ``room`` (for direct rooms: how far the other one has read)."""
        ...

    async def reading(self, user_id: str) -> dict[str, Reading]:
        """The rooms ``user_id`` belongs to, by name, with the mark and the unread count."""
        ...

    # moderation

    async def standing(self, room: str, user_id: str) -> Standing:
        """``user_id``'s role and sanctions in ``room`` (none for a room that does not exist)."""
        ...

    async def moderators(self, room: str) -> list[str]:
        """The ids of the room's moderators, sorted."""
        ...

    async def set_moderator(self, room: str, user_id: str, on: bool) -> None:
        """Make ``user_id`` a moderator of ``room``, or (``on`` False) a member again;
        :class:`NoSuchRoom` for a missing room."""
        ...

    async def sanction(
        self, room: str, kind: SanctionKind, user_id: str, sanction: Sanction | None
    ) -> None:
        """Set (replacing any) or, with None, lift ``user_id``'s ban or mute in ``room``;
        :class:`NoSuchRoom` for a missing room."""
        ...

    async def update_access(
        self, room: str, *, private: bool | None = None, invite: tuple[str, ...] = ()
    ) -> Room:
        """Make the room private or public (``private``; public forgets the invited users),
        then add ``invite`` to a private room's users (those it has already are kept, in
        order); the room as it is now. :class:`NoSuchRoom` for a missing room."""
        ...

    async def audit(self, entry: AuditEntry) -> AuditEntry:
        """Log ``entry`` in its room with the room's next entry id (``entry.id`` is ignored);
        the entry as logged. :class:`NoSuchRoom` for a missing room."""
        ...

    async def audit_log(self, room: str, *, limit: int, before: int | None = None) -> AuditPage:
        """The newest ``limit`` entries with ``id < before``, newest first."""
        ...

    async def block(self, user_id: str, other: str, on: bool) -> None:
        """``user_id`` blocks ``other`` (``on``), or no longer does."""
        ...

    async def blocked(self, user_id: str) -> list[str]:
        """The users ``user_id`` blocks, sorted."""
        ...
