"""Join storm: N distinct users, one socket each, connect and join one room (issue #16).

For each target (chatcore on Starlette in one process; two processes on Redis) and each N it
starts the server(s) pinned to one core (``run.py``'s ``servers``), connects N clients from
this process pinned to the other core (``loadgen.py``'s generator, 100 handshakes at a time),
and reads the servers' CPU time and RSS from /proc before and after:

- server CPU per join (the storm's CPU / N): flat as N grows means linear work;
- RSS growth per idle member (after the storm / N);
- then the cost of a message per delivery in that room (``throughput`` for a few seconds):
  server CPU / deliveries.

Rows alternate target by target within one run, so the ratios compare like with like on a
noisy machine. Output: JSON on stdout and ``benchmarks/results/join_storm.json``.
Run: ``make bench-joins`` (``BENCH_ARGS="--sizes 1000,10000"`` to choose N).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loadgen import Chatcore, Generator, cpu_seconds, rss_bytes  # noqa: E402
from run import RESULTS, TARGETS, redis_pids, servers  # noqa: E402

NAMES = ("chatcore-starlette", "chatcore-starlette-redis")


async def storm(
    ports: list[int], pids: list[int], n: int, seconds: float, redis: bool, users: int = 0
) -> dict[str, Any]:
    """One storm of ``n`` sockets of ``users`` distinct users (0: ``n``, one socket each)."""
    gen = Generator(Chatcore("/ws", users or n), "127.0.0.1", ports)
    extra = redis_pids() if redis else []
    cpu = sum(cpu_seconds(pid) for pid in pids)
    redis_cpu = sum(cpu_seconds(pid) for pid in extra)
    rss = sum(rss_bytes(pid) for pid in pids)
    started = time.perf_counter()
    await gen.connect_all(n)
    wall = time.perf_counter() - started
    storm_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu
    storm_redis = sum(cpu_seconds(pid) for pid in extra) - redis_cpu
    await asyncio.sleep(1.5)  # the last occupancy counts go out
    grown = sum(rss_bytes(pid) for pid in pids) - rss
    await gen.barrier()
    window = max(2, min(50, 200_000 // n))
    before = sum(cpu_seconds(pid) for pid in pids)
    phase = await gen.throughput(2, seconds, window, max(2_000, 2_000_000 // n))
    message_cpu = sum(cpu_seconds(pid) for pid in pids) - before
    for peer in [gen.sender, *gen.receivers]:
        if peer is not None and peer.transport is not None:
            peer.transport.close()
    return {
        "n": n,
        "users": users or n,
        "storm_wall_s": round(wall, 3),
        "storm_cpu_s": round(storm_cpu, 3),
        "cpu_per_join_us": round(storm_cpu / n * 1e6, 1),
        "redis_cpu_per_join_us": round(storm_redis / n * 1e6, 1) if extra else None,
        "rss_per_member_bytes": round(grown / n),
        "deliveries": phase.deliveries,
        "cpu_per_delivery_us": round(message_cpu / max(1, phase.deliveries) * 1e6, 3),
    }


def ratios_of(rows: list[dict[str, Any]], names: list[str]) -> dict[str, float]:
    """Per-join and per-delivery CPU of each size over the 1,000 row, and over the baseline's."""
    by = {(row["target"], row["n"]): row for row in rows}
    ratios: dict[str, float] = {}

    def ratio(key: str, new: tuple[str, int], old: tuple[str, int], field: str) -> None:
        if new in by and old in by:
            ratios[key] = round(by[new][field] / by[old][field], 3)

    for name in names:
        base = f"{name}-baseline"
        for n in (10_000, 19_800, 20_000):
            ratio(f"{name} cpu/join {n} vs 1000", (name, n), (name, 1000), "cpu_per_join_us")
            field = "cpu_per_delivery_us"
            ratio(f"{name} cpu/delivery {n} vs 1000", (name, n), (name, 1000), field)
        for n in (1_000, 10_000):
            key = f"{name} cpu/join {n} vs baseline 1000"
            ratio(key, (name, n), (base, 1000), "cpu_per_join_us")
            key = f"{name} cpu/delivery {n} vs baseline 1000"
            ratio(key, (name, n), (base, 1000), "cpu_per_delivery_us")
        key = f"{name} cpu/delivery 10000 vs baseline 10000 sockets (1000 users)"
        ratio(key, (name, 10_000), (base, 10_000), "cpu_per_delivery_us")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,20000")
    parser.add_argument("--targets", default=",".join(NAMES))
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--baseline-src",
        help="a src/ directory of an earlier chatcore (e.g. `git archive main src`): its "
        "rows run too (at --baseline-sizes), named <target>-baseline",
    )
    parser.add_argument(
        "--baseline-sizes",
        default="1000",
        help="sockets of the baseline rows; above 1,000 they are 1,000 users with several "
        "sockets each (the earlier code takes minutes for more distinct users)",
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    targets = [t for t in TARGETS if t.name in args.targets.split(",")]
    rows: list[dict[str, Any]] = []
    for size in args.baseline_sizes.split(",") if args.baseline_src else []:
        for target in targets:
            base = attrs.evolve(
                target,
                name=f"{target.name}-baseline",
                env={**target.env, "PYTHONPATH": os.path.abspath(args.baseline_src)},
            )
            n = int(size)
            with servers(base, 0, f"storm-{base.name}-{n}") as (ports, pids):
                time.sleep(1.0)
                result = storm(ports, pids, n, args.seconds, base.redis, min(n, 1_000))
                row = {"target": base.name, **asyncio.run(result)}
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    for n in [int(size) for size in args.sizes.split(",")]:
        for target in targets:
            with servers(target, 0, f"storm-{target.name}-{n}") as (ports, pids):
                time.sleep(1.0)
                row = {
                    "target": target.name,
                    **asyncio.run(storm(ports, pids, n, args.seconds, target.redis)),
                }
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    out: dict[str, Any] = {"rows": rows, "ratios": ratios_of(rows, [t.name for t in targets])}
    out["cpus"] = os.cpu_count()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "join_storm.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
