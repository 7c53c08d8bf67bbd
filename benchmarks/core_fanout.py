"""Core-only benchmark (no network): fan-out cost per delivery, and memory per idle connection.

One sender posts into a room of N connections; every post is encoded once and queued for every
connection. The figure is the core's own time per delivery, next to a baseline measured in the
same run: one non-blocking ``send`` of the same frame on a local socket pair (what an adapter
does at least once per delivery).

Run: ``make bench-core`` (or ``.venv/bin/python benchmarks/core_fanout.py [--quick]``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import sys
import time
import tracemalloc

import anyio

from chatcore import ChatServer, Limits, User
from chatcore.runtime.connection import Connection

FRAME_TEXT = "hello, this is a chat message of a typical length for the benchmark"


def rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def socket_write_ns(frame: str, rounds: int) -> float:
    """Nanoseconds per non-blocking send of ``frame`` on a loopback socket pair."""
    left, right = socket.socketpair()
    left.setblocking(False)
    data = frame.encode()
    try:
        best = float("inf")
        for _ in range(rounds // 200):
            start = time.perf_counter_ns()
            for _ in range(200):  # 200 frames fit in the socket buffer
                left.send(data)
            elapsed = time.perf_counter_ns() - start
            while True:  # empty the receive buffer, untimed
                try:
                    right.recv(1 << 20, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
            best = min(best, elapsed / 200)
        return best
    finally:
        left.close()
        right.close()


def drain(connections: list[Connection]) -> None:
    for connection in connections:
        while connection.next_frame_nowait() is not None:
            pass


async def fanout_ns(receivers: int, posts: int) -> tuple[float, str]:
    """Nanoseconds per delivery when one post reaches ``receivers`` connections."""
    # Room for every join notice and every post, so no outbox overflows.
    limits = Limits(outbox=posts + receivers + 16, rate=1_000_000, burst=1_000_000)
    async with ChatServer(limits=limits) as server:
        sender = User(id="sender", name="Sender")
        bench = await server.create_room("bench", "Bench")
        connections = []
        for index in range(receivers):
            connection = await server.connect(User(id=f"u{index}", name=f"User {index}"))
            await server.join(connection._session, bench)
            connections.append(connection)
            if index % 100 == 0:
                drain(connections)  # join notices, untimed
        drain(connections)
        best = float("inf")
        for _ in range(5):
            gc.collect()
            start = time.perf_counter_ns()
            for _ in range(posts):
                await server.post("bench", FRAME_TEXT, sender=sender)
            elapsed = time.perf_counter_ns() - start
            best = min(best, elapsed / (posts * receivers))
            frame = connections[0].next_frame_nowait() or ""
            drain(connections)
        return best, frame


async def idle_memory(connections: int) -> tuple[float, float]:
    """Bytes per idle connection in a room: (tracemalloc, RSS)."""
    async with ChatServer() as server:
        idle = await server.create_room("idle", "Idle")
        gc.collect()
        tracemalloc.start()
        before_traced = tracemalloc.get_traced_memory()[0]
        before_rss = rss_bytes()
        held = []
        for index in range(connections):
            connection = await server.connect(User(id=f"u{index}", name=f"User {index}"))
            await server.join(connection._session, idle)
            held.append(connection)
            if index % 100 == 0:
                drain(held)  # join notices would otherwise pile up in the outboxes
        drain(held)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - before_traced
        rss = rss_bytes() - before_rss
        tracemalloc.stop()
        return traced / connections, rss / connections


async def main(quick: bool) -> dict[str, object]:
    sizes = [10, 100, 1_000] if quick else [10, 100, 1_000, 10_000]
    results: dict[str, object] = {"python": sys.version.split()[0], "fanout": []}
    frame = ""
    rows = []
    for size in sizes:
        posts = max(5, 200_000 // size // (10 if quick else 1))
        ns, frame = await fanout_ns(size, min(posts, 2_000))
        rows.append({"receivers": size, "ns_per_delivery": round(ns, 1)})
    baseline = socket_write_ns(frame, 20_000)
    for row in rows:
        row["deliveries_per_s"] = round(1e9 / float(row["ns_per_delivery"]))
        row["ratio_to_socket_write"] = round(float(row["ns_per_delivery"]) / baseline, 3)
    results["fanout"] = rows
    results["baseline_socket_write_ns"] = round(baseline, 1)
    traced, rss = await idle_memory(1_000 if quick else 10_000)
    results["idle_connection_bytes"] = {"tracemalloc": round(traced), "rss": round(rss)}
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    report = anyio.run(main, args.quick)
    print(json.dumps(report, indent=2))
