"""The PostgreSQL broker's tables and functions, which the broker creates itself.

Every statement of the broker is one call of a function below, so each is atomic on an
autocommit connection shared by the process's tasks. Names start with the broker's prefix
(``{p}`` here): several chats may share a database.

Theory of operation
-------------------
Fan-out
    ``NOTIFY`` (``{p}notify``) on one PostgreSQL channel per broker channel (``{p}c_`` and a
    hash of the name: channel names are identifiers of at most 63 bytes). PostgreSQL delivers
    a transaction's notifications at its commit, in commit order, so every listener sees one
    channel in the same order. A payload over :data:`INLINE_MAX` bytes (``NOTIFY`` takes less
    than 8,000) is stored in ``{p}payloads`` and its id notified as ``@<id>``; the listener
    reads it back. Stored payloads are deleted by the heartbeats after ten minutes.

Order
    A room message goes through ``{p}publish_message``, which locks the room's row in
    ``{p}published`` (the highest id published there), notifies at once when the message is
    the next one, and otherwise holds it in ``{p}held`` until its predecessor comes or the
    order wait has passed (a process may die between its append and its publish). A
    ``message_changed`` goes through ``{p}publish_change``, held in ``{p}held_changes`` until
    message ``after`` is out; ``{p}versions`` drops a change older than one sent for its
    message. The lock serialises a room's publishers, so notification order is id order.

Presence
    ``{p}procs`` holds each live process with a deadline (the database's clock); ``{p}presence``
    holds (room, user, process); ``{p}online`` (user, process); ``{p}users`` each user's name and
    avatar. Presence calls lock the user's row in ``{p}users`` first, so "first in the room" and
    "last out" are decided once per user, whatever processes do at the same time.
    ``{p}beat`` pushes this process's deadline, removes dead processes (each by one caller,
    ``SKIP LOCKED``) and returns the users that left a room with them; ``{p}sync`` makes the
    tables hold exactly what one process holds.

Large rooms
    ``{p}members`` holds each present user once per room with their member key (made in Python
    by ``member_key``; the column's ``"C"`` collation compares bytes, so the order is Python's),
    kept by a trigger on ``{p}presence``; ``{p}rooms`` holds each room's present count (the same
    trigger) and its last occupancy count. ``{p}presence_batch`` (a room's joins and leaves of
    one process that came together) locks the users' rows, then the room's, so each join and
    leave gets its own count; ``{p}members_page`` is an index range;
    ``{p}claim`` applies ``occupancy_claim`` under the room's lock.
"""

from __future__ import annotations

import hashlib

__all__ = ("INLINE_MAX", "SCHEMA_VERSION", "channel_name", "schema", "statements")

#: The largest payload sent inline with ``NOTIFY`` (bytes); PostgreSQL's limit is 7,999.
INLINE_MAX = 7_900


def channel_name(prefix: str, channel: str) -> str:
    """The PostgreSQL channel of a broker channel (``room:lobby`` ...): an identifier."""
    digest = hashlib.blake2b(channel.encode("utf-8", "surrogatepass"), digest_size=10)
    return f"{prefix}c_{digest.hexdigest()}"


_SCHEMA = r"""
CREATE TABLE IF NOT EXISTS {p}procs (pid text PRIMARY KEY, deadline timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS {p}users (id text PRIMARY KEY, name text NOT NULL, avatar text);
CREATE TABLE IF NOT EXISTS {p}presence (
  room text NOT NULL, user_id text NOT NULL, pid text NOT NULL,
  PRIMARY KEY (room, user_id, pid));
CREATE INDEX IF NOT EXISTS {p}presence_pid ON {p}presence (pid);
CREATE INDEX IF NOT EXISTS {p}presence_user ON {p}presence (user_id);
CREATE TABLE IF NOT EXISTS {p}online (
  user_id text NOT NULL, pid text NOT NULL, PRIMARY KEY (user_id, pid));
CREATE INDEX IF NOT EXISTS {p}online_pid ON {p}online (pid);
CREATE TABLE IF NOT EXISTS {p}published (room text PRIMARY KEY, last bigint NOT NULL);
-- How many messages and changes the room holds back (0: the next message may go at once).
ALTER TABLE {p}published ADD COLUMN IF NOT EXISTS holding int NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS {p}held (
  room text NOT NULL, id bigint NOT NULL, chan text NOT NULL, payload text NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (room, id));
CREATE TABLE IF NOT EXISTS {p}held_changes (
  seq bigserial PRIMARY KEY, room text NOT NULL, after bigint NOT NULL, chan text NOT NULL,
  payload text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX IF NOT EXISTS {p}held_changes_room ON {p}held_changes (room, seq);
CREATE TABLE IF NOT EXISTS {p}versions (
  room text NOT NULL, id bigint NOT NULL, version bigint NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (room, id));
CREATE TABLE IF NOT EXISTS {p}payloads (
  id bigserial PRIMARY KEY, payload text NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp());
-- Large rooms: each user's member key (chatcore.backends.presence.member_key: made in Python,
-- compared byte by byte); each present user once per room, by key; each room's count of
-- present users and the last occupancy count sent (count, ms).
ALTER TABLE {p}users ADD COLUMN IF NOT EXISTS key text COLLATE "C";
CREATE TABLE IF NOT EXISTS {p}members (
  room text NOT NULL, user_id text NOT NULL, key text COLLATE "C" NOT NULL,
  PRIMARY KEY (room, user_id));
CREATE INDEX IF NOT EXISTS {p}members_key ON {p}members (room, key);
CREATE INDEX IF NOT EXISTS {p}members_user ON {p}members (user_id);
CREATE TABLE IF NOT EXISTS {p}rooms (
  room text PRIMARY KEY, present int NOT NULL DEFAULT 0, occ_count int, occ_at bigint);

-- The member key of a user row (rows written before keys were kept have none).
CREATE OR REPLACE FUNCTION {p}key_of(uid text, uname text, ukey text) RETURNS text AS $$
  SELECT coalesce(ukey, lower(uname) || E'\n' || uid)
$$ LANGUAGE sql IMMUTABLE;

-- A presence row came or went: the user's member row and the room's count follow (a user is
-- a member while any process holds them in the room). Callers lock the room's row first.
CREATE OR REPLACE FUNCTION {p}presence_changed() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO {p}members (room, user_id, key)
      SELECT NEW.room, u.id, {p}key_of(u.id, u.name, u.key) FROM {p}users u
      WHERE u.id = NEW.user_id
      ON CONFLICT DO NOTHING;
    IF FOUND THEN
      INSERT INTO {p}rooms AS o (room, present) VALUES (NEW.room, 1)
        ON CONFLICT (room) DO UPDATE SET present = o.present + 1;
    END IF;
  ELSIF NOT EXISTS (SELECT 1 FROM {p}presence WHERE room = OLD.room AND user_id = OLD.user_id)
  THEN
    DELETE FROM {p}members WHERE room = OLD.room AND user_id = OLD.user_id;
    IF FOUND THEN
      UPDATE {p}rooms SET present = present - 1 WHERE room = OLD.room;
    END IF;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS {p}presence_members ON {p}presence;
CREATE TRIGGER {p}presence_members AFTER INSERT OR DELETE ON {p}presence
  FOR EACH ROW EXECUTE FUNCTION {p}presence_changed();

-- Presence kept before members were: list and count it once.
INSERT INTO {p}members (room, user_id, key)
  SELECT DISTINCT p.room, u.id, {p}key_of(u.id, u.name, u.key)
  FROM {p}presence p JOIN {p}users u ON u.id = p.user_id
  ON CONFLICT DO NOTHING;
INSERT INTO {p}rooms AS o (room, present)
  SELECT room, count(*) FROM {p}members GROUP BY room
  ON CONFLICT (room) DO UPDATE SET present = excluded.present;

-- The user's name, avatar and member key; their member rows move to the new key.
CREATE OR REPLACE FUNCTION {p}put_user(uid text, uname text, uavatar text, ukey text)
  RETURNS void AS $$
BEGIN
  INSERT INTO {p}users AS u (id, name, avatar, key) VALUES (uid, uname, uavatar, ukey)
    ON CONFLICT (id) DO UPDATE
    SET name = excluded.name, avatar = excluded.avatar, key = excluded.key;
  UPDATE {p}members SET key = ukey WHERE user_id = uid AND key <> ukey;
END $$ LANGUAGE plpgsql;

-- The room's row in {p}rooms, locked (made when missing, again if a heartbeat deleted it
-- meanwhile): a room's presence changes queue here.
CREATE OR REPLACE FUNCTION {p}lock_presence(r text) RETURNS void AS $$
BEGIN
  LOOP
    PERFORM 1 FROM {p}rooms WHERE room = r FOR UPDATE;
    EXIT WHEN FOUND;
    INSERT INTO {p}rooms (room) VALUES (r) ON CONFLICT DO NOTHING;
  END LOOP;
END $$ LANGUAGE plpgsql;

-- NOTIFY, through a stored payload when it is too long to go inline.
CREATE OR REPLACE FUNCTION {p}notify(chan_ text, payload_ text) RETURNS void AS $$
DECLARE big bigint;
BEGIN
  IF octet_length(payload_) > {inline_max} THEN
    INSERT INTO {p}payloads (payload) VALUES (payload_) RETURNING id INTO big;
    PERFORM pg_notify(chan_, '@' || big);
  ELSE
    PERFORM pg_notify(chan_, payload_);
  END IF;
END $$ LANGUAGE plpgsql;

-- The room's row, locked: its publishers queue here. Returns the highest id published.
CREATE OR REPLACE FUNCTION {p}lock_room(r text) RETURNS bigint AS $$
DECLARE lst bigint;
BEGIN
  INSERT INTO {p}published (room, last) VALUES (r, 0) ON CONFLICT (room) DO NOTHING;
  SELECT last INTO lst FROM {p}published WHERE room = r FOR UPDATE;
  RETURN lst;
END $$ LANGUAGE plpgsql;

-- Note how much the room holds back (publish_message's quick path needs 0).
CREATE OR REPLACE FUNCTION {p}recount(r text) RETURNS void AS $$
BEGIN
  UPDATE {p}published SET holding = (SELECT count(*) FROM {p}held WHERE room = r)
    + (SELECT count(*) FROM {p}held_changes WHERE room = r) WHERE room = r;
END $$ LANGUAGE plpgsql;

-- Notify the room's held changes made after a published message (upto; all when NULL),
-- in the order they came.
CREATE OR REPLACE FUNCTION {p}release_changes(r text, upto bigint) RETURNS void AS $$
DECLARE rec record;
BEGIN
  FOR rec IN SELECT seq, chan, payload FROM {p}held_changes
      WHERE room = r AND (upto IS NULL OR after <= upto) ORDER BY seq LOOP
    PERFORM {p}notify(rec.chan, rec.payload);
    DELETE FROM {p}held_changes WHERE seq = rec.seq;
  END LOOP;
END $$ LANGUAGE plpgsql;

-- Notify every held message of the room in id order (each followed by the changes that
-- waited for it), then the other held changes; the room's row must be locked.
CREATE OR REPLACE FUNCTION {p}release_held(r text) RETURNS void AS $$
DECLARE rec record; lst bigint;
BEGIN
  SELECT last INTO lst FROM {p}published WHERE room = r;
  FOR rec IN SELECT id, chan, payload FROM {p}held WHERE room = r ORDER BY id LOOP
    PERFORM {p}notify(rec.chan, rec.payload);
    PERFORM {p}release_changes(r, rec.id);
    lst := greatest(lst, rec.id);
  END LOOP;
  DELETE FROM {p}held WHERE room = r;
  PERFORM {p}release_changes(r, NULL);
  UPDATE {p}published SET last = lst WHERE room = r;
END $$ LANGUAGE plpgsql;

-- Release what the room holds if the oldest of it has waited wait_ms.
CREATE OR REPLACE FUNCTION {p}release_stale(r text, wait_ms int) RETURNS void AS $$
DECLARE since timestamptz;
BEGIN
  SELECT least((SELECT min(at) FROM {p}held WHERE room = r),
               (SELECT min(at) FROM {p}held_changes WHERE room = r)) INTO since;
  IF since IS NOT NULL AND clock_timestamp() - since >= wait_ms * interval '1 millisecond' THEN
    PERFORM {p}release_held(r);
  END IF;
END $$ LANGUAGE plpgsql;

-- A room message, in id order: 1 notified, 0 held for its predecessor.
CREATE OR REPLACE FUNCTION {p}publish_message(
  r text, chan_ text, mid bigint, payload_ text, wait_ms int) RETURNS int AS $$
DECLARE lst bigint; nxt text;
BEGIN
  -- The usual case, in one statement: the next message, nothing held back.
  UPDATE {p}published SET last = mid WHERE room = r AND last = mid - 1 AND holding = 0;
  IF FOUND THEN
    PERFORM {p}notify(chan_, payload_);
    RETURN 1;
  END IF;
  lst := {p}lock_room(r);
  IF mid > lst + 1 THEN
    INSERT INTO {p}held (room, id, chan, payload) VALUES (r, mid, chan_, payload_)
      ON CONFLICT (room, id) DO NOTHING;
    PERFORM {p}release_stale(r, wait_ms);
    PERFORM {p}recount(r);
    RETURN 0;
  END IF;
  PERFORM {p}notify(chan_, payload_);
  IF mid > lst THEN
    PERFORM {p}release_changes(r, mid);
    LOOP
      DELETE FROM {p}held h WHERE h.room = r AND h.id = mid + 1 RETURNING h.payload INTO nxt;
      EXIT WHEN NOT FOUND;
      mid := mid + 1;
      PERFORM {p}notify(chan_, nxt);
      PERFORM {p}release_changes(r, mid);
    END LOOP;
    UPDATE {p}published SET last = mid WHERE room = r;
  END IF;
  PERFORM {p}release_stale(r, wait_ms);
  PERFORM {p}recount(r);
  RETURN 1;
END $$ LANGUAGE plpgsql;

-- A message_changed after message aft: 1 notified, 0 held, 2 dropped (a state as new or
-- newer of the message went out before: each change carries the whole state).
CREATE OR REPLACE FUNCTION {p}publish_change(
  r text, chan_ text, aft bigint, payload_ text, wait_ms int, msg bigint, ver bigint)
  RETURNS int AS $$
DECLARE lst bigint;
BEGIN
  lst := {p}lock_room(r);
  IF msg IS NOT NULL THEN
    INSERT INTO {p}versions AS v (room, id, version) VALUES (r, msg, ver)
      ON CONFLICT (room, id) DO UPDATE SET version = excluded.version, at = clock_timestamp()
      WHERE v.version < excluded.version;
    IF NOT FOUND THEN RETURN 2; END IF;
  END IF;
  IF aft <= lst THEN
    PERFORM {p}notify(chan_, payload_);
    PERFORM {p}release_stale(r, wait_ms);
    PERFORM {p}recount(r);
    RETURN 1;
  END IF;
  INSERT INTO {p}held_changes (room, after, chan, payload) VALUES (r, aft, chan_, payload_);
  PERFORM {p}release_stale(r, wait_ms);
  PERFORM {p}recount(r);
  RETURN 0;
END $$ LANGUAGE plpgsql;

DROP FUNCTION IF EXISTS {p}join(text, text, text, text, text);
DROP FUNCTION IF EXISTS {p}leave(text, text, text);
DROP FUNCTION IF EXISTS {p}connect(text, text, text, text);
DROP FUNCTION IF EXISTS {p}enter(text, text, text, text, text, text);
DROP FUNCTION IF EXISTS {p}exit(text, text, text);

-- A room's joins and leaves of pid that came together, in order: ops [[kind ('j' join, 'l'
-- leave), user, name, avatar, key], ...]. Returns {changed, count, changed, count, ...}: changed
-- 1 when a join found the user in no process there / a leave left them in none; count the
-- users present after it. NULL when pid is not registered.
CREATE OR REPLACE FUNCTION {p}presence_batch(pid_ text, r text, ops jsonb) RETURNS int[] AS $$
DECLARE op jsonb; uid text; changed boolean; out_ int[] := '{}'; n int;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM {p}procs WHERE pid = pid_) THEN RETURN NULL; END IF;
  -- Users in id order (each joining one with the name of its last join), then the room.
  PERFORM {p}put_user(x.id, x.name, x.avatar, x.key) FROM (
    SELECT DISTINCT ON (o->>1) o->>1 AS id, o->>2 AS name, o->>3 AS avatar, o->>4 AS key
    FROM jsonb_array_elements(ops) WITH ORDINALITY AS e(o, i) WHERE o->>0 = 'j'
    ORDER BY o->>1, i DESC) x ORDER BY x.id;
  PERFORM 1 FROM {p}users WHERE id IN (SELECT o->>1 FROM jsonb_array_elements(ops) o)
    ORDER BY id FOR UPDATE;
  PERFORM {p}lock_presence(r);
  FOR op IN SELECT * FROM jsonb_array_elements(ops) LOOP
    uid := op->>1;
    IF op->>0 = 'j' THEN
      INSERT INTO {p}presence (room, user_id, pid) VALUES (r, uid, pid_) ON CONFLICT DO NOTHING;
      changed := FOUND AND NOT EXISTS (
        SELECT 1 FROM {p}presence WHERE room = r AND user_id = uid AND pid <> pid_);
    ELSE
      DELETE FROM {p}presence WHERE room = r AND user_id = uid AND pid = pid_;
      changed := FOUND AND NOT EXISTS (SELECT 1 FROM {p}presence WHERE room = r AND user_id = uid);
    END IF;
    SELECT present INTO n FROM {p}rooms WHERE room = r;
    out_ := out_ || ARRAY[changed::int, coalesce(n, 0)];
  END LOOP;
  RETURN out_;
END $$ LANGUAGE plpgsql;

-- A page of the room's members after key aft (NULL: from the first), names starting with q
-- (a casefolded prefix; NULL: all): {"count": present, "members": [[id, name, avatar, key]...]}
-- with up to lim + 1 members (one more than the page: there is a next page).
CREATE OR REPLACE FUNCTION {p}members_page(r text, aft text, lim int, q text)
  RETURNS jsonb AS $$
DECLARE n int; found_ jsonb; lo text := coalesce(aft, '');
BEGIN
  SELECT present INTO n FROM {p}rooms WHERE room = r;
  IF q IS NULL THEN
    SELECT coalesce(jsonb_agg(jsonb_build_array(x.id, x.name, x.avatar, x.key) ORDER BY x.key),
                    '[]'::jsonb) INTO found_
      FROM (SELECT u.id, u.name, u.avatar, m.key FROM {p}members m
            JOIN {p}users u ON u.id = m.user_id
            WHERE m.room = r AND m.key > lo ORDER BY m.key LIMIT lim + 1) x;
  ELSE
    SELECT coalesce(jsonb_agg(jsonb_build_array(x.id, x.name, x.avatar, x.key) ORDER BY x.key),
                    '[]'::jsonb) INTO found_
      FROM (SELECT u.id, u.name, u.avatar, m.key FROM {p}members m
            JOIN {p}users u ON u.id = m.user_id
            WHERE m.room = r AND m.key > lo AND m.key >= q AND m.key < q || chr(1114111)
            ORDER BY m.key LIMIT lim + 1) x;
  END IF;
  RETURN jsonb_build_object('count', coalesce(n, 0), 'members', found_);
END $$ LANGUAGE plpgsql;

-- chatcore.backends.presence.occupancy_claim on the room's record, atomically:
-- {count, 1 announce else 0, 1 retry else 0}.
CREATE OR REPLACE FUNCTION {p}claim(
  r text, now_ bigint, interval_ bigint, lim int, scale_ int) RETURNS int[] AS $$
DECLARE n int; last int; at bigint; wait bigint := interval_;
BEGIN
  SELECT present, occ_count, occ_at INTO n, last, at FROM {p}rooms WHERE room = r FOR UPDATE;
  n := coalesce(n, 0);
  IF NOT (n > lim OR (last IS NOT NULL AND last > lim)) THEN
    IF last IS NOT NULL THEN
      UPDATE {p}rooms SET occ_count = NULL, occ_at = NULL WHERE room = r;
    END IF;
    RETURN ARRAY[n, 0, 0];
  END IF;
  IF last = n THEN RETURN ARRAY[n, 0, 0]; END IF;
  IF scale_ > 0 THEN wait := greatest(interval_, interval_ * n / scale_); END IF;
  IF at IS NOT NULL AND now_ - at < wait THEN RETURN ARRAY[n, 0, 1]; END IF;
  UPDATE {p}rooms SET occ_count = n, occ_at = now_ WHERE room = r;
  RETURN ARRAY[n, 1, 0];
END $$ LANGUAGE plpgsql;

-- pid holds connections of the user: 1 when the first process to, 0 not, -1 pid unknown.
CREATE OR REPLACE FUNCTION {p}come_online(
  pid_ text, uid text, uname text, uavatar text, ukey text) RETURNS int AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM {p}procs WHERE pid = pid_) THEN RETURN -1; END IF;
  PERFORM {p}put_user(uid, uname, uavatar, ukey);
  INSERT INTO {p}online (user_id, pid) VALUES (uid, pid_) ON CONFLICT DO NOTHING;
  IF FOUND AND NOT EXISTS (SELECT 1 FROM {p}online WHERE user_id = uid AND pid <> pid_) THEN
    RETURN 1;
  END IF;
  RETURN 0;
END $$ LANGUAGE plpgsql;

-- pid holds no connection of the user any more: 1 when no process does.
CREATE OR REPLACE FUNCTION {p}go_offline(pid_ text, uid text) RETURNS int AS $$
BEGIN
  PERFORM 1 FROM {p}users WHERE id = uid FOR UPDATE;
  DELETE FROM {p}online WHERE user_id = uid AND pid = pid_;
  IF FOUND AND NOT EXISTS (SELECT 1 FROM {p}online WHERE user_id = uid) THEN RETURN 1; END IF;
  RETURN 0;
END $$ LANGUAGE plpgsql;

-- A deleted room: its presence and its publishing state go.
CREATE OR REPLACE FUNCTION {p}clear(r text) RETURNS void AS $$
BEGIN
  PERFORM {p}lock_room(r);
  PERFORM 1 FROM {p}rooms WHERE room = r FOR UPDATE;
  DELETE FROM {p}presence WHERE room = r;
  DELETE FROM {p}members WHERE room = r;
  DELETE FROM {p}rooms WHERE room = r;
  DELETE FROM {p}held WHERE room = r;
  DELETE FROM {p}held_changes WHERE room = r;
  DELETE FROM {p}versions WHERE room = r;
  DELETE FROM {p}published WHERE room = r;
END $$ LANGUAGE plpgsql;

-- The user's new name, avatar and member key; the rooms they are present in.
DROP FUNCTION IF EXISTS {p}update_user(text, text, text);
CREATE OR REPLACE FUNCTION {p}update_user(uid text, uname text, uavatar text, ukey text)
  RETURNS SETOF text AS $$
BEGIN
  PERFORM {p}put_user(uid, uname, uavatar, ukey);
  RETURN QUERY SELECT room FROM {p}members WHERE user_id = uid ORDER BY room;
END $$ LANGUAGE plpgsql;

-- Forget everything a process holds; the users who then left a room, as
-- [[room, user, name, avatar], ...].
CREATE OR REPLACE FUNCTION {p}drop_process(pid_ text) RETURNS jsonb AS $$
DECLARE left_ jsonb;
BEGIN
  PERFORM 1 FROM {p}users WHERE id IN (SELECT user_id FROM {p}presence WHERE pid = pid_)
    ORDER BY id FOR UPDATE;
  PERFORM 1 FROM {p}rooms WHERE room IN (SELECT room FROM {p}presence WHERE pid = pid_)
    ORDER BY room FOR UPDATE;
  WITH gone AS (DELETE FROM {p}presence WHERE pid = pid_ RETURNING room, user_id)
  SELECT coalesce(jsonb_agg(jsonb_build_array(g.room, g.user_id, u.name, u.avatar)),
                  '[]'::jsonb) INTO left_
    FROM gone g JOIN {p}users u ON u.id = g.user_id
    WHERE NOT EXISTS (SELECT 1 FROM {p}presence o
                      WHERE o.room = g.room AND o.user_id = g.user_id AND o.pid <> pid_);
  DELETE FROM {p}online WHERE pid = pid_;
  RETURN left_;
END $$ LANGUAGE plpgsql;

-- Keep pid alive and remove the dead: {"known": pid was registered, "left": [...], "offline":
-- [user, ...] (users the dead held connections of and no live process does)}.
-- Also releases held messages that waited too long, and old stored payloads.
CREATE OR REPLACE FUNCTION {p}beat(pid_ text, expiry_ms int, wait_ms int) RETURNS jsonb AS $$
DECLARE known boolean; dead text[]; d text; r text; left_ jsonb := '[]'::jsonb;
  offline_ jsonb := '[]'::jsonb;
BEGIN
  UPDATE {p}procs SET deadline = clock_timestamp() + expiry_ms * interval '1 millisecond'
    WHERE pid = pid_;
  known := FOUND;
  SELECT array_agg(pid ORDER BY pid) INTO dead FROM (
    SELECT pid FROM {p}procs WHERE deadline < clock_timestamp() AND pid <> pid_
    ORDER BY pid LIMIT 100 FOR UPDATE SKIP LOCKED) s;
  IF dead IS NOT NULL THEN
    -- Every row the drops lock, all users then all rooms, before the first drop: the order
    -- a join takes them in, so a beat that removes several processes cannot deadlock with it.
    PERFORM 1 FROM {p}users WHERE id IN (
        SELECT user_id FROM {p}presence WHERE pid = ANY(dead)
        UNION SELECT user_id FROM {p}online WHERE pid = ANY(dead))
      ORDER BY id FOR UPDATE;
    SELECT coalesce(jsonb_agg(DISTINCT o.user_id), '[]'::jsonb) INTO offline_ FROM {p}online o
      WHERE o.pid = ANY(dead) AND NOT EXISTS (
        SELECT 1 FROM {p}online x WHERE x.user_id = o.user_id AND NOT x.pid = ANY(dead));
    PERFORM 1 FROM {p}rooms WHERE room IN (SELECT room FROM {p}presence WHERE pid = ANY(dead))
      ORDER BY room FOR UPDATE;
    FOREACH d IN ARRAY dead LOOP
      left_ := left_ || {p}drop_process(d);
      DELETE FROM {p}procs WHERE pid = d;
    END LOOP;
  END IF;
  FOR r IN SELECT room FROM {p}held UNION SELECT room FROM {p}held_changes LOOP
    PERFORM {p}lock_room(r);
    PERFORM {p}release_stale(r, wait_ms);
    PERFORM {p}recount(r);
  END LOOP;
  DELETE FROM {p}payloads WHERE at < clock_timestamp() - interval '10 minutes';
  -- Rooms nobody is in and whose count nobody needs (rows in use are skipped).
  DELETE FROM {p}rooms WHERE room IN (
    SELECT room FROM {p}rooms WHERE present = 0 AND occ_count IS NULL
    LIMIT 1000 FOR UPDATE SKIP LOCKED);
  DELETE FROM {p}versions WHERE at < clock_timestamp() - interval '1 hour';
  RETURN jsonb_build_object('known', known, 'left', left_, 'offline', offline_);
END $$ LANGUAGE plpgsql;

-- Make the tables hold exactly what pid holds: presence [[room, user, name, avatar, key], ...]
-- and online [[user, name, avatar, key], ...]. Returns {"joined": [...], "left": [...]}: who is
-- now in a room where no process held them, and who is now in no process there.
CREATE OR REPLACE FUNCTION {p}sync(
  pid_ text, expiry_ms int, held jsonb, online_ jsonb) RETURNS jsonb AS $$
DECLARE joined jsonb; left_ jsonb;
BEGIN
  INSERT INTO {p}procs (pid, deadline)
    VALUES (pid_, clock_timestamp() + expiry_ms * interval '1 millisecond')
    ON CONFLICT (pid) DO UPDATE SET deadline = excluded.deadline;
  PERFORM 1 FROM {p}users WHERE id IN (
      SELECT user_id FROM {p}presence WHERE pid = pid_
      UNION SELECT x->>1 FROM jsonb_array_elements(held) x
      UNION SELECT x->>0 FROM jsonb_array_elements(online_) x)
    ORDER BY id FOR UPDATE;
  INSERT INTO {p}users AS u (id, name, avatar, key)
    SELECT DISTINCT ON (user_id) user_id, name, avatar, key FROM (
      SELECT x->>1 AS user_id, x->>2 AS name, x->>3 AS avatar, x->>4 AS key
        FROM jsonb_array_elements(held) x
      UNION ALL SELECT x->>0, x->>1, x->>2, x->>3 FROM jsonb_array_elements(online_) x) w
    ON CONFLICT (id) DO UPDATE
    SET name = excluded.name, avatar = excluded.avatar, key = excluded.key;
  UPDATE {p}members m SET key = u.key FROM {p}users u
    WHERE u.id = m.user_id AND m.key <> u.key AND u.id IN (
      SELECT x->>1 FROM jsonb_array_elements(held) x
      UNION SELECT x->>0 FROM jsonb_array_elements(online_) x);
  INSERT INTO {p}rooms (room)
    SELECT DISTINCT x->>0 FROM jsonb_array_elements(held) x ORDER BY 1 ON CONFLICT DO NOTHING;
  PERFORM 1 FROM {p}rooms WHERE room IN (
      SELECT room FROM {p}presence WHERE pid = pid_
      UNION SELECT x->>0 FROM jsonb_array_elements(held) x)
    ORDER BY room FOR UPDATE;
  WITH gone AS (
    DELETE FROM {p}presence p WHERE p.pid = pid_ AND NOT EXISTS (
      SELECT 1 FROM jsonb_array_elements(held) x
      WHERE x->>0 = p.room AND x->>1 = p.user_id)
    RETURNING p.room, p.user_id)
  SELECT coalesce(jsonb_agg(jsonb_build_array(g.room, g.user_id, u.name, u.avatar)),
                  '[]'::jsonb) INTO left_
    FROM gone g JOIN {p}users u ON u.id = g.user_id
    WHERE NOT EXISTS (SELECT 1 FROM {p}presence o
                      WHERE o.room = g.room AND o.user_id = g.user_id AND o.pid <> pid_);
  WITH added AS (
    INSERT INTO {p}presence (room, user_id, pid)
      SELECT DISTINCT x->>0, x->>1, pid_ FROM jsonb_array_elements(held) x
      ON CONFLICT DO NOTHING RETURNING room, user_id)
  SELECT coalesce(jsonb_agg(jsonb_build_array(a.room, a.user_id, u.name, u.avatar)),
                  '[]'::jsonb) INTO joined
    FROM added a JOIN {p}users u ON u.id = a.user_id
    WHERE NOT EXISTS (SELECT 1 FROM {p}presence o
                      WHERE o.room = a.room AND o.user_id = a.user_id AND o.pid <> pid_);
  DELETE FROM {p}online WHERE pid = pid_;
  INSERT INTO {p}online (user_id, pid)
    SELECT DISTINCT x->>0, pid_ FROM jsonb_array_elements(online_) x;
  RETURN jsonb_build_object('joined', joined, 'left', left_);
END $$ LANGUAGE plpgsql;

CREATE TABLE IF NOT EXISTS {p}schema (version text NOT NULL);
DELETE FROM {p}schema;
INSERT INTO {p}schema (version) VALUES ('{version}');
"""

#: Changes whenever the statements above do: a broker that finds it stored runs none of them.
SCHEMA_VERSION = hashlib.blake2b(_SCHEMA.encode(), digest_size=8).hexdigest()


def schema(prefix: str) -> str:
    """The statements that create (or bring up to date) the tables and functions of ``prefix``."""
    text = _SCHEMA.replace("{p}", prefix).replace("{inline_max}", str(INLINE_MAX))
    return text.replace("{version}", SCHEMA_VERSION)


def statements(prefix: str) -> dict[str, str]:
    """The broker's statements by name, each one call of a function above (or a plain read)."""
    p = prefix
    return {
        "notify": f"SELECT {p}notify(%s, %s)",
        "message": f"SELECT {p}publish_message(%s, %s, %s, %s, %s)",
        "change": f"SELECT {p}publish_change(%s, %s, %s, %s, %s, %s, %s)",
        "presence_batch": f"SELECT {p}presence_batch(%s, %s, %s::jsonb)",
        "come_online": f"SELECT {p}come_online(%s, %s, %s, %s, %s)",
        "go_offline": f"SELECT {p}go_offline(%s, %s)",
        "online": f"SELECT DISTINCT user_id FROM {p}online WHERE user_id = ANY(%s)",
        "members": (
            f"SELECT u.id, u.name, u.avatar FROM {p}members m JOIN {p}users u "
            "ON u.id = m.user_id WHERE m.room = %s ORDER BY m.key"
        ),
        "members_page": f"SELECT {p}members_page(%s, %s, %s, %s)",
        "claim": f"SELECT {p}claim(%s, %s, %s, %s, %s)",
        "counts": f"SELECT room, present FROM {p}rooms WHERE room = ANY(%s)",
        "clear": f"SELECT {p}clear(%s)",
        "update_user": f"SELECT * FROM {p}update_user(%s, %s, %s, %s)",
        "beat": f"SELECT {p}beat(%s, %s, %s)",
        "sync": f"SELECT {p}sync(%s, %s, %s::jsonb, %s::jsonb)",
        "payload": f"SELECT payload FROM {p}payloads WHERE id = %s",
    }
