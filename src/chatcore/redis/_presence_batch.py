"""Large rooms on Redis: presence writes batched per room, members in a sorted set, one
occupancy count per room, and online status across processes.

Theory of operation
-------------------
Batches
    A join storm must not become a Redis storm: the joins and leaves of one room in this process
    are queued, and one script (:data:`BATCH`) applies all that came together, then the next
    batch those that came while it ran. The first caller of an idle room runs the batches
    (after one yield, so that the joins of the same moment go together) and the others wait for
    their result, so a room costs one script per round trip however many join.
Members by name
    Each member also has an entry ``<name casefolded>\\n<id>`` in the sorted set ``pz:<room>``
    (all scores 0, so it sorts by bytes: UTF-8 keeps code point order), and ``pk:<room>`` maps the
    user to its entry. A page is a ``ZRANGEBYLEX`` after the cursor, within a prefix; entries of
    users no longer present (a dead process's, removed by the heartbeat) are dropped as met.
Occupancy
    ``occ:<room>`` holds the last count sent and when; :data:`CLAIM` applies
    :func:`~chatcore.backends.presence.occupancy_claim` to it atomically, so processes send one
    count per room per interval between them.
Online
    :data:`ONLINE` / :data:`OFFLINE` are the broker's ``CONNECT`` / ``DISCONNECT`` that also say
    whether the user came online in the first process / went offline in the last (in the
    user's shard group, as ``on:<user>`` is).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..backends._room_batches import RoomBatches
from ..backends.presence import Claim, MembersPage, PresenceChange, member_key, query_key
from ..wire.values import User
from . import _scripts
from ._client import unavailable
from ._layout import Group, in_every
from ._stored import decode_user, encode_user

if TYPE_CHECKING:
    from .broker import RedisBroker

__all__ = ("BATCH", "CLAIM", "OFFLINE", "ONLINE", "PAGE", "REINDEX", "PresenceBatches")

_INDEX = """
local function index_add(room, user, key)
  local old = redis.call('HGET', P .. 'pk:' .. room, user)
  if old then redis.call('ZREM', P .. 'pz:' .. room, old) end
  redis.call('HSET', P .. 'pk:' .. room, user, key)
  redis.call('ZADD', P .. 'pz:' .. room, 0, key)
end

local function index_remove(room, user)
  local old = redis.call('HGET', P .. 'pk:' .. room, user)
  if old then
    redis.call('ZREM', P .. 'pz:' .. room, old)
    redis.call('HDEL', P .. 'pk:' .. room, user)
  end
end
"""

# ARGV: prefix, pid, room, then per operation: kind ('j' join, 'l' leave), user, json, key
# -> -1 when pid is not registered, else {changed, count, changed, count, ...}
BATCH = (
    _scripts._PRESENCE
    + _INDEX
    + """
local pid, room = ARGV[2], ARGV[3]
if not registered(pid) then return -1 end
local out = {}
for i = 4, #ARGV, 4 do
  local user = ARGV[i + 1]
  local changed
  if ARGV[i] == 'j' then
    changed = hold(pid, room, user, ARGV[i + 2])
    if changed then index_add(room, user, ARGV[i + 3]) end
  else
    changed = release(pid, room, user)
    if changed then index_remove(room, user) end
  end
  out[#out + 1] = changed and 1 or 0
  out[#out + 1] = redis.call('HLEN', P .. 'pm:' .. room)
end
return out
"""
)

# ARGV: prefix, room, after ('' for none), limit, key prefix ('' for none)
# -> {count, next key or '', user, json, user, json, ...}
PAGE = (
    _scripts._PRESENCE
    + """
local room, after, limit, q = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local zkey, present = P .. 'pz:' .. room, P .. 'pm:' .. room
local min, max = '-', '+'
if after ~= '' then min = '(' .. after end
if q ~= '' then
  if after == '' or after < q then min = '[' .. q end
  max = '[' .. q .. '\\255'
end
local keys, users = {}, {}
local offset = 0
while #keys <= limit do
  local chunk = redis.call('ZRANGEBYLEX', zkey, min, max, 'LIMIT', offset, limit + 1)
  if #chunk == 0 then break end
  offset = offset + #chunk
  for _, key in ipairs(chunk) do
    local cut = string.find(key, '\\n', 1, true)
    local user = string.sub(key, cut + 1)
    if redis.call('HEXISTS', present, user) == 1 then
      keys[#keys + 1] = key
      users[#users + 1] = user
    end
    if #keys > limit then break end
  end
end
local nxt = ''
if #keys > limit then
  nxt = keys[limit]
  users[limit + 1] = nil
end
local out = {redis.call('HLEN', present), nxt}
if #users > 0 then
  local found = redis.call('HMGET', P .. 'users', unpack(users))
  for i, user in ipairs(users) do
    out[#out + 1] = user
    out[#out + 1] = found[i] or ''
  end
end
return out
"""
)

# ARGV: prefix, user, key, rooms... : the user's entry in each room's index, by its new name
REINDEX = (
    "local P = ARGV[1]\n"
    + _INDEX
    + """
for i = 4, #ARGV do
  if redis.call('HEXISTS', P .. 'pk:' .. ARGV[i], ARGV[2]) == 1 then
    index_add(ARGV[i], ARGV[2], ARGV[3])
  end
end
return 0
"""
)

# ARGV: prefix, room, now ms, interval ms, limit, scale -> {count, announce, retry}
CLAIM = """
local P, room = ARGV[1], ARGV[2]
local now, interval, limit = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local count = redis.call('HLEN', P .. 'pm:' .. room)
local key = P .. 'occ:' .. room
local record = redis.call('HMGET', key, 'c', 't')
local last, at = tonumber(record[1]), tonumber(record[2])
if not (count > limit or (last ~= nil and last > limit)) then
  if last ~= nil then redis.call('DEL', key) end
  return {count, 0, 0}
end
if last == count then return {count, 0, 0} end
local scale, wait = tonumber(ARGV[6]), interval
if scale > 0 then wait = math.max(interval, math.floor(interval * count / scale)) end
if at ~= nil and now - at < wait then return {count, 0, 1} end
redis.call('HSET', key, 'c', count, 't', now)
redis.call('PEXPIRE', key, 86400000)
return {count, 1, 0}
"""

# ARGV: prefix, pid, user, json -> 1 first process online, 0 not, -1 pid not registered
ONLINE = (
    _scripts._PRESENCE
    + """
if not registered(ARGV[2]) then return -1 end
redis.call('HSET', P .. 'users', ARGV[3], ARGV[4])
local added = redis.call('SADD', P .. 'on:' .. ARGV[3], ARGV[2])
redis.call('SADD', P .. 'proc:' .. ARGV[2], 'o' .. ARGV[3])
if added == 1 and redis.call('SCARD', P .. 'on:' .. ARGV[3]) == 1 then return 1 end
return 0
"""
)

# ARGV: prefix, pid, user -> 1 when no process has the user online any more
OFFLINE = """
local P = ARGV[1]
local removed = redis.call('SREM', P .. 'on:' .. ARGV[3], ARGV[2])
redis.call('SREM', P .. 'proc:' .. ARGV[2], 'o' .. ARGV[3])
if removed == 1 and redis.call('SCARD', P .. 'on:' .. ARGV[3]) == 0 then return 1 end
return 0
"""

_Op = tuple[str, str, str, str]


class PresenceBatches:
    """The batched presence writes, pages, counts and online status of one Redis broker."""

    __slots__ = ("_batches", "_broker")

    def __init__(self, broker: RedisBroker) -> None:
        self._broker = broker
        self._batches: RoomBatches[_Op] = RoomBatches(self._apply)

    async def enter(self, room: str, user: User) -> PresenceChange:
        op = ("j", user.id, encode_user(user), member_key(user))
        change = await self._batches.run(room, op)
        self._broker._presence.setdefault(room, {})[user.id] = user
        return change

    async def exit(self, room: str, user_id: str) -> PresenceChange:
        users = self._broker._presence.get(room)
        if users is not None:
            users.pop(user_id, None)
            if not users:
                del self._broker._presence[room]
        return await self._batches.run(room, ("l", user_id, "", ""))

    async def _apply(self, room: str, ops: Sequence[_Op]) -> list[PresenceChange]:
        broker = self._broker
        args: list[str | int] = [broker.process, room]
        for op in ops:
            args += op
        async with broker._lock:
            result = await broker._registered(broker.layout.room(room), BATCH, *args)
        return [
            PresenceChange(result[2 * index] == 1, int(result[2 * index + 1]))
            for index in range(len(ops))
        ]

    async def members_page(
        self, room: str, after: str | None, limit: int, query: str | None
    ) -> MembersPage:
        prefix = "" if query is None else query_key(query)
        group = self._broker.layout.room(room)
        flat = await self._broker._call(group, PAGE, room, after or "", limit, prefix)
        members = [decode_user(flat[i], flat[i + 1]) for i in range(2, len(flat), 2)]
        return MembersPage(members, int(flat[0]), flat[1] or None)

    async def claim(self, room: str, now: int, interval: int, limit: int, scale: int) -> Claim:
        group = self._broker.layout.room(room)
        count, announce, retry = await self._broker._call(
            group, CLAIM, room, now, interval, limit, scale
        )
        return Claim(int(count), announce == 1, retry == 1)

    async def reindex(self, user: User, rooms: Sequence[Sequence[str]]) -> None:
        """``user`` changed their name: their place in the member lists of ``rooms[i]``, the
        rooms of group ``i``."""
        broker, key = self._broker, member_key(user)

        async def reindex(group: Group) -> None:
            if rooms[group.index]:
                await broker._call(group, REINDEX, user.id, key, *rooms[group.index])

        await in_every(broker.layout.groups, reindex)

    async def clear(self, room: str) -> None:
        prefix = self._broker.layout.room(room).prefix
        with unavailable():
            await self._broker.wire.call(
                "DEL", f"{prefix}pz:{room}", f"{prefix}pk:{room}", f"{prefix}occ:{room}"
            )

    async def come_online(self, user: User) -> bool:
        broker = self._broker
        async with broker._lock:
            group = broker.layout.user(user.id)
            first = await broker._registered(
                group, ONLINE, broker.process, user.id, encode_user(user)
            )
            broker._online[user.id] = user
        return bool(first == 1)

    async def go_offline(self, user_id: str) -> bool:
        broker = self._broker
        async with broker._lock:
            broker._online.pop(user_id, None)
            last = await broker._call(broker.layout.user(user_id), OFFLINE, broker.process, user_id)
        return bool(last == 1)

    async def online(self, user_ids: list[str]) -> list[str]:
        if not user_ids:
            return []
        user_group = self._broker.layout.user
        with unavailable():
            counts: list[Any] = await self._broker.wire.calls(
                *(("SCARD", f"{user_group(user_id).prefix}on:{user_id}") for user_id in user_ids)
            )
        return [user_id for user_id, count in zip(user_ids, counts, strict=True) if count]
