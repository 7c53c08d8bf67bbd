"""The Lua scripts: every change that must be atomic across processes runs as one script.

Every script gets the key prefix as ``ARGV[1]`` and builds its key names from it (so the
scripts suit one Redis server or a primary with replicas, not Redis Cluster).

Presence keys (``P`` is the prefix, ``<pid>`` a process's random id)::

    P procs            zset  pid -> deadline (ms, Redis time); a process is dead past it
    P proc:<pid>       set   what the process holds: "p<room>\\n<user>", "o<user>"
    P ph:<room>        set   holders "<pid>\\n<user>" of the room
    P pm:<room>        hash  user -> how many processes hold the user in the room
    P ur:<user>        set   rooms the user is present in
    P on:<user>        set   processes holding connections of the user
    P users            hash  user -> [name, avatar]

Ordering keys (only when the server publishes messages, that is with stores other than Redis)::

    P pub:<room>       int   the highest message id published
    P held:<room>      hash  id -> envelope, messages waiting for their predecessor
    P heldat:<room>    zset  id -> when it started waiting (ms)
    P heldrooms        set   rooms with waiting messages

Store keys::

    P rooms            hash  room -> {owner, kind, users, auto}
    P titles           hash  room -> title
    P groups           set   group rooms
    P dms:<user>       set   the user's direct rooms
    P seq:<room>       int   the room's last message id
    P log:<room>       list  the newest messages, "<id> <json>"
    P cid:<room>       zset  "<sender>\\n<client_id>" -> id, for messages still in the log

The room scripts also publish the name of the room they changed on the channel
``P room-changes`` (:data:`ROOM_CHANGES`), so processes that cache rooms forget it.
"""

from __future__ import annotations

__all__ = (
    "APPEND",
    "BEAT",
    "CLEAR",
    "CONNECT",
    "CREATE_ROOM",
    "DELETE_ROOM",
    "DISCONNECT",
    "HISTORY",
    "JOIN",
    "LEAVE",
    "LIST_ROOMS",
    "MEMBERS",
    "PUBLISH_MESSAGE",
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
    end
  end
  redis.call('DEL', P .. 'proc:' .. pid)
  return left
end

local function registered(pid)
  return redis.call('ZSCORE', P .. 'procs', pid) ~= false
end

-- Ordered publishing of a room's messages (stores other than the Redis store): publish every
-- held message of the room, in id order, and note the highest id as published.
local function release_held(room)
  local held = P .. 'held:' .. room
  local ids = redis.call('HKEYS', held)
  local numbers = {}
  for i, id in ipairs(ids) do numbers[i] = tonumber(id) end
  table.sort(numbers)
  local last = tonumber(redis.call('GET', P .. 'pub:' .. room) or '0')
  for _, id in ipairs(numbers) do
    redis.call('PUBLISH', P .. 'room:' .. room, redis.call('HGET', held, id))
    if id > last then last = id end
  end
  redis.call('SET', P .. 'pub:' .. room, last)
  redis.call('DEL', held, P .. 'heldat:' .. room)
  redis.call('SREM', P .. 'heldrooms', room)
end

-- Release the room's held messages if the oldest has waited `wait` ms for its predecessor.
local function release_stale(room, now, wait)
  local oldest = redis.call('ZRANGE', P .. 'heldat:' .. room, 0, 0, 'WITHSCORES')
  if #oldest == 0 then
    redis.call('SREM', P .. 'heldrooms', room)
  elseif now - tonumber(oldest[2]) >= wait then
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
redis.call('SREM', P .. 'heldrooms', room)
return 0
"""
)

# ARGV: prefix, pid, expiry ms, order wait ms
# -> {1 if pid was registered else 0, {room, user, json, ...}}
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
return {known and 1 or 0, left}
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
  -- the next ones may be waiting for this one
  local held = P .. 'held:' .. room
  local payload = redis.call('HGET', held, id + 1)
  while payload do
    id = id + 1
    redis.call('PUBLISH', P .. 'room:' .. room, payload)
    redis.call('HDEL', held, id)
    redis.call('ZREM', P .. 'heldat:' .. room, id)
    payload = redis.call('HGET', held, id + 1)
  end
  redis.call('SET', pub, id)
end
release_stale(room, now, wait)
return 1
"""
)

# The room scripts below publish the room's name on ARGV[3] (P .. ROOM_CHANGES) in the same
# step as the change, so processes caching rooms forget the old one.

# ARGV: prefix, room, changes channel, meta json, title, kind, users... -> 1 created, 0 exists
CREATE_ROOM = """
local P, room = ARGV[1], ARGV[2]
if redis.call('HSETNX', P .. 'rooms', room, ARGV[4]) == 0 then return 0 end
redis.call('HSET', P .. 'titles', room, ARGV[5])
redis.call('DEL', P .. 'seq:' .. room, P .. 'log:' .. room, P .. 'cid:' .. room)
if ARGV[6] == 'direct' then
  for i = 7, #ARGV do redis.call('SADD', P .. 'dms:' .. ARGV[i], room) end
else
  redis.call('SADD', P .. 'groups', room)
end
redis.call('PUBLISH', ARGV[3], room)
return 1
"""

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
DELETE_ROOM = """
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
redis.call('DEL', P .. 'seq:' .. room, P .. 'log:' .. room, P .. 'cid:' .. room)
return 1
"""

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
