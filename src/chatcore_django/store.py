"""The ORM store: a :class:`chatcore.Store` keeping rooms and history in the site's database.

Message ids come from the room row: an ``UPDATE ... SET last_id = last_id + 1`` takes the row's
write lock (PostgreSQL) or the database's (SQLite) before anything is read, so concurrent appends
to one room, from any process, queue up and get 1, 2, 3, ... without gaps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q

from chatcore import Message, Room, User
from chatcore.backends.store import Appended, HistoryPage
from chatcore.wire.errors import InvalidField, NoSuchRoom, RoomExists, Unavailable

from . import models
from .users import chat_users

__all__ = ("OrmStore",)

log = logging.getLogger("chatcore.django")

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _db(fn: Callable[_P, _T]) -> Callable[_P, _T]:
    """Database errors that are not the caller's fault become :class:`Unavailable`."""

    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return fn(*args, **kwargs)
        except IntegrityError:
            raise  # a broken invariant, not an outage
        except DatabaseError as error:
            raise Unavailable("the database is unavailable; try again") from error

    return guarded


class _Repeated(Exception):
    """Rolls back an append whose ``client_id`` was seen; carries the first message."""

    def __init__(self, message: Message) -> None:
        self.message = message


def _message(row: models.Message, room: str, users: dict[str, User]) -> Message:
    sender = users.get(row.sender_id) or User(
        id=row.sender_id, name=row.sender_name, avatar=row.sender_avatar or None
    )
    return Message(
        id=row.seq, room=room, ts=row.ts, sender=sender, text=row.text, client_id=row.client_id
    )


class OrmStore:
    """Rooms and history in the database. ``history_size`` caps messages kept per room.

    History shows each sender's current name and avatar when the user still exists (so a
    replaced avatar file is never linked), else the ones stored with the message.
    """

    #: The server publishes each message; appends of a room run one at a time.
    pipelined = False

    def __init__(self, history_size: int | None = None) -> None:
        self.history_size = history_size

    async def create_room(self, room: Room) -> None:
        await database_sync_to_async(self._create_room)(room)

    @_db
    def _create_room(self, room: Room) -> None:
        users = [*room.users, "", ""]
        try:
            with transaction.atomic():
                models.Room.objects.create(
                    name=room.name,
                    title=room.title,
                    owner=room.owner or "",
                    kind=room.kind.value,
                    user_a=users[0],
                    user_b=users[1],
                    auto=room.auto,
                )
        except IntegrityError as error:
            raise RoomExists(field="room") from error

    async def get_room(self, name: str) -> Room | None:
        room: Room | None = await database_sync_to_async(self._get_room)(name)
        return room

    @_db
    def _get_room(self, name: str) -> Room | None:
        row = models.Room.objects.filter(name=name).first()
        return None if row is None else row.chat_room()

    async def update_room(self, name: str, title: str) -> Room:
        room: Room = await database_sync_to_async(self._update_room)(name, title)
        return room

    @_db
    def _update_room(self, name: str, title: str) -> Room:
        if not models.Room.objects.filter(name=name).update(title=title):
            raise NoSuchRoom(field="room")
        row: models.Room = models.Room.objects.get(name=name)
        return row.chat_room()

    async def delete_room(self, name: str) -> None:
        await database_sync_to_async(self._delete_room)(name)

    @_db
    def _delete_room(self, name: str) -> None:
        deleted, _ = models.Room.objects.filter(name=name).delete()
        if not deleted:
            raise NoSuchRoom(field="room")

    async def list_rooms(self, user_id: str) -> list[Room]:
        rooms: list[Room] = await database_sync_to_async(self._list_rooms)(user_id)
        return rooms

    @_db
    def _list_rooms(self, user_id: str) -> list[Room]:
        visible = Q(kind=models.Room.Kind.GROUP) | Q(user_a=user_id) | Q(user_b=user_id)
        rooms = []
        for row in models.Room.objects.filter(visible).order_by("name"):
            try:
                rooms.append(row.chat_room())
            except InvalidField:  # written around the model's checks: one bad row hides itself
                log.warning("room %r in the database breaks the room rules; not listed", row.name)
        return rooms

    async def append(
        self, room: str, sender: User, text: str, ts: int, client_id: str | None = None
    ) -> Appended:
        appended: Appended = await database_sync_to_async(self._append)(
            room, sender, text, ts, client_id
        )
        return appended

    @_db
    def _append(
        self, room: str, sender: User, text: str, ts: int, client_id: str | None
    ) -> Appended:
        try:
            with transaction.atomic():
                # Lock first: from here on no other append to this room can run.
                if not models.Room.objects.filter(name=room).update(last_id=F("last_id") + 1):
                    raise NoSuchRoom(field="room")
                row = models.Room.objects.get(name=room)
                if client_id is not None:
                    seen = models.Message.objects.filter(
                        room=row, sender_id=sender.id, client_id=client_id
                    ).first()
                    if seen is not None:
                        raise _Repeated(_message(seen, room, {}))
                stored = models.Message.objects.create(
                    room=row,
                    seq=row.last_id,
                    ts=ts,
                    sender_id=sender.id,
                    sender_name=_column(sender.name, _NAME_COLUMN),
                    sender_avatar=_avatar_column(sender.avatar),
                    text=text,
                    client_id=client_id,
                )
                keep = self.history_size
                # Pruned every tenth of the size (at most every 100), not at every append.
                if keep is not None and row.last_id % min(100, max(1, keep // 10)) == 0:
                    row.messages.filter(seq__lte=row.last_id - keep).delete()
        except _Repeated as repeated:
            return Appended(repeated.message, created=False)
        return Appended(_message(stored, room, {sender.id: sender}), created=True)

    async def history(
        self, room: str, *, limit: int, after: int | None = None, before: int | None = None
    ) -> HistoryPage:
        page: HistoryPage = await database_sync_to_async(self._history)(room, limit, after, before)
        return page

    @_db
    def _history(self, room: str, limit: int, after: int | None, before: int | None) -> HistoryPage:
        row = models.Room.objects.filter(name=room).first()
        if row is None:
            raise NoSuchRoom(field="room")
        rows = row.messages.all()
        if self.history_size is not None:  # pruning lags a little; what it keeps is exact
            rows = rows.filter(seq__gt=row.last_id - self.history_size)
        if after is not None:
            rows = rows.filter(seq__gt=after)
        if before is not None:
            rows = rows.filter(seq__lt=before)
        newest = list(rows.order_by("-seq")[: limit + 1]) if limit > 0 else []
        more = len(newest) > limit or (limit == 0 and rows.exists())
        newest = newest[:limit]
        newest.reverse()
        users = chat_users(sorted({message.sender_id for message in newest}))
        page = tuple(_message(message, room, users) for message in newest)
        return HistoryPage(page, more, row.last_id)


_NAME_COLUMN = models.Message._meta.get_field("sender_name").max_length
_AVATAR_COLUMN = models.Message._meta.get_field("sender_avatar").max_length


def _column(text: str, size: int) -> str:
    """``text`` as a text column of ``size`` characters keeps it: no NUL (PostgreSQL refuses
    it), cut to the size. For the copies of a sender's name, which the app's users may exceed."""
    return text.replace("\x00", "")[:size]


def _avatar_column(avatar: str | None) -> str:
    """A sender's avatar link, or "" if the column cannot hold it whole (a cut link is wrong)."""
    if avatar is None or len(avatar) > _AVATAR_COLUMN or "\x00" in avatar:
        return ""
    return avatar
