"""What the hooks cost a ``send`` (core only, no network; docs/hooks.md).

One connection sends ``send`` frames into a room of 10 connections, as a client would (through
``Connection.receive``: the checks, the hooks, the post, the fan-out). Four servers, measured in
turns in one run (best of the rounds, CPU time of this process per message, which
other processes on a shared machine disturb less than wall time):

- ``none``: ``ChatServer()``, no hooks object at all;
- ``empty``: ``ChatServer(hooks=Hooks())``, nothing added;
- ``hook``: one trivial async message hook (it returns None);
- ``listener``: one trivial async listener of ``message_posted``.

Run: ``.venv/bin/python benchmarks/hooks_cost.py [--quick]``. Figures from a shared machine are
noisy: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import anyio

from chatcore import ChatServer, Limits, User
from chatcore.runtime.connection import Connection

try:
    from chatcore.hooks import ChatEvent, Draft, Hooks
except ImportError:  # the code before hooks (to compare with it: PYTHONPATH=its src)
    Hooks = None  # type: ignore[assignment,misc]

TEXT = "hello, this is a chat message of a typical length for the benchmark"
RECEIVERS = 10


def drain(connections: list[Connection]) -> None:
    for connection in connections:
        while connection.next_frame_nowait() is not None:
            pass


def make_server(kind: str, limits: Limits) -> ChatServer:
    if kind == "none" or Hooks is None:
        return ChatServer(limits=limits)
    hooks = Hooks()
    if kind == "hook":

        @hooks.message()
        async def trivial(draft: Draft) -> Draft | None:
            return None

    elif kind == "listener":

        @hooks.listen("message_posted")
        async def heard(event: ChatEvent) -> None:
            return None

    return ChatServer(limits=limits, hooks=hooks)


async def per_message_ns(kind: str, messages: int) -> float:
    limits = Limits(outbox=messages * 3 + 64, rate=10_000_000, burst=10_000_000)
    async with make_server(kind, limits) as server:
        room = await server.create_room("bench", "Bench")
        connections = []
        for index in range(RECEIVERS):
            connection = await server.connect(User(id=f"u{index}", name=f"User {index}"))
            await server.join(connection._session, room)
            connections.append(connection)
        sender = connections[0]
        drain(connections)
        frames = [
            json.dumps({"type": "send", "room": "bench", "text": TEXT, "ref": n})
            for n in range(messages)
        ]
        gc.collect()
        start = time.process_time_ns()
        for frame in frames:
            await sender.receive(frame)
        await server.hooks_idle() if Hooks is not None else None
        elapsed = time.process_time_ns() - start
        drain(connections)
        return elapsed / messages


async def main(quick: bool, kinds: list[str]) -> dict[str, float]:
    messages = 500 if quick else 2_000
    rounds = 5 if quick else 15
    best = dict.fromkeys(kinds, float("inf"))
    for _ in range(rounds):
        for kind in kinds:  # in turns, so the machine's noise falls on all alike
            best[kind] = min(best[kind], await per_message_ns(kind, messages))
    return best


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--kinds", default="none,empty,hook,listener")
    args = parser.parse_args()
    kinds = args.kinds.split(",") if Hooks is not None else ["none"]
    results = anyio.run(main, args.quick, kinds)
    base = results[kinds[0]]
    for kind, ns in results.items():
        print(f"{kind:10} {ns / 1000:8.2f} us/message   x{ns / base:.3f}")
    print(json.dumps(results))
