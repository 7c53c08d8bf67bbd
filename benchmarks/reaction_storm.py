"""A reaction storm beside plain messages: the server's cost per reaction, as a ratio to one
message's fan-out, measured in the same run (no network).

A room of ``--members`` connections (1,000). 200 members send ``send`` frames, then ``react``
and ``unreact`` frames on the newest message, at ``--rate`` (200) a second, through
``Connection.receive`` as an adapter feeds them: the decode, the checks, the store's change
(read, new state, version compare) and the fan-out of ``message_changed`` to every member, in
batches (``Limits.reaction_batch``; ``--batch 0`` sends one per reaction). Each figure is the
process's CPU over a round, the best of several, per command (every delivery included), less
the same round's cost without commands (the event loop waking at that pace).

Run: ``make bench-reactions`` (or ``.venv/bin/python benchmarks/reaction_storm.py [--redis]``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from typing import Any

import anyio

from chatcore import ChatServer, Limits, User
from chatcore.runtime.connection import Connection

TEXT = "hello, this is a chat message of a typical length for the benchmark"
EMOJI = ("👍", "🎉", "❤️", "😂")


def drain(connections: list[Connection]) -> None:
    for connection in connections:
        while connection.next_frame_nowait() is not None:
            pass


def _frames(connection: Connection) -> list[str]:
    frames = []
    while (text := connection.next_frame_nowait()) is not None:
        frames.append(text)
    return frames


def frame(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, "room": "bench", **fields})


async def measure(
    server: ChatServer, members: int, rounds: int, per_round: int, rate: int
) -> dict[str, Any]:
    bench = await server.create_room("bench", "Bench")
    connections: list[Connection] = []
    for index in range(members):
        connection = await server.connect(User(id=f"u{index}", name=f"User {index}"))
        await server.join(connection._session, bench)
        connections.append(connection)
        if index % 100 == 0:
            drain(connections)
    drain(connections)
    senders = connections[:per_round]
    last = connections[-1]  # a member that only reads: what reached the room

    async def paced(kind: str, fields: dict[str, Any]) -> None:
        for connection in senders:
            if kind != "idle":
                await connection.receive(frame(kind, **fields))
            await anyio.sleep(1 / rate)
        await anyio.sleep(0.5)  # the last batch, and with Redis the last round trips

    cpu: dict[str, float] = {}
    events: dict[str, int] = {}
    sizes: list[int] = []
    for round_ in range(rounds):
        emoji = EMOJI[round_ % len(EMOJI)]
        plan: tuple[tuple[str, str, dict[str, Any]], ...] = (
            ("idle", "idle", {}),
            ("message", "send", {"text": TEXT}),
            ("react", "react", {"emoji": emoji}),
            ("unreact", "unreact", {"emoji": emoji}),
        )
        for label, kind, fields in plan:
            if label in ("react", "unreact"):
                # the newest message (older ones leave the history as the rounds go on)
                fields["id"] = (await server.store.history("bench", limit=1)).last_id
            gc.collect()
            started = time.process_time_ns()
            await paced(kind, fields)
            spent = (time.process_time_ns() - started) / per_round
            errors = sum('"type":"error"' in text for text in _frames(senders[-1]))
            if errors:
                raise SystemExit(f"{errors} commands failed in the {label} round")
            got = _frames(last)
            sizes.append(max((len(text.encode()) for text in got), default=0))
            key = "reaction" if label in ("react", "unreact") else label
            cpu[key] = min(cpu.get(key, float("inf")), spent)
            events[key] = len(got)
            drain(connections)
    # The pacing's own cost (the event loop waking 200 times a second) is the idle round's.
    message, reaction = cpu["message"] - cpu["idle"], cpu["reaction"] - cpu["idle"]
    return {
        "members": members,
        "per_second": rate,
        "idle_wakeup_us": round(cpu["idle"] / 1000, 1),
        "message_us": round(message / 1000, 1),
        "reaction_us": round(reaction / 1000, 1),
        "ratio_reaction_to_message": round(reaction / message, 3),
        "core_share_at_200_reactions_per_s": round(200 * reaction / 1e9, 3),
        f"room_events_per_{per_round}_reactions": events["reaction"],
        "largest_frame_bytes": max(sizes),
    }


async def main(members: int, redis: bool, rate: int, batch: int | None) -> dict[str, Any]:
    per_round = 200  # reactions (and messages) per round
    limits = Limits(
        outbox=10_000,
        outbox_bytes=64 * 1024 * 1024,
        rate=1_000_000,
        burst=1_000_000,
        reaction_rate=1_000_000,
        reaction_burst=1_000_000,
        **({} if batch is None else {"reaction_batch": batch}),
    )
    options: dict[str, Any] = {"limits": limits}
    if redis:
        from chatcore.redis import RedisBroker, RedisStore

        url = os.environ.get("CHATCORE_REDIS_URL", "redis://127.0.0.1:6379/0")
        prefix = f"bench-{os.getpid()}:"
        broker = RedisBroker(url, prefix=prefix)
        options.update(broker=broker, store=RedisStore(url, prefix=prefix, broker=broker))
    async with ChatServer(**options) as server:
        result = await measure(server, members, rounds=4, per_round=per_round, rate=rate)
        await server.delete_room("bench")
    store = "redis" if redis else "memory"
    batching = server.limits.reaction_batch
    return {"python": sys.version.split()[0], "store": store, "reaction_batch": batching, **result}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1_000)
    parser.add_argument("--redis", action="store_true", help="Redis broker and store")
    parser.add_argument("--rate", type=int, default=200, help="commands per second")
    parser.add_argument("--batch", type=int, default=None, help="reaction_batch ms (0: off)")
    args = parser.parse_args()
    report = anyio.run(main, args.members, args.redis, args.rate, args.batch)
    print(json.dumps(report, indent=2))
