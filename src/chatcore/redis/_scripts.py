"""The Lua scripts: every change that must be atomic across processes runs as one script.

Every script gets the key prefix of one shard group as ``ARGV[1]`` and builds its key names
from it, and gets the group's two fence keys (``P fence:a``, ``P fence:b``, never written) as
``KEYS``, so on a Redis Cluster it runs on the group's slot, refused while that slot migrates
rather than run half on moved keys (:mod:`~chatcore.redis._layout`). With one group on one
Redis ``P`` is the plain prefix and there are no fence keys. Every key below exists per group:
a room's keys in the room's group, ``on:<user>`` in the user's; ``procs``, ``proc:<pid>``,
``users``, ``ur:<user>`` and the store's indexes hold each group's own part. Sharded, the
``PUBLISH`` calls run as ``SPUBLISH`` (:func:`~chatcore.redis._layout.script`); each publishes
on a channel of the script's group.

Presence keys (``P`` is the group's prefix, ``<pid>`` a process's random id)::

    P procs            zset  pid -> deadline (ms, Redis time); a process is dead past it
    P proc:<pid>       set   what the process holds: "p<room>\\n<user>", "o<user>"
    P ph:<room>        set   holders "<pid>\\n<user>" of the room
    P pm:<room>        hash  user -> how many processes hold the user in the room
    P ur:<user>        set   rooms the user is present in
    P on:<user>        set   processes holding connections of the user
    P users            hash  user -> [name, avatar]

Ordering keys (only when the server publishes messages and changes, that is with stores other
than Redis)::

    P pub:<room>       int   the highest message id published
    P held:<room>      hash  id -> envelope, messages waiting for their predecessor
    P heldat:<room>    zset  id -> when it started waiting (ms)
    P heldc:<room>     list  "<after> <ms> <envelope>": message_changed envelopes waiting for
                             message <after> (held since <ms>), in the order they came
    P pubv:<room>      hash  message id -> the newest version a message_changed went out with
    P heldrooms        set   rooms with waiting messages or changes

Store keys::

    P rooms            hash  room -> {owner, kind, users, auto}
    P titles           hash  room -> title
    P groups           set   group rooms
    P dms:<user>       set   the user's direct rooms
    P seq:<room>       int   the room's last message id
    P log:<room>       list  the newest messages, stored items "<head> <json>"
    P cid:<room>       zset  "<sender>\\n<client_id>" -> id, for messages still in the log
    P chn:<room>       int   the room's last change number (seq)
    P ch:<room>        list  the newest changes, "<seq> <after> <kind> <item>"
    P chcut:<room>     int   ``after`` of the newest change dropped from ``ch`` (none: -1)
    P rd:<room>        hash  user -> read mark (a message id)
    P marked:<user>    set   rooms the user has a read mark in

A stored item (``_stored``) is ``"<head> <json>"``; the head is the id, then ``v<version>`` once
the message has changed and ``d`` once it is deleted, so scripts compare versions and skip
deleted messages without parsing JSON.

The room scripts also publish the name of the room they changed on the channel
``P room-changes`` (:data:`ROOM_CHANGES`) of the room's group, so processes that cache rooms
forget it.
"""

from __future__ import annotations

__all__ = (
    "APPEND",
    "BEAT",
    "CHANGE",
    "CHANGES",
    "CLEAR",
    "CONNECT",
    "CREATE_ROOM",
    "DELETE_ROOM",
    "DISCONNECT",
    "GET_MESSAGE",
    "HISTORY",
    "JOIN",
    "LEAVE",
    "LIST_ROOMS",
    "MARK_READ",
    "MEMBERS",
    "PUBLISH_CHANGE",
    "PUBLISH_MESSAGE",
    "READING",
    "READ_MARKS",
    "ROOM_CHANGES",
    "SYNC",
    "UPDATE_ROOM",
)

#: The channel (after the prefix) the room scripts publish each changed room's name on.
ROOM_CHANGES = "room-changes"

_PRESENCE = """
local P = ARGV[1]

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- pid holds user in room; true when no process held the user there before
local function hold(pid, room, user, json)
  redis.call('HSET', P .. 'users', user, json)
  if redis.call('SADD', P .. 'ph:' .. room, pid .. '\\n' .. user) == 0 then return false end
  redis.call('SADD', P .. 'proc:' .. pid, 'p' .. room .. '\\n' .. user)
  if redis.call('HINCRBY', P .. 'pm:' .. room, user, 1) == 1 then
    redis.call('SADD', P .. 'ur:' .. user, room)
    return true
  end
  return false
end

-- pid lets go of user in room; true when no process holds the user there any more
local function release(pid, room, user)
  if redis.call('SREM', P .. 'ph:' .. room, pid .. '\\n' .. user) == 0 then return false end
  redis.call('SREM', P .. 'proc:' .. pid, 'p' .. room .. '\\n' .. user)
  if redis.call('HINCRBY', P .. 'pm:' .. room, user, -1) <= 0 then
    redis.call('HDEL', P .. 'pm:' .. room, user)
    redis.call('SREM', P .. 'ur:' .. user, room)
    return true
  end
  return false
end

-- users whose last connection's process drop() forgot (no process holds one any more)
local offline = {}

-- forget everything pid holds; returns the users who left a room: {room, user, json}, ...
local function drop(pid)
  local left = {}
  for _, entry in ipairs(redis.call('SMEMBERS', P .. 'proc:' .. pid)) do
    local rest = string.sub(entry, 2)
    if string.sub(entry, 1, 1) == 'p' then
      local cut = string.find(rest, '\\n', 1, true)
      local room, user = string.sub(rest, 1, cut - 1), string.sub(rest, cut + 1)
      if release(pid, room, user) then
        left[#left + 1] = room
        left[#left + 1] = user
        left[#left + 1] = redis.call('HGET', P .. 'users', user) or ''
      end
    else
      redis.call('SREM', P .. 'on:' .. rest, pid)
      if redis.call('SCARD', P .. 'on:' .. rest) == 0 then offline[#offline + 1] = rest end
    end
  end
  redis.call('DEL', P .. 'proc:' .. pid)
  return left
end

local function registered(pid)
  return redis.call('ZSCORE', P .. 'procs', pid) ~= false
end

-- Publish the room's held message_changed envelopes whose message `upto` has been published
-- (all of them when `upto` is nil), in the order they came; keep the others.
local function release_changes(room, upto)
  local key = P .. 'heldc:' .. room
  local entries = redis.call('LRANGE', key, 0, -1)
  if #entries == 0 then return end
  local keep = {}
  for _, entry in ipairs(entries) do
    local after, rest = string.match(entry, '^(%d+) %d+ ()')
    if upto == nil or tonumber(after) <= upto then
      redis.call('PUBLISH', P .. 'room:' .. room, string.sub(entry, rest))
    else
      keep[#keep + 1] = entry
    end
  end
  redis.call('DEL', key)
  if #keep > 0 then
    redis.call('RPUSH', key, unpack(keep))
    redis.call('PEXPIRE', key, 3600000)
  end
end

-- Ordered publishing of a room's messages (stores other than the Redis store): publish every
-- held message of the room, in id order, each followed by the held changes that waited for
-- it, then the remaining changes; note the highest id as published.
local function release_held(room)
  local held = P .. 'held:' .. room
  local ids = redis.call('HKEYS', held)
  local numbers = {}
  for i, id in ipairs(ids) do numbers[i] = tonumber(id) end
  table.sort(numbers)
  local last = tonumber(redis.call('GET', P .. 'pub:' .. room) or '0')
  for _, id in ipairs(numbers) do
    redis.call('PUBLISH', P .. 'room:' .. room, redis.call('HGET', held, id))
    release_changes(room, id)
    if id > last then last = id end
  end
  release_changes(room, nil)
  redis.call('SET', P .. 'pub:' .. room, last)
  redis.call('DEL', held, P .. 'heldat:' .. room)
  redis.call('SREM', P .. 'heldrooms', room)
end

-- Release the room's held messages and changes if the oldest of them has waited `wait` ms.
local function release_stale(room, now, wait)
  local oldest = redis.call('ZRANGE', P .. 'heldat:' .. room, 0, 0, 'WITHSCORES')
  local since = oldest[2] and tonumber(oldest[2])
  local change = redis.call('LINDEX', P .. 'heldc:' .. room, 0)
  if change then
    local at = tonumber(string.match(change, '^%d+ (%d+) '))
    if since == nil or at < since then since = at end
  end
  if since == nil then
    redis.call('SREM', P .. 'heldrooms', room)
  elseif now - since >= wait then
    release_held(room)
  end
end
"""

# ARGV: prefix, pid, room, user, json -> 1 first in the room, 0 not, -1 pid not registered
JOIN = (
    _PRESENCE
    + """
if not registered(ARGV[2]) then return -1 end
return hold(ARGV[2], ARGV[3], ARGV[4], ARGV[5]) and 1 or 0
"""
)

# ARGV: prefix, pid, room, user -> 1 when the user left the room in every process
LEAVE = (
    _PRESENCE
    + """
return release(ARGV[2], ARGV[3], ARGV[4]) and 1 or 0
"""
)

# ARGV: prefix, pid, user, json -> 0, or -1 pid not registered
CONNECT = (
    _PRESENCE
    + """
if not registered(ARGV[2]) then return -1 end
redis.call('HSET', P .. 'users', ARGV[3], ARGV[4])
redis.call('SADD', P .. 'on:' .. ARGV[3], ARGV[2])
redis.call('SADD', P .. 'proc:' .. ARGV[2], 'o' .. ARGV[3])
return 0
"""
)

# ARGV: prefix, pid, user
DISCONNECT = (
    _PRESENCE
    + """
redis.call('SREM', P .. 'on:' .. ARGV[3], ARGV[2])
redis.call('SREM', P .. 'proc:' .. ARGV[2], 'o' .. ARGV[3])
return 0
"""
)

# ARGV: prefix, room -> {user, json, user, json, ...}
MEMBERS = (
    _PRESENCE
    + """
local users = redis.call('HKEYS', P .. 'pm:' .. ARGV[2])
if #users == 0 then return {} end
local found = redis.call('HMGET', P .. 'users', unpack(users))
local out = {}
for i, user in ipairs(users) do
  out[#out + 1] = user
  out[#out + 1] = found[i] or ''
end
return out
"""
)

# ARGV: prefix, room
CLEAR = (
    _PRESENCE
    + """
local room = ARGV[2]
for _, holder in ipairs(redis.call('SMEMBERS', P .. 'ph:' .. room)) do
  local cut = string.find(holder, '\\n', 1, true)
  local pid, user = string.sub(holder, 1, cut - 1), string.sub(holder, cut + 1)
  redis.call('SREM', P .. 'proc:' .. pid, 'p' .. room .. '\\n' .. user)
end
for _, user in ipairs(redis.call('HKEYS', P .. 'pm:' .. room)) do
  redis.call('SREM', P .. 'ur:' .. user, room)
end
redis.call('DEL', P .. 'ph:' .. room, P .. 'pm:' .. room)
redis.call('DEL', P .. 'pub:' .. room, P .. 'held:' .. room, P .. 'heldat:' .. room)
redis.call('DEL', P .. 'pubv:' .. room)
redis.call('SREM', P .. 'heldrooms', room)
return 0
"""
)

# ARGV: prefix, pid, expiry ms, order wait ms
# -> {1 if pid was registered else 0, {room, user, json, ...}, {user, ...}}: the users who
# left a room, and those whose connections only a removed process held (now offline)
# Keeps this process alive, then removes the processes whose deadline passed. Only the
# script that removes a dead process returns its departures, so each is announced once.
BEAT = (
    _PRESENCE
    + """
local pid, now = ARGV[2], now_ms()
local known = registered(pid)
if known then redis.call('ZADD', P .. 'procs', now + tonumber(ARGV[3]), pid) end
local left = {}
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', P .. 'procs', '-inf', now, 'LIMIT', 0, 100)) do
  if dead ~= pid then
    redis.call('ZREM', P .. 'procs', dead)
    for _, item in ipairs(drop(dead)) do left[#left + 1] = item end
  end
end
for _, room in ipairs(redis.call('SMEMBERS', P .. 'heldrooms')) do
  release_stale(room, now, tonumber(ARGV[4]))
end
return {known and 1 or 0, left, offline}
"""
)

# ARGV: prefix, pid, expiry ms, n, then n x (room, user, json), then (user, json) pairs online.
# Makes Redis hold exactly what this process holds (after an outage, or after others took it
# for dead). Returns {{room, user, json, ...} now present, {room, user, json, ...} now gone}.
SYNC = (
    _PRESENCE
    + """
local pid = ARGV[2]
redis.call('ZADD', P .. 'procs', now_ms() + tonumber(ARGV[3]), pid)
local gone = {}
local dropped = drop(pid)
for i = 1, #dropped, 3 do
  gone[dropped[i] .. '\\n' .. dropped[i + 1]] = dropped[i + 2]
end
local joined = {}
local n = tonumber(ARGV[4])
for i = 5, 4 + 3 * n, 3 do
  local room, user, json = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if hold(pid, room, user, json) then
    local key = room .. '\\n' .. user
    if gone[key] then
      gone[key] = nil
    else
      joined[#joined + 1] = room
      joined[#joined + 1] = user
      joined[#joined + 1] = json
    end
  end
end
for i = 5 + 3 * n, #ARGV, 2 do
  redis.call('HSET', P .. 'users', ARGV[i], ARGV[i + 1])
  redis.call('SADD', P .. 'on:' .. ARGV[i], pid)
  redis.call('SADD', P .. 'proc:' .. pid, 'o' .. ARGV[i])
end
local left = {}
for key, json in pairs(gone) do
  local cut = string.find(key, '\\n', 1, true)
  left[#left + 1] = string.sub(key, 1, cut - 1)
  left[#left + 1] = string.sub(key, cut + 1)
  left[#left + 1] = json
end
return {joined, left}
"""
)

# ARGV: prefix, room, message id, envelope, order wait ms
# Publishes a room's messages in id order when the store does not (the server publishes after
# the append, and two processes may race): a message whose predecessor has not been published
# yet waits, until the predecessor comes or for at most the order wait.
PUBLISH_MESSAGE = (
    _PRESENCE
    + """
local room, id, now, wait = ARGV[2], tonumber(ARGV[3]), now_ms(), tonumber(ARGV[5])
local pub = P .. 'pub:' .. room
local last = tonumber(redis.call('GET', pub) or '0')
-- (with nothing known, as after Redis lost its data, only id 1 needs no wait)
if id > last + 1 then
  redis.call('HSET', P .. 'held:' .. room, id, ARGV[4])
  redis.call('ZADD', P .. 'heldat:' .. room, now, id)
  redis.call('PEXPIRE', P .. 'held:' .. room, 3600000)
  redis.call('PEXPIRE', P .. 'heldat:' .. room, 3600000)
  redis.call('SADD', P .. 'heldrooms', room)
  release_stale(room, now, wait)
  return 0
end
redis.call('PUBLISH', P .. 'room:' .. room, ARGV[4])
if id > last then
  -- changes and the next messages may be waiting for this one
  release_changes(room, id)
  local held = P .. 'held:' .. room
  local payload = redis.call('HGET', held, id + 1)
  while payload do
    id = id + 1
    redis.call('PUBLISH', P .. 'room:' .. room, payload)
    redis.call('HDEL', held, id)
    redis.call('ZREM', P .. 'heldat:' .. room, id)
    release_changes(room, id)
    payload = redis.call('HGET', held, id + 1)
  end
  redis.call('SET', pub, id)
end
release_stale(room, now, wait)
return 1
"""
)

# ARGV: prefix, room, after, envelope, order wait ms, message id and version (or "", "")
# -> 1 published, 0 held, 2 dropped (an equal or newer state of the message went out before)
# Publishes a message_changed envelope when the server publishes (stores other than Redis):
# it must not overtake message `after` of the room, so it waits until that message is
# published (PUBLISH_MESSAGE releases it), or for at most the order wait.
PUBLISH_CHANGE = (
    _PRESENCE
    + """
local room, after, now, wait = ARGV[2], tonumber(ARGV[3]), now_ms(), tonumber(ARGV[5])
-- A change older than one already sent for its message is dropped: each carries the message's
-- whole state, so the newer one says it all (two processes may publish in either order).
if ARGV[6] ~= '' then
  local versions, id, version = P .. 'pubv:' .. room, ARGV[6], tonumber(ARGV[7])
  if tonumber(redis.call('HGET', versions, id) or '-1') >= version then return 2 end
  redis.call('HSET', versions, id, version)
  redis.call('PEXPIRE', versions, 3600000)
end
local last = tonumber(redis.call('GET', P .. 'pub:' .. room) or '0')
if after <= last then
  redis.call('PUBLISH', P .. 'room:' .. room, ARGV[4])
  release_stale(room, now, wait)
  return 1
end
local key = P .. 'heldc:' .. room
redis.call('RPUSH', key, after .. ' ' .. now .. ' ' .. ARGV[4])
redis.call('PEXPIRE', key, 3600000)
redis.call('SADD', P .. 'heldrooms', room)
release_stale(room, now, wait)
return 0
"""
)

# The room scripts below publish the room's name on ARGV[3] (P .. ROOM_CHANGES) in the same
# step as the change, so processes caching rooms forget the old one.

# Forget a room's history, change log and read marks (a room created again starts clean).
_FORGET_ROOM = """
local function forget_room(P, room)
  local marks = P .. 'rd:' .. room
  for _, user in ipairs(redis.call('HKEYS', marks)) do
    redis.call('SREM', P .. 'marked:' .. user, room)
  end
  redis.call('DEL', P .. 'seq:' .. room, P .. 'log:' .. room, P .. 'cid:' .. room, marks,
    P .. 'chn:' .. room, P .. 'ch:' .. room, P .. 'chcut:' .. room, P .. 'pubv:' .. room)
end
"""

# ARGV: prefix, room, changes channel, meta json, title, kind, users... -> 1 created, 0 exists
CREATE_ROOM = (
    _FORGET_ROOM
    + """
local P, room = ARGV[1], ARGV[2]
if redis.call('HSETNX', P .. 'rooms', room, ARGV[4]) == 0 then return 0 end
redis.call('HSET', P .. 'titles', room, ARGV[5])
forget_room(P, room)
if ARGV[6] == 'direct' then
  for i = 7, #ARGV do redis.call('SADD', P .. 'dms:' .. ARGV[i], room) end
else
  redis.call('SADD', P .. 'groups', room)
end
redis.call('PUBLISH', ARGV[3], room)
return 1
"""
)

# ARGV: prefix, room, changes channel, title -> the room's meta json, or false when there is
# no such room
UPDATE_ROOM = """
local P, room = ARGV[1], ARGV[2]
local meta = redis.call('HGET', P .. 'rooms', room)
if not meta then return false end
redis.call('HSET', P .. 'titles', room, ARGV[4])
redis.call('PUBLISH', ARGV[3], room)
return meta
"""

# ARGV: prefix, room, changes channel -> 1 deleted, 0 no such room
DELETE_ROOM = (
    _FORGET_ROOM
    + """
local P, room = ARGV[1], ARGV[2]
local meta = redis.call('HGET', P .. 'rooms', room)
if not meta then return 0 end
redis.call('PUBLISH', ARGV[3], room)
for _, user in ipairs(cjson.decode(meta)['users']) do
  redis.call('SREM', P .. 'dms:' .. user, room)
end
redis.call('SREM', P .. 'groups', room)
redis.call('HDEL', P .. 'rooms', room)
redis.call('HDEL', P .. 'titles', room)
forget_room(P, room)
return 1
"""
)

# ARGV: prefix, user -> {room, meta, title, ...} for the group rooms and the user's direct rooms
LIST_ROOMS = """
local P = ARGV[1]
local out = {}
for _, room in ipairs(redis.call('SUNION', P .. 'groups', P .. 'dms:' .. ARGV[2])) do
  local meta = redis.call('HGET', P .. 'rooms', room)
  if meta then
    out[#out + 1] = room
    out[#out + 1] = meta
    out[#out + 1] = redis.call('HGET', P .. 'titles', room) or room
  end
end
return out
"""

# ARGV: prefix, room, the stored item before and after its id (``_stored``),
#       "<sender>\\n<client_id>" or "", history size, channel or "", then the parts of the
#       message envelope around each place its id goes (``_codec``, from ``protocol``)
# -> {-1} no such room, {1, id} appended, {0, item} a repeated client id (the first message).
# With a channel, the message envelope is published in the same step, so the room's messages
# reach every subscriber in id order whichever process appended them.
APPEND = """
local P, room, member, size = ARGV[1], ARGV[2], ARGV[5], tonumber(ARGV[6])
if redis.call('HEXISTS', P .. 'rooms', room) == 0 then return {-1} end
local log, cids = P .. 'log:' .. room, P .. 'cid:' .. room
if member ~= '' then
  local seen = redis.call('ZSCORE', cids, member)
  if seen then
    local last = tonumber(redis.call('GET', P .. 'seq:' .. room))
    local item = redis.call('LINDEX', log, tonumber(seen) - last - 1)
    if item then return {0, item} end
  end
end
local id = redis.call('INCR', P .. 'seq:' .. room)
redis.call('RPUSH', log, ARGV[3] .. id .. ARGV[4])
redis.call('LTRIM', log, -size, -1)
if member ~= '' then redis.call('ZADD', cids, id, member) end
redis.call('ZREMRANGEBYSCORE', cids, '-inf', id - size)
if ARGV[7] ~= '' then
  redis.call('PUBLISH', ARGV[7], table.concat({unpack(ARGV, 8)}, tostring(id)))
end
return {1, id}
"""

# ARGV: prefix, room, limit, after or "", before or ""
# -> {-1} no such room, or {last id, more (1/0), items...}: the newest `limit` messages with
# after < id < before, in id order.
HISTORY = """
local P, room, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('HEXISTS', P .. 'rooms', room) == 0 then return {-1} end
local log = P .. 'log:' .. room
local last = tonumber(redis.call('GET', P .. 'seq:' .. room) or '0')
local n = redis.call('LLEN', log)
local first = last - n + 1
local low, high = 0, n
if ARGV[4] ~= '' then low = math.max(0, tonumber(ARGV[4]) + 1 - first) end
if ARGV[5] ~= '' then high = math.max(0, math.min(n, tonumber(ARGV[5]) - first)) end
local start = math.max(low, high - limit)
local out = {last, start > low and 1 or 0}
if start < high then
  for _, item in ipairs(redis.call('LRANGE', log, start, high - 1)) do out[#out + 1] = item end
end
return out
"""

# Reading stored items (``_stored``) and the room's log position of a message.
_ITEMS = """
local P, room = ARGV[1], ARGV[2]

-- the message's version and whether it is deleted, from the item's head ("17v3d")
local function version_of(item)
  local head = string.match(item, '^(%S+) ')
  local version, deleted = string.match(head, 'v(%d+)(d?)$')
  return tonumber(version or '0'), deleted == 'd'
end

-- whether the item's sender is `sender` (the JSON string of the user's id)
local function sent_by(item, sender)
  local open = string.find(item, ' [', 1, true)
  local comma = string.find(item, ',', open + 2, true)
  return string.sub(item, comma + 1, comma + #sender + 1) == sender .. ','
end

-- the room's last id and the id of the oldest message the log holds
local function bounds(room)
  local last = tonumber(redis.call('GET', P .. 'seq:' .. room) or '0')
  return last, last - redis.call('LLEN', P .. 'log:' .. room) + 1
end

local function exists(room)
  return redis.call('HEXISTS', P .. 'rooms', room) == 1
end
"""

# ARGV: prefix, room, id -> {-1} no such room, {0} not in the history, {1, item}
GET_MESSAGE = (
    _ITEMS
    + """
if not exists(room) then return {-1} end
local id = tonumber(ARGV[3])
local last, first = bounds(room)
if id < first or id > last then return {0} end
return {1, redis.call('LINDEX', P .. 'log:' .. room, id - first)}
"""
)

# ARGV: prefix, room, id, version it must have, new item, kind, history size, channel or "",
#       envelope or ""
# -> {-1} no such room, {-2} not in the history, {0} the version moved, {1, seq, after}.
# Replaces the message by its new state, takes the room's next change number, logs the change
# (keeping the newest `history size`, and the `after` of the newest one dropped), and with a
# channel publishes its message_changed envelope in the same step: it reaches every process
# after the messages appended before it and before those appended after it.
CHANGE = (
    _ITEMS
    + """
if not exists(room) then return {-1} end
local id, size, item, kind = tonumber(ARGV[3]), tonumber(ARGV[7]), ARGV[5], ARGV[6]
local log = P .. 'log:' .. room
local last, first = bounds(room)
if id < first or id > last then return {-2} end
local old = redis.call('LINDEX', log, id - first)
if not old or tonumber(string.match(old, '^%d+')) ~= id then return {-2} end
if version_of(old) ~= tonumber(ARGV[4]) then return {0} end
redis.call('LSET', log, id - first, item)
local seq = redis.call('INCR', P .. 'chn:' .. room)
local changes = P .. 'ch:' .. room
local n = redis.call('RPUSH', changes, seq .. ' ' .. last .. ' ' .. kind .. ' ' .. item)
while n > size do
  local dropped = redis.call('LPOP', changes)
  redis.call('SET', P .. 'chcut:' .. room, string.match(dropped, '^%d+ (%d+) '))
  n = n - 1
end
if ARGV[8] ~= '' then
  redis.call('PUBLISH', ARGV[8], ARGV[9])
  -- (what went out, so a batch of reactions sent later with an older state is dropped)
  local versions = P .. 'pubv:' .. room
  redis.call('HSET', versions, id, tonumber(ARGV[4]) + 1)
  redis.call('PEXPIRE', versions, 3600000)
end
return {1, seq, last}
"""
)

# ARGV: prefix, room, since, limit -> {-1} no such room, or {gap (1/0), entries...}: the
# logged changes with after >= since, oldest first, at most `limit`. A change's `after` never
# decreases along the log, so the first one is found by bisection.
CHANGES = (
    _ITEMS
    + """
if not exists(room) then return {-1} end
local since, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local changes = P .. 'ch:' .. room
local low, high = 0, redis.call('LLEN', changes)
while low < high do
  local middle = math.floor((low + high) / 2)
  local after = tonumber(string.match(redis.call('LINDEX', changes, middle), '^%d+ (%d+) '))
  if after >= since then high = middle else low = middle + 1 end
end
local found = redis.call('LRANGE', changes, low, low + limit)
local cut = tonumber(redis.call('GET', P .. 'chcut:' .. room) or '-1')
local out = {(cut >= since or #found > limit) and 1 or 0}
for i = 1, math.min(#found, limit) do out[#out + 1] = found[i] end
return out
"""
)

# ARGV: prefix, room, user, id or "" -> {-1} no such room, or {1, mark}
# Moves the user's mark forward to `id` (at most the room's last id); with "", makes it at the
# last id if the user has none.
MARK_READ = (
    _ITEMS
    + """
if not exists(room) then return {-1} end
local user, marks = ARGV[3], P .. 'rd:' .. room
local mark = tonumber(redis.call('HGET', marks, user) or '')
local last = bounds(room)
local new = last
if ARGV[4] ~= '' then new = math.min(tonumber(ARGV[4]), last) end
if mark == nil or (ARGV[4] ~= '' and new > mark) then
  redis.call('HSET', marks, user, new)
  redis.call('SADD', P .. 'marked:' .. user, room)
  mark = new
end
return {1, mark}
"""
)

# ARGV: prefix, room -> {-1} no such room, or {1, meta json, user, mark, ...}
READ_MARKS = (
    _ITEMS
    + """
local meta = redis.call('HGET', P .. 'rooms', room)
if not meta then return {-1} end
local out = {1, meta}
for _, value in ipairs(redis.call('HGETALL', P .. 'rd:' .. room)) do out[#out + 1] = value end
return out
"""
)

# ARGV: prefix, "" (no room), user, the user's id as JSON, cap
# -> {room, mark, unread, ...} for the rooms the user has a mark in and their direct rooms
# (mark 0 when none): unread counts the messages in the log after the mark that the user did
# not send and that are not deleted, up to `cap`.
READING = (
    _ITEMS
    + """
local user, sender, cap = ARGV[3], ARGV[4], tonumber(ARGV[5])
local dms = P .. 'dms:' .. user

local function unread(room, mark)
  local last, first = bounds(room)
  local index, count = math.max(mark + 1, first) - first, 0
  local stop = last - first
  while index <= stop and count < cap do
    local items = redis.call('LRANGE', P .. 'log:' .. room, index, index + 127)
    for _, item in ipairs(items) do
      local _, deleted = version_of(item)
      if not deleted and not sent_by(item, sender) then
        count = count + 1
        if count >= cap then break end
      end
    end
    index = index + 128
  end
  return count
end

local out = {}
for _, name in ipairs(redis.call('SUNION', P .. 'marked:' .. user, dms)) do
  if exists(name) then
    local mark = redis.call('HGET', P .. 'rd:' .. name, user)
    if mark or redis.call('SISMEMBER', dms, name) == 1 then
      mark = tonumber(mark or '0')
      out[#out + 1] = name
      out[#out + 1] = mark
      out[#out + 1] = unread(name, mark)
    end
  end
end
return out
"""
)
