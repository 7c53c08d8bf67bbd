"""Core-only join storm (no network): N connections join one room; CPU per join in the core.

Each connection is served by :meth:`Connection.serve` with a ``send`` that only counts, so the
figure is chatcore's own work per join (the connect, the ``welcome``, the checks, the member
index, the ``presence`` fan-out of the first ``presence_limit`` joins, the reply), with the
cyclic garbage collector on (as a server runs) and, in a second pass, off (its share).

With ``--history M`` the room holds M messages first, so each join's reply carries the newest of
them (up to ``Limits.join_history``, 50): a reconnect wave's joins. The page read for one join
is shared by the joins around it (``_shared_reads``) and so is its JSON (``_history_json``).

Run: ``.venv/bin/python benchmarks/core_joins.py [--joins 1000] [--rounds 3] [--history 50]``;
prints JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import anyio
import anyio.lowlevel

from chatcore import ChatServer, CloseCode, User

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

from chatcore_starlette_app import LIMITS  # the join storm's limits

JOIN = '{"type":"join","room":"bench","ref":1}'


async def storm(joins: int, history: int = 0) -> tuple[float, int]:
    """CPU seconds of ``joins`` connections joining one room holding ``history`` messages, and
    the frames they were sent."""
    sent = 0
    server = ChatServer(limits=LIMITS)
    async with server:
        await server.create_room("bench", "Bench")
        poster = User(id="poster", name="Poster")
        for index in range(history):
            text = f"message {index} of the room's history, of a usual length for a chat"
            await server.post("bench", text, sender=poster)
        done = anyio.Event()

        async def member(index: int, ready: anyio.Event) -> None:
            connection = await server.connect(User(id=f"r{index}", name=f"r{index}"))
            frames = [JOIN]

            async def receive() -> str | None:
                if frames:
                    return frames.pop()
                await done.wait()
                return None

            async def send(text: str) -> None:
                nonlocal sent
                sent += 1

            async def close(code: CloseCode) -> None:
                pass

            ready.set()
            await connection.serve(receive, send, close)

        async with anyio.create_task_group() as tasks:
            started = time.process_time()
            for index in range(joins):
                ready = anyio.Event()
                tasks.start_soon(member, index, ready)
                await ready.wait()
                if index % 100 == 99:  # let the joins of this hundred run
                    await anyio.lowlevel.checkpoint()
            await anyio.sleep(0.01)
            cpu = time.process_time() - started
            done.set()
    return cpu, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--joins", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--history", type=int, default=0, help="messages in the room first")
    args = parser.parse_args()
    result: dict[str, object] = {
        "joins": args.joins,
        "rounds": args.rounds,
        "history": args.history,
    }
    for label, collect in (("gc_on", True), ("gc_off", False)):
        cpus = []
        for _ in range(args.rounds):
            gc.collect()
            if not collect:
                gc.disable()
            cpu, sent = anyio.run(
                storm, args.joins, args.history, backend_options={"use_uvloop": True}
            )
            gc.enable()
            cpus.append(cpu)
            result["frames"] = sent
        result[f"cpu_per_join_us_{label}"] = round(statistics.median(cpus) / args.joins * 1e6, 1)
    on, off = result["cpu_per_join_us_gc_on"], result["cpu_per_join_us_gc_off"]
    assert isinstance(on, float)
    assert isinstance(off, float)
    result["collector_share"] = round(1 - off / on, 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
