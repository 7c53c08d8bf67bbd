"""The ORM store: a :class:`chatcore.Store` keeping rooms and history in the site's database.

Message ids come from the room row: an ``UPDATE ... SET last_id = last_id + 1`` takes the row's
write lock (PostgreSQL) or the database's (SQLite) before anything is read, so concurrent appends
to one room, from any process, queue up and get 1, 2, 3, ... without gaps. Changes to messages
(the room event log) take the same lock with ``change_seq = change_seq + 1``, so they are
numbered the same way, compare versions with no other write in between, and fall in place
among the appends. Read marks are rows of their own, moved forward by a conditional UPDATE.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import attrs
from channels.db import database_sync_to_async
from django.db import IntegrityError, transaction
from django.db.models import F, Q

from chatcore import Message, Room, User
from chatcore.backends.store import (
    UNREAD_CAP,
    Appended,
    Change,
    ChangePage,
    HistoryPage,
    Reading,
)
from chatcore.wire.errors import InvalidField, NoSuchMessage, NoSuchRoom, RoomExists
from chatcore.wire.values import ChangeKind, Reaction

from . import models
from ._db import db_errors
from ._moderation import OrmModeration
from .users import chat_users

__all__ = ("OrmStore",)

log = logging.getLogger("chatcore.django")

_db = db_errors


class _Repeated(Exception):
    """Rolls back an append whose ``client_id`` was seen; carries the first message."""

    def __init__(self, message: Message) -> None:
        self.message = message


class _Undone(Exception):
    """Rolls back a change that is not made (the version moved): its number is not taken."""


def _sender(user_id: str, name: str, avatar: str, users: dict[str, User]) -> User:
    """The user as the site knows them now, else as stored with the message."""
    return users.get(user_id) or User(id=user_id, name=name, avatar=avatar or None)


def _reactions(stored: Any) -> tuple[Reaction, ...]:
    """:attr:`models.Message.reactions` (``[[emoji, [user id, ...]], ...]``) as values."""
    return tuple(Reaction(emoji, tuple(users)) for emoji, users in stored or ())


def _stored_reactions(message: Message) -> list[list[Any]]:
    return [[reaction.emoji, list(reaction.users)] for reaction in message.reactions]


def _message(row: models.Message, room: str, users: dict[str, User]) -> Message:
    return Message(
        id=row.seq,
        room=room,
        ts=row.ts,
        sender=_sender(row.sender_id, row.sender_name, row.sender_avatar, users),
        text=row.text,
        client_id=row.client_id,
        reply_to=row.reply_to,
        meta=row.meta,
        edited=row.edited,
        deleted=row.deleted,
        reactions=_reactions(row.reactions),
        version=row.version,
    )


def _state(message: Message, row: models.Message) -> dict[str, Any]:
    """:attr:`models.Change.state`: ``message`` (the new state of ``row``), whole."""
    return {
        "text": message.text,
        "meta": None if message.meta is None else dict(message.meta),
        "edited": message.edited,
        "deleted": message.deleted,
        "reactions": _stored_reactions(message),
        "version": message.version,
        "ts": row.ts,
        "sender": [row.sender_id, row.sender_name, row.sender_avatar],
        "reply_to": row.reply_to,
        "client_id": row.client_id,
    }


def _change(row: models.Change, room: str, users: dict[str, User]) -> Change:
    state = row.state
    sender_id, name, avatar = state["sender"]
    message = Message(
        id=row.message_seq,
        room=room,
        ts=state["ts"],
        sender=_sender(sender_id, name, avatar, users),
        text=state["text"],
        client_id=state["client_id"],
        reply_to=state["reply_to"],
        meta=state["meta"],
        edited=state["edited"],
        deleted=state["deleted"],
        reactions=_reactions(state["reactions"]),
        version=state["version"],
    )
    return Change(row.kind, message, row.seq, row.after)


class OrmStore(OrmModeration):
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
        users = [*room.users, "", ""] if room.is_direct else ["", ""]
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
                    private=room.private,
                    invited=list(room.users) if room.private else [],
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
                room = row.chat_room()
                if room.visible_to(user_id):
                    rooms.append(room)
            except InvalidField:  # written around the model's checks: one bad row hides itself
                log.warning("room %r in the database breaks the room rules; not listed", row.name)
        return rooms

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
    ) -> Appended:
        appended: Appended = await database_sync_to_async(self._append)(
            room, sender, text, ts, client_id, reply_to=reply_to, meta=meta
        )
        return appended

    @_db
    def _append(
        self,
        room: str,
        sender: User,
        text: str,
        ts: int,
        client_id: str | None,
        *,
        reply_to: int | None = None,
        meta: Mapping[str, Any] | None = None,
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
                    reply_to=reply_to,
                    meta=None if meta is None else dict(meta),
                )
                keep = self.history_size
                # Pruned every tenth of the size (at most every 100), not at every append.
                if keep is not None and row.last_id % min(100, max(1, keep // 10)) == 0:
                    row.messages.filter(seq__lte=row.last_id - keep).delete()
        except _Repeated as repeated:
            return Appended(repeated.message, created=False)
        return Appended(_message(stored, room, {sender.id: sender}), created=True)

    def _held(self, row: models.Room) -> Any:
        """The messages of ``row`` its history holds (pruning lags a little; this is exact)."""
        rows = row.messages.all()
        if self.history_size is not None:
            rows = rows.filter(seq__gt=row.last_id - self.history_size)
        return rows

    async def history(
        self, room: str, *, limit: int, after: int | None = None, before: int | None = None
    ) -> HistoryPage:
        page: HistoryPage = await database_sync_to_async(self._history)(room, limit, after, before)
        return page

    @_db
    def _history(self, room: str, limit: int, after: int | None, before: int | None) -> HistoryPage:
        row = _room(room)
        rows = self._held(row)
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

    # the room event log

    async def get_message(self, room: str, id: int) -> Message | None:
        message: Message | None = await database_sync_to_async(self._get_message)(room, id)
        return message

    @_db
    def _get_message(self, room: str, id: int) -> Message | None:
        stored = self._held(_room(room)).filter(seq=id).first()
        if stored is None:
            return None
        return _message(stored, room, chat_users([stored.sender_id]))

    async def change(
        self, room: str, kind: ChangeKind, message: Message, *, publish: bool = True
    ) -> Change | None:
        change: Change | None = await database_sync_to_async(self._change)(room, kind, message)
        return change

    @_db
    def _change(self, room: str, kind: ChangeKind, message: Message) -> Change | None:
        try:
            with transaction.atomic():
                # Lock first, as appends do: no other append or change of this room runs now.
                updated = models.Room.objects.filter(name=room).update(
                    change_seq=F("change_seq") + 1
                )
                if not updated:
                    raise NoSuchRoom(field="room")
                row = models.Room.objects.get(name=room)
                stored = self._held(row).filter(seq=message.id).first()
                if stored is None:
                    raise NoSuchMessage(field="id")
                if stored.version != message.version - 1:
                    raise _Undone
                models.Message.objects.filter(pk=stored.pk).update(
                    text=message.text,
                    meta=None if message.meta is None else dict(message.meta),
                    edited=message.edited,
                    deleted=message.deleted,
                    reactions=_stored_reactions(message),
                    version=message.version,
                )
                models.Change.objects.create(
                    room=row,
                    seq=row.change_seq,
                    after=row.last_id,
                    kind=kind,
                    message_seq=message.id,
                    state=_state(message, stored),
                )
                self._prune_changes(row)
        except _Undone:
            return None
        new = attrs.evolve(message, room=room, client_id=stored.client_id)
        return Change(kind, new, row.change_seq, row.last_id)

    def _prune_changes(self, row: models.Room) -> None:
        """Drop changes beyond the newest ``history_size``, every tenth of it (at most every
        100), and remember the ``after`` of the newest dropped one."""
        keep = self.history_size
        if keep is None or row.change_seq % min(100, max(1, keep // 10)):
            return
        old = row.changes.filter(seq__lte=row.change_seq - keep)
        newest = old.order_by("-seq").values_list("after", flat=True).first()
        if newest is not None:
            old.delete()
            models.Room.objects.filter(pk=row.pk).update(dropped_after=newest)

    async def changes(self, room: str, *, since: int, limit: int) -> ChangePage:
        page: ChangePage = await database_sync_to_async(self._changes)(room, since, limit)
        return page

    @_db
    def _changes(self, room: str, since: int, limit: int) -> ChangePage:
        row = _room(room)
        found = list(row.changes.filter(after__gte=since).order_by("seq")[: limit + 1])
        gap = row.dropped_after >= since or len(found) > limit
        found = found[:limit]
        users = chat_users(sorted({change.state["sender"][0] for change in found}))
        return ChangePage(tuple(_change(change, room, users) for change in found), gap)

    # read state

    async def mark_read(self, room: str, user_id: str, id: int | None) -> int:
        mark: int = await database_sync_to_async(self._mark_read)(room, user_id, id)
        return mark

    @_db
    def _mark_read(self, room: str, user_id: str, id: int | None) -> int:
        row = _room(room)
        new = row.last_id if id is None else min(id, row.last_id)
        mark, created = models.ReadMark.objects.get_or_create(
            room=row, user_id=user_id, defaults={"last_read": new}
        )
        if created or id is None or mark.last_read >= new:
            return int(mark.last_read)
        # Forward only, whatever another process wrote meanwhile.
        models.ReadMark.objects.filter(pk=mark.pk, last_read__lt=new).update(last_read=new)
        last_read: int = models.ReadMark.objects.values_list("last_read", flat=True).get(pk=mark.pk)
        return last_read

    async def read_marks(self, room: str) -> dict[str, int]:
        marks: dict[str, int] = await database_sync_to_async(self._read_marks)(room)
        return marks

    @_db
    def _read_marks(self, room: str) -> dict[str, int]:
        row = _room(room)
        chat_room = row.chat_room()
        marks = dict.fromkeys(chat_room.users, 0) if chat_room.is_direct else {}
        marks.update(row.read_marks.values_list("user_id", "last_read"))
        return marks

    async def reading(self, user_id: str) -> dict[str, Reading]:
        found: dict[str, Reading] = await database_sync_to_async(self._reading)(user_id)
        return found

    @_db
    def _reading(self, user_id: str) -> dict[str, Reading]:
        marked = models.ReadMark.objects.filter(user_id=user_id)
        marks = dict(marked.values_list("room_id", "last_read"))
        direct = Q(kind=models.Room.Kind.DIRECT) & (Q(user_a=user_id) | Q(user_b=user_id))
        rooms = models.Room.objects.filter(Q(pk__in=marked.values("room_id")) | direct)
        found = {}
        for row in rooms.order_by("name"):
            mark = marks.get(row.pk, 0)
            unread = 0
            if mark < row.last_id:  # else nothing to count: no query
                unread = (
                    self._held(row)
                    .filter(seq__gt=mark, deleted=False)
                    .exclude(sender_id=user_id)
                    .values("pk")[:UNREAD_CAP]
                    .count()
                )
            found[row.name] = Reading(int(mark), unread)
        return found


def _room(name: str) -> models.Room:
    row: models.Room | None = models.Room.objects.filter(name=name).first()
    if row is None:
        raise NoSuchRoom(field="room")
    return row


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
