"""The ORM store's moderation state (the contract: :mod:`chatcore.backends.store`,
"Moderation"), a part of :class:`~chatcore_django.store.OrmStore`.

Rows: :class:`~chatcore_django.models.Moderator`, :class:`~chatcore_django.models.Sanction`,
:class:`~chatcore_django.models.AuditEntry` (numbered per room from ``Room.audit_seq``, taken
with an ``UPDATE`` as message ids are), :class:`~chatcore_django.models.Block`; a private room's
invited users are ``Room.invited``, changed under the room row's lock. Rows of a room go with
it (``on_delete=CASCADE``).
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.db import transaction
from django.db.models import F

from chatcore.wire.errors import NoSuchRoom
from chatcore.wire.moderation import AuditEntry, AuditPage, Sanction, SanctionKind, Standing
from chatcore.wire.values import Room

from . import models
from ._db import db_errors as _db

__all__ = ("OrmModeration",)


def _room_row(name: str) -> models.Room:
    row: models.Room | None = models.Room.objects.filter(name=name).first()
    if row is None:
        raise NoSuchRoom(field="room")
    return row


def _sanction(row: models.Sanction | None) -> Sanction | None:
    if row is None:
        return None
    return Sanction(by=row.by, at=row.at, until=row.until, reason=row.reason)


def _entry(row: models.AuditEntry, room: str) -> AuditEntry:
    return AuditEntry(
        id=row.seq,
        room=room,
        action=row.action,
        user=row.user_id,
        by=row.by,
        ts=row.ts,
        until=row.until,
        reason=row.reason,
        role=row.role,
    )


class OrmModeration:
    """Moderation methods of the ORM store."""

    async def standing(self, room: str, user_id: str) -> Standing:
        standing: Standing = await database_sync_to_async(self._standing)(room, user_id)
        return standing

    @_db
    def _standing(self, room: str, user_id: str) -> Standing:
        moderator = models.Moderator.objects.filter(room__name=room, user_id=user_id).exists()
        sanctions = {
            row.kind: row
            for row in models.Sanction.objects.filter(room__name=room, user_id=user_id)
        }
        return Standing(
            moderator=moderator,
            ban=_sanction(sanctions.get("ban")),
            mute=_sanction(sanctions.get("mute")),
        )

    async def moderators(self, room: str) -> list[str]:
        found: list[str] = await database_sync_to_async(self._moderators)(room)
        return found

    @_db
    def _moderators(self, room: str) -> list[str]:
        rows = models.Moderator.objects.filter(room__name=room).order_by("user_id")
        return list(rows.values_list("user_id", flat=True))

    async def set_moderator(self, room: str, user_id: str, on: bool) -> None:
        await database_sync_to_async(self._set_moderator)(room, user_id, on)

    @_db
    def _set_moderator(self, room: str, user_id: str, on: bool) -> None:
        row = _room_row(room)
        if on:
            models.Moderator.objects.get_or_create(room=row, user_id=user_id)
        else:
            models.Moderator.objects.filter(room=row, user_id=user_id).delete()

    async def sanction(
        self, room: str, kind: SanctionKind, user_id: str, sanction: Sanction | None
    ) -> None:
        await database_sync_to_async(self._sanction)(room, kind, user_id, sanction)

    @_db
    def _sanction(
        self, room: str, kind: SanctionKind, user_id: str, sanction: Sanction | None
    ) -> None:
        row = _room_row(room)
        if sanction is None:
            models.Sanction.objects.filter(room=row, user_id=user_id, kind=kind).delete()
            return
        models.Sanction.objects.update_or_create(
            room=row,
            user_id=user_id,
            kind=kind,
            defaults={
                "by": sanction.by,
                "at": sanction.at,
                "until": sanction.until,
                "reason": sanction.reason,
            },
        )

    async def update_access(
        self, room: str, *, private: bool | None = None, invite: tuple[str, ...] = ()
    ) -> Room:
        updated: Room = await database_sync_to_async(self._update_access)(room, private, invite)
        return updated

    @_db
    def _update_access(self, room: str, private: bool | None, invite: tuple[str, ...]) -> Room:
        with transaction.atomic():
            row = models.Room.objects.select_for_update().filter(name=room).first()
            if row is None:
                raise NoSuchRoom(field="room")
            if private is not None and private != row.private:
                row.private = private
                row.invited = []
            if row.private:
                users = list(row.invited)
                users.extend(user for user in dict.fromkeys(invite) if user not in users)
                row.invited = users
            row.save(update_fields=["private", "invited"])
            updated: Room = row.chat_room()
            return updated

    async def audit(self, entry: AuditEntry) -> AuditEntry:
        logged: AuditEntry = await database_sync_to_async(self._audit)(entry)
        return logged

    @_db
    def _audit(self, entry: AuditEntry) -> AuditEntry:
        with transaction.atomic():
            # Lock first: the room's entries are numbered one at a time.
            if not models.Room.objects.filter(name=entry.room).update(audit_seq=F("audit_seq") + 1):
                raise NoSuchRoom(field="room")
            row = models.Room.objects.get(name=entry.room)
            stored = models.AuditEntry.objects.create(
                room=row,
                seq=row.audit_seq,
                action=entry.action,
                user_id=entry.user,
                by=entry.by,
                ts=entry.ts,
                until=entry.until,
                reason=entry.reason,
                role=entry.role,
            )
            return _entry(stored, entry.room)

    async def audit_log(self, room: str, *, limit: int, before: int | None = None) -> AuditPage:
        page: AuditPage = await database_sync_to_async(self._audit_log)(room, limit, before)
        return page

    @_db
    def _audit_log(self, room: str, limit: int, before: int | None) -> AuditPage:
        rows = models.AuditEntry.objects.filter(room__name=room)
        if before is not None:
            rows = rows.filter(seq__lt=before)
        found = list(rows.order_by("-seq")[: limit + 1])
        return AuditPage(tuple(_entry(row, room) for row in found[:limit]), len(found) > limit)

    async def block(self, user_id: str, other: str, on: bool) -> None:
        await database_sync_to_async(self._block)(user_id, other, on)

    @_db
    def _block(self, user_id: str, other: str, on: bool) -> None:
        if on:
            models.Block.objects.get_or_create(user_id=user_id, blocked=other)
        else:
            models.Block.objects.filter(user_id=user_id, blocked=other).delete()

    async def blocked(self, user_id: str) -> list[str]:
        found: list[str] = await database_sync_to_async(self._blocked)(user_id)
        return found

    @_db
    def _blocked(self, user_id: str) -> list[str]:
        rows = models.Block.objects.filter(user_id=user_id).order_by("blocked")
        return list(rows.values_list("blocked", flat=True))
