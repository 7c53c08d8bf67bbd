"""The in-memory store's moderation state: roles, bans and mutes, the audit log, blocks.

A part of :class:`~chatcore.backends.memory_store.MemoryStore` (the contract:
:mod:`chatcore.backends.store`, "Moderation"); nothing is kept across restarts.
"""

from __future__ import annotations

from typing import Protocol

import attrs

from ..wire.moderation import AuditEntry, AuditPage, Sanction, SanctionKind, Standing
from ..wire.values import Room

__all__ = ("MemoryModeration",)


class _HoldsRoom(Protocol):
    room: Room


class _RoomModeration:
    __slots__ = ("audit", "bans", "moderators", "mutes")

    def __init__(self) -> None:
        self.moderators: set[str] = set()
        self.bans: dict[str, Sanction] = {}
        self.mutes: dict[str, Sanction] = {}
        self.audit: list[AuditEntry] = []  # oldest first; ids 1, 2, 3, ...


class MemoryModeration:
    """Moderation methods of a store whose rooms are held by ``_log(name)``."""

    def __init__(self) -> None:
        self._moderation: dict[str, _RoomModeration] = {}
        self._blocks: dict[str, set[str]] = {}

    def _log(self, name: str) -> _HoldsRoom:
        raise NotImplementedError

    def _forget_moderation(self, room: str) -> None:
        """The room was deleted: its moderation state goes with it."""
        self._moderation.pop(room, None)

    def _room_moderation(self, room: str) -> _RoomModeration:
        self._log(room)  # NoSuchRoom
        state = self._moderation.get(room)
        if state is None:
            state = self._moderation[room] = _RoomModeration()
        return state

    async def standing(self, room: str, user_id: str) -> Standing:
        state = self._moderation.get(room)
        if state is None:
            return Standing()
        return Standing(
            moderator=user_id in state.moderators,
            ban=state.bans.get(user_id),
            mute=state.mutes.get(user_id),
        )

    async def moderators(self, room: str) -> list[str]:
        state = self._moderation.get(room)
        return sorted(state.moderators) if state is not None else []

    async def set_moderator(self, room: str, user_id: str, on: bool) -> None:
        moderators = self._room_moderation(room).moderators
        if on:
            moderators.add(user_id)
        else:
            moderators.discard(user_id)

    async def sanction(
        self, room: str, kind: SanctionKind, user_id: str, sanction: Sanction | None
    ) -> None:
        state = self._room_moderation(room)
        held = state.bans if kind == "ban" else state.mutes
        if sanction is None:
            held.pop(user_id, None)
        else:
            held[user_id] = sanction

    async def update_access(
        self, room: str, *, private: bool | None = None, invite: tuple[str, ...] = ()
    ) -> Room:
        log = self._log(room)
        found = log.room
        if private is not None and private != found.private:
            found = attrs.evolve(found, private=private, users=())
        if found.private and invite:
            users = list(found.users)
            users.extend(user for user in dict.fromkeys(invite) if user not in users)
            found = attrs.evolve(found, users=tuple(users))
        log.room = found
        return found

    async def audit(self, entry: AuditEntry) -> AuditEntry:
        entries = self._room_moderation(entry.room).audit
        entry = attrs.evolve(entry, id=len(entries) + 1)
        entries.append(entry)
        return entry

    async def audit_log(self, room: str, *, limit: int, before: int | None = None) -> AuditPage:
        state = self._moderation.get(room)
        entries = state.audit if state is not None else []
        end = len(entries) if before is None else max(0, min(before - 1, len(entries)))
        start = max(0, end - limit)
        return AuditPage(tuple(reversed(entries[start:end])), start > 0)

    async def block(self, user_id: str, other: str, on: bool) -> None:
        blocked = self._blocks.setdefault(user_id, set())
        if on:
            blocked.add(other)
        else:
            blocked.discard(other)
            if not blocked:
                del self._blocks[user_id]

    async def blocked(self, user_id: str) -> list[str]:
        return sorted(self._blocks.get(user_id, ()))
