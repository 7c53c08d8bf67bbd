"""A reaction storm beside plain messages: the server's cost per reaction, as a ratio to one
message's fan-out, measured in the same run (no network).

A room of ``--members`` connections (1,000). Members send ``send`` frames, then ``react`` and
``unreact`` frames on one message, through ``Connection.receive`` as an adapter feeds them: the
decode, the checks, the store's change (read, new state, version compare) and the fan-out of
one ``message_changed`` frame to every member. Each figure is the best of several rounds, in
microseconds of CPU per command (every delivery included). At 200 reactions a second, the
storm costs ``200 x`` that per second of one core.

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


async def measure(server: ChatServer, members: int, rounds: int, per_round: int) -> dict[str, Any]:
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

    async def messages() -> None:
        for connection in senders:
            await connection.receive(frame("send", text=TEXT))

    async def reactions(emoji: str, kind: str) -> None:
        # on the newest message (older ones leave the history as the rounds go on)
        target = (await server.store.history("bench", limit=1)).last_id
        for connection in senders:
            await connection.receive(frame(kind, id=target, emoji=emoji))

    best_message = best_reaction = float("inf")
    sizes: list[int] = []
    for round_ in range(rounds):
        emoji = EMOJI[round_ % len(EMOJI)]
        for label, run in (("message", messages), ("react", None), ("unreact", None)):
            gc.collect()
            started = time.process_time_ns()
            if run is not None:
                await run()
            else:
                await reactions(emoji, label)
            await anyio.wait_all_tasks_blocked()
            errors = sum('"type":"error"' in text for text in _frames(senders[-1]))
            if errors:
                raise SystemExit(f"{errors} commands failed in the {label} round")
            elapsed = (time.process_time_ns() - started) / per_round
            if label == "message":
                best_message = min(best_message, elapsed)
            else:
                best_reaction = min(best_reaction, elapsed)
            sizes.append(max((len(text.encode()) for text in _frames(connections[-1])), default=0))
            drain(connections)
    return {
        "members": members,
        "message_us": round(best_message / 1000, 1),
        "reaction_us": round(best_reaction / 1000, 1),
        "ratio_reaction_to_message": round(best_reaction / best_message, 3),
        "core_share_at_200_reactions_per_s": round(200 * best_reaction / 1e9, 3),
        "largest_frame_bytes": max(sizes),
    }


async def main(members: int, redis: bool) -> dict[str, Any]:
    per_round = 200  # reactions (and messages) per round: one second of the storm
    limits = Limits(
        outbox=10_000,
        outbox_bytes=64 * 1024 * 1024,
        rate=1_000_000,
        burst=1_000_000,
        reaction_rate=1_000_000,
        reaction_burst=1_000_000,
    )
    options: dict[str, Any] = {"limits": limits}
    if redis:
        from chatcore.redis import RedisBroker, RedisStore

        url = os.environ.get("CHATCORE_REDIS_URL", "redis://127.0.0.1:6379/0")
        prefix = f"bench-{os.getpid()}:"
        broker = RedisBroker(url, prefix=prefix)
        options.update(broker=broker, store=RedisStore(url, prefix=prefix, broker=broker))
    async with ChatServer(**options) as server:
        result = await measure(server, members, rounds=6, per_round=per_round)
        await server.delete_room("bench")
    return {"python": sys.version.split()[0], "store": "redis" if redis else "memory", **result}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=1_000)
    parser.add_argument("--redis", action="store_true", help="Redis broker and store")
    args = parser.parse_args()
    print(json.dumps(anyio.run(main, args.members, args.redis), indent=2))
