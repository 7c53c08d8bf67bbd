"""The Redis store's moderation state (the contract: :mod:`chatcore.backends.store`,
"Moderation"), a part of :class:`~chatcore.redis.RedisStore`.

Keys (``P`` is the prefix of the room's group, or of the user's for ``blocks:``,
:mod:`~chatcore.redis._layout`)::

    P mods:<room>      set   the room's moderators
    P bans:<room>      hash  user -> sanction JSON (``by``, ``at``, ``until``, ``reason``)
    P mutes:<room>     hash  user -> sanction JSON
    P audn:<room>      int   the room's last audit entry id
    P audit:<room>     list  "<id> <entry JSON>", newest first
    P blocks:<user>    set   the users the user blocks

A private room's invited users are its ``users`` in ``P rooms`` (``_stored.encode_room``),
changed by one script that publishes the room on its group's ``room-changes`` as the room
scripts do.
Every write that needs its room checks that it exists in the same script.
"""

from __future__ import annotations

import json
from typing import Any

from ..wire.errors import NoSuchRoom
from ..wire.moderation import AuditEntry, AuditPage, Sanction, SanctionKind, Standing
from ..wire.values import Room
from . import _stored
from ._client import unavailable
from ._layout import Group, Layout
from ._wire import Wire

__all__ = ("ROOM_KEYS", "RedisModeration")

#: The per-room keys, deleted with the room.
ROOM_KEYS = ("mods:", "bans:", "mutes:", "audn:", "audit:")

# ARGV: prefix, room, command, key kind, args... -> -1 no such room, else the command's reply
# (only the commands in _WRITES).
_ROOM_WRITE = """
local P, room = ARGV[1], ARGV[2]
if redis.call('HEXISTS', P .. 'rooms', room) == 0 then return -1 end
redis.call(ARGV[3], P .. ARGV[4] .. room, unpack(ARGV, 5))
return 1
"""
_WRITES = frozenset({"SADD", "SREM", "HSET", "HDEL"})

# ARGV: prefix, room, entry JSON (without its id) -> -1 no such room, else the entry's id
_AUDIT = """
local P, room = ARGV[1], ARGV[2]
if redis.call('HEXISTS', P .. 'rooms', room) == 0 then return -1 end
local id = redis.call('INCR', P .. 'audn:' .. room)
redis.call('LPUSH', P .. 'audit:' .. room, id .. ' ' .. ARGV[3])
return id
"""

# ARGV: prefix, room, before (0: none), limit -> {more, entry...}, newest first. Entry k is
# at index (last id - k) of the list.
_AUDIT_LOG = """
local P, room = ARGV[1], ARGV[2]
local last = tonumber(redis.call('GET', P .. 'audn:' .. room) or '0')
local before, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local high = last
if before > 0 and before - 1 < high then high = before - 1 end
if high < 1 then return {0} end
local low = math.max(1, high - limit + 1)
local out = {low > 1 and 1 or 0}
for _, item in ipairs(redis.call('LRANGE', P .. 'audit:' .. room, last - high, last - low)) do
  out[#out + 1] = item
end
return out
"""

# ARGV: prefix, room, changes channel, private ("1", "0" or ""), invited... -> the room's
# meta JSON, or false when there is no such room
_UPDATE_ACCESS = """
local P, room = ARGV[1], ARGV[2]
local stored = redis.call('HGET', P .. 'rooms', room)
if not stored then return false end
local meta = cjson.decode(stored)
local private = meta['private'] == true
if ARGV[4] ~= '' and (ARGV[4] == '1') ~= private then
  private = ARGV[4] == '1'
  meta['private'] = private
  meta['users'] = {}
end
if private then
  local users, seen = {}, {}
  for _, user in ipairs(meta['users']) do users[#users + 1] = user; seen[user] = true end
  for i = 5, #ARGV do
    if not seen[ARGV[i]] then users[#users + 1] = ARGV[i]; seen[ARGV[i]] = true end
  end
  meta['users'] = users
end
local encoded = cjson.encode(meta)
redis.call('HSET', P .. 'rooms', room, encoded)
redis.call('PUBLISH', ARGV[3], room)
return encoded
"""


def _sanction(data: str | None) -> Sanction | None:
    if data is None:
        return None
    fields = json.loads(data)
    return Sanction(
        by=fields["by"], at=fields["at"], until=fields["until"], reason=fields["reason"]
    )


def _entry(room: str, item: str) -> AuditEntry:
    id_, data = item.split(" ", 1)
    fields = json.loads(data)
    return AuditEntry(id=int(id_), room=room, **fields)


class RedisModeration:
    """Moderation methods of :class:`~chatcore.redis.RedisStore`."""

    layout: Layout
    _wire: Wire

    async def _call(self, group: Group, script: str, *args: str | int) -> Any:
        raise NotImplementedError

    def _forget(self, room: str | None) -> None:
        raise NotImplementedError

    async def _room_write(self, room: str, command: str, kind: str, *args: str) -> None:
        assert command in _WRITES
        if await self._call(self.layout.room(room), _ROOM_WRITE, room, command, kind, *args) == -1:
            raise NoSuchRoom(field="room")

    async def _forget_moderation(self, room: str) -> None:
        P = self.layout.room(room).prefix
        with unavailable():
            await self._wire.call("DEL", *(f"{P}{kind}{room}" for kind in ROOM_KEYS))

    async def standing(self, room: str, user_id: str) -> Standing:
        P = self.layout.room(room).prefix
        with unavailable():
            moderator, ban, mute = await self._wire.transaction(
                ("SISMEMBER", f"{P}mods:{room}", user_id),
                ("HGET", f"{P}bans:{room}", user_id),
                ("HGET", f"{P}mutes:{room}", user_id),
            )
        return Standing(moderator=bool(moderator), ban=_sanction(ban), mute=_sanction(mute))

    async def moderators(self, room: str) -> list[str]:
        with unavailable():
            found = await self._wire.call("SMEMBERS", f"{self.layout.room(room).prefix}mods:{room}")
        return sorted(found)

    async def set_moderator(self, room: str, user_id: str, on: bool) -> None:
        await self._room_write(room, "SADD" if on else "SREM", "mods:", user_id)

    async def sanction(
        self, room: str, kind: SanctionKind, user_id: str, sanction: Sanction | None
    ) -> None:
        key = "bans:" if kind == "ban" else "mutes:"
        if sanction is None:
            await self._room_write(room, "HDEL", key, user_id)
            return
        data = json.dumps(
            {
                "by": sanction.by,
                "at": sanction.at,
                "until": sanction.until,
                "reason": sanction.reason,
            }
        )
        await self._room_write(room, "HSET", key, user_id, data)

    async def update_access(
        self, room: str, *, private: bool | None = None, invite: tuple[str, ...] = ()
    ) -> Room:
        flag = "" if private is None else "1" if private else "0"
        group = self.layout.room(room)
        meta = await self._call(group, _UPDATE_ACCESS, room, group.changes, flag, *invite)
        self._forget(room)
        if meta is None:
            raise NoSuchRoom(field="room")
        with unavailable():
            title = await self._wire.call("HGET", f"{group.prefix}titles", room)
        return _stored.decode_room(room, meta, title)

    async def audit(self, entry: AuditEntry) -> AuditEntry:
        fields = {
            "action": entry.action,
            "user": entry.user,
            "by": entry.by,
            "ts": entry.ts,
            "until": entry.until,
            "reason": entry.reason,
            "role": entry.role,
        }
        found = await self._call(
            self.layout.room(entry.room), _AUDIT, entry.room, json.dumps(fields)
        )
        if found == -1:
            raise NoSuchRoom(field="room")
        return AuditEntry(id=int(found), room=entry.room, **fields)  # type: ignore[arg-type]

    async def audit_log(self, room: str, *, limit: int, before: int | None = None) -> AuditPage:
        found = await self._call(self.layout.room(room), _AUDIT_LOG, room, before or 0, limit)
        return AuditPage(tuple(_entry(room, item) for item in found[1:]), bool(found[0]))

    async def block(self, user_id: str, other: str, on: bool) -> None:
        key = f"{self.layout.user(user_id).prefix}blocks:{user_id}"
        with unavailable():
            await self._wire.call("SADD" if on else "SREM", key, other)

    async def blocked(self, user_id: str) -> list[str]:
        with unavailable():
            found = await self._wire.call(
                "SMEMBERS", f"{self.layout.user(user_id).prefix}blocks:{user_id}"
            )
        return sorted(found)
