"""A property test: random operations by several users and connections keep the invariants.

- no ``private`` frame reaches anyone but the sender's and recipient's connections;
- the members of each room are exactly the users with a connection in it, plus those whose last
  connection closed less than ``presence_grace`` ago;
- the same with rooms above ``presence_limit`` (large rooms: a count instead of per-user
  presence), read in pages of one member and by name prefix;
- every connection sees each room's messages in strictly increasing id order, and every message
  sent while it was in the room, and no other;
- moderation (``r1`` is user 1's, ``r2`` user 2's): ``kicked`` reaches every connection of the
  user kicked or banned and nobody else, ``moderation`` every connection of the room's owner, its
  moderators and the user concerned and nobody else; a kicked user's connections leave the room,
  a banned one's ``join`` is ``banned``, a muted one's ``send`` is ``muted``.
"""

from __future__ import annotations

from collections import Counter
from contextlib import AsyncExitStack
from typing import Any

import anyio
import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatcore import FakeClock, Limits, MemoryBroker, MemoryBus, MemoryDirectory, MemoryStore
from chatcore.testing import LocalClient

from .kit import Chat, running, user

GRACE = 1_000
USERS = ("1", "2", "3")
ROOMS = ("r1", "r2")
UNKNOWN = "9"

conn_index = st.integers(min_value=0, max_value=7)
room = st.sampled_from(ROOMS)
STEPS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "open": st.tuples(st.just("open"), st.sampled_from(USERS), st.integers(0, 1)),
    "close": st.tuples(st.just("close"), conn_index),
    "join": st.tuples(st.just("join"), conn_index, room),
    "leave": st.tuples(st.just("leave"), conn_index, room),
    "send": st.tuples(st.just("send"), conn_index, room),
    "private": st.tuples(st.just("private"), conn_index, st.sampled_from((*USERS, UNKNOWN))),
    "wait": st.tuples(st.just("wait"), st.sampled_from((1, GRACE // 2, GRACE - 1, GRACE))),
    "moderate": st.tuples(
        st.just("moderate"),
        conn_index,
        room,
        st.sampled_from(("kick", "ban", "unban", "mute", "unmute", "moderator", "member")),
        st.sampled_from(USERS),
    ),
}
OWNERS = {"r1": "1", "r2": "2"}
# Weighted: the operations whose deliveries the invariants check come more often.
KINDS = ["open", "close", "leave", "wait", *["join", "send", "send", "private", "moderate"] * 2]
operations = st.lists(st.sampled_from(KINDS).flatmap(STEPS.__getitem__), min_size=12, max_size=40)
# Every run starts with each user online, two tabs of the first, and two users in a room, so
# that operations have connections to act on and third parties are there to see a leak.
OPENING = [
    ("open", "1", 0),
    ("open", "1", 1),
    ("open", "2", 0),
    ("open", "3", 1),
    ("join", 0, "r1"),
    ("join", 2, "r1"),
]


@attrs.define(eq=False)
class Tracked:
    client: LocalClient
    user_id: str
    server: int
    rooms: set[str] = attrs.Factory(set)
    open: bool = True


@attrs.define
class Model:
    """What the chat should look like, kept by the test alongside the real server."""

    chats: list[Chat]
    conns: list[Tracked] = attrs.Factory(list)
    known: set[str] = attrs.Factory(set)
    # (server, room, user) -> when that server's leave timer runs out
    pending: dict[tuple[int, str, str], int] = attrs.Factory(dict)
    now: int = 0
    expected_messages: dict[tuple[str, int], set[int]] = attrs.Factory(dict)
    expected_privates: dict[int, set[int]] = attrs.Factory(dict)
    moderators: set[tuple[str, str]] = attrs.Factory(set)  # (room, user)
    banned: set[tuple[str, str]] = attrs.Factory(set)
    muted: set[tuple[str, str]] = attrs.Factory(set)
    # id(connection) -> the kicked and moderation frames it should have got
    expected_moderation: dict[int, Counter[tuple[Any, ...]]] = attrs.Factory(dict)
    actions: int = 0

    def open_conns(self) -> list[Tracked]:
        return [c for c in self.conns if c.open]

    def pick(self, index: int) -> Tracked | None:
        candidates = self.open_conns()
        return candidates[index % len(candidates)] if candidates else None

    def in_room(self, room: str) -> list[Tracked]:
        return [c for c in self.open_conns() if room in c.rooms]

    def members(self, room: str) -> set[str]:
        present = {c.user_id for c in self.in_room(room)}
        return present | {u for (_, r, u) in self.pending if r == room}

    async def run(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "open":
            server = op[2] % len(self.chats)
            client = await LocalClient.connect(self.chats[server].server, user(op[1]))
            self.conns.append(Tracked(client, op[1], server))
            self.known.add(op[1])
            return
        if kind == "wait":
            await self.chats[0].advance(op[1])  # the servers share one clock
            self.now += op[1]
            self.pending = {k: d for k, d in self.pending.items() if d > self.now}
            return
        conn = self.pick(op[1])
        if conn is None:
            return
        client = conn.client
        if kind == "close":
            await client.close()
            conn.open = False
            for room in conn.rooms:
                # Grace timers are per process: another server's connection does not count.
                if not any(
                    (c.user_id, c.server) == (conn.user_id, conn.server) for c in self.in_room(room)
                ):
                    self.pending[(conn.server, room, conn.user_id)] = self.now + GRACE
        elif kind == "join":
            if (op[2], conn.user_id) in self.banned:
                assert (await client.request("join", room=op[2]))["code"] == "banned"
                return
            await client.call("join", room=op[2])
            conn.rooms.add(op[2])
            self.pending.pop((conn.server, op[2], conn.user_id), None)
        elif kind == "leave":
            reply = await client.request("leave", room=op[2])
            if op[2] in conn.rooms:
                assert reply["type"] == "ok"
                conn.rooms.discard(op[2])
            else:
                assert reply["code"] == "not_member"
        elif kind == "send":
            reply = await client.request("send", room=op[2], text="hi")
            if op[2] in conn.rooms and (op[2], conn.user_id) in self.muted:
                assert reply["code"] == "muted"
            elif op[2] in conn.rooms:
                receivers = {id(c) for c in self.in_room(op[2])}
                self.expected_messages[(op[2], reply["id"])] = receivers
            else:
                assert reply["code"] == "not_member"
        elif kind == "private":
            to = op[2]
            reply = await client.request("send_private", to=to, text="psst")
            online = {c.user_id for c in self.open_conns()}
            if to == conn.user_id:
                assert reply["code"] == "invalid_field"
            elif to not in self.known:
                assert reply["code"] == "no_such_user"
            elif to not in online:
                assert reply["code"] == "recipient_unavailable"
            else:
                assert reply["type"] == "ok"
                receivers = {id(c) for c in self.open_conns() if c.user_id in (to, conn.user_id)}
                self.expected_privates[reply["id"]] = receivers

        elif kind == "moderate":
            await self.moderate(conn, op[2], op[3], op[4])

    def rank(self, room: str, user_id: str) -> int:
        if OWNERS[room] == user_id:
            return 3
        return 1 if (room, user_id) in self.moderators else 0

    async def moderate(self, conn: Tracked, room: str, action: str, target: str) -> None:
        self.actions += 1
        reason = f"r{self.actions}" if action in ("kick", "ban", "mute") else None
        if action in ("moderator", "member"):
            fields: dict[str, Any] = {"role": action}
            allowed = self.rank(room, conn.user_id) == 3 and target != conn.user_id
            kind = "set_role"
        else:
            fields = {"reason": reason} if reason else {}
            actor, acted_on = self.rank(room, conn.user_id), self.rank(room, target)
            allowed = actor >= 1 and acted_on < actor and acted_on != 3 and target != conn.user_id
            kind = action
        reply = await conn.client.request(kind, room=room, user=target, **fields)
        await anyio.wait_all_tasks_blocked()
        if not allowed:
            assert reply["code"] == "forbidden", (kind, reply)
            return
        assert reply["type"] == "ok", (kind, reply)
        key = (room, target)
        if kind == "set_role":
            (self.moderators.add if action == "moderator" else self.moderators.discard)(key)
        elif action in ("ban", "mute"):
            (self.banned if action == "ban" else self.muted).add(key)
        elif action in ("unban", "unmute"):
            (self.banned if action == "unban" else self.muted).discard(key)
        told = {OWNERS[room], target} | {u for (r, u) in self.moderators if r == room}
        frame = ("moderation", room, kind, target, conn.user_id, reason, fields.get("role"))
        for other in self.open_conns():
            if other.user_id in told:
                self.expected_moderation.setdefault(id(other), Counter())[frame] += 1
            if action in ("kick", "ban") and other.user_id == target:
                kicked = ("kicked", room, conn.user_id, reason)
                self.expected_moderation.setdefault(id(other), Counter())[kicked] += 1
                other.rooms.discard(room)

    async def check_members(self) -> None:
        observer = self.pick(0)
        for room in ROOMS:
            truth = self.members(room)
            present = {u.id for u in await self.chats[0].server.broker.members(room)}
            assert present == truth, (room, present, truth)
            if observer is not None:
                reply = await observer.client.call("members", room=room)
                assert {u["id"] for u in reply["members"]} == truth
                assert reply["count"] == len(truth)
                await self.check_pages(observer.client, room, truth)

    async def check_pages(self, client: LocalClient, room: str, truth: set[str]) -> None:
        """Pages of one member, cursor after cursor, list the truth in name order; a name
        prefix finds exactly its users."""
        seen: list[str] = []
        after = None
        while True:
            fields: dict[str, Any] = {"after": after} if after is not None else {}
            reply = await client.call("members", room=room, limit=1, **fields)
            seen += [u["id"] for u in reply["members"]]
            after = reply["next"]
            if after is None:
                break
        assert seen == sorted(truth, key=lambda u: (user(u).name.casefold(), u)), (seen, truth)
        reply = await client.call("members", room=room, query="bo", limit=100)
        assert {u["id"] for u in reply["members"]} == {u for u in truth if u == "2"}

    def check_deliveries(self) -> None:
        privates_seen: dict[int, set[int]] = {}
        for conn in self.conns:
            if conn.open:
                conn.client.pump()
            frames = conn.client.inbox
            for room in ROOMS:
                ids = [f["id"] for f in frames if f["type"] == "message" and f["room"] == room]
                assert ids == sorted(set(ids)), (room, ids)
                expected = {
                    mid
                    for (r, mid), receivers in self.expected_messages.items()
                    if r == room and id(conn) in receivers
                }
                assert set(ids) == expected, (room, ids, expected)
            for frame in frames:
                if frame["type"] == "private":
                    privates_seen.setdefault(frame["id"], set()).add(id(conn))
        assert privates_seen == {k: v for k, v in self.expected_privates.items() if v}
        for conn in self.conns:
            seen: Counter[tuple[Any, ...]] = Counter()
            for f in conn.client.inbox:
                if f["type"] == "moderation":
                    seen[
                        (
                            "moderation",
                            f["room"],
                            f["action"],
                            f["user"],
                            f["by"],
                            f.get("reason"),
                            f.get("role"),
                        )
                    ] += 1
                elif f["type"] == "kicked":
                    seen[("kicked", f["room"], f["by"], f.get("reason"))] += 1
            assert seen == self.expected_moderation.get(id(conn), Counter()), conn.user_id


async def scenario(ops: list[tuple[Any, ...]], servers: int, presence_limit: int = 200) -> None:
    """Run ``ops`` on ``servers`` servers sharing one bus, store and clock."""
    limits = Limits(
        presence_grace=GRACE,
        rate=10_000,
        burst=10_000,
        connections_per_user=100,
        presence_limit=presence_limit,
    )
    # One bus, store and directory (the site's user table) for every server, as in production.
    bus, store, clock, directory = MemoryBus(), MemoryStore(), FakeClock(), MemoryDirectory()
    async with AsyncExitStack() as stack:
        chats = [
            await stack.enter_async_context(
                running(
                    clock, limits=limits, broker=MemoryBroker(bus), store=store, directory=directory
                )
            )
            for _ in range(servers)
        ]
        for room in ROOMS:
            await chats[0].server.create_room(room, owner=user(OWNERS[room]))
        model = Model(chats)
        for op in [*OPENING, *ops]:
            await model.run(op)
            await model.check_members()
        model.check_deliveries()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_random_operations_keep_privacy_membership_and_message_order(
    ops: list[tuple[Any, ...]],
) -> None:
    anyio.run(scenario, ops, 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_the_invariants_hold_across_two_servers(ops: list[tuple[Any, ...]]) -> None:
    anyio.run(scenario, ops, 2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_the_invariants_hold_in_large_rooms(ops: list[tuple[Any, ...]]) -> None:
    anyio.run(scenario, ops, 1, 1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations)
def test_the_invariants_hold_in_large_rooms_across_two_servers(
    ops: list[tuple[Any, ...]],
) -> None:
    anyio.run(scenario, ops, 2, 1)
