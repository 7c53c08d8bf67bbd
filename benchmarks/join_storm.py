"""Join storm: N distinct users, one socket each, connect and join one room (issue #16).

For each target (chatcore on Starlette in one process; two processes on Redis) and each N it
starts the server(s) pinned to one core (``run.py``'s ``servers``), connects N clients from
this process pinned to the other core (``loadgen.py``'s generator, 100 handshakes at a time),
and reads the servers' CPU time and RSS from /proc before and after:

- server CPU per join (the storm's CPU / N): flat as N grows means linear work;
- RSS growth per idle member (after the storm / N);
- the servers' idle CPU for a moment with nothing sent (keep-alive pings of the sockets,
  timers): a cost per socket and second, not per message;
- then the cost of a message per delivery in that room (``throughput`` for a few seconds):
  server CPU / deliveries, and the same less the idle CPU of as long (``net``); and apart, the
  user time (the server's own code) and the system time (the kernel's socket writes, which
  on loopback include the receiving side's) per delivery.

Beside chatcore's Starlette adapter runs its floor (``starlette-storm-floor``: the same frames
from a few lines of plain Starlette, no chatcore: what any server of this protocol pays under
uvicorn), the native adapter (``chatcore-native``) and, with ``--targets``, Starlette under Granian
(``chatcore-starlette-granian``) or any peer of ``run.py`` (python-socketio, Channels,
broadcaster, the floor): the peers
keep no presence, so their storm is N handshakes and a join (or a group add), and their rows
show what a socket costs there, not what chatcore's presence costs.

Rows alternate target by target within one run, so the ratios compare like with like on a
noisy machine. Output: JSON on stdout and ``benchmarks/results/join_storm.json`` (``--out``).
Run: ``make bench-joins`` (``BENCH_ARGS="--sizes 1000,10000"`` to choose N).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loadgen import (  # noqa: E402
    Chatcore,
    Dialect,
    Generator,
    SocketIO,
    cpu_seconds,
    cpu_split,
    rss_bytes,
)
from run import RESULTS, TARGETS, UVICORN, Target, redis_pids, servers  # noqa: E402

NAMES = (
    "starlette-storm-floor",
    "chatcore-starlette",
    "chatcore-starlette-redis",
    "chatcore-native",
    "chatcore-native-redis",
)
#: Seconds of idle CPU measured before the message phase.
IDLE = 2.0


def dialect_of(target: Target, users: int) -> Dialect:
    if target.dialect == "chatcore":
        return Chatcore(target.path, users)
    if target.dialect == "socketio":
        return SocketIO(target.path)
    return Dialect(target.path)


async def storm(
    target: Target, ports: list[int], pids: list[int], n: int, seconds: float, users: int = 0
) -> dict[str, Any]:
    """One storm of ``n`` sockets of ``users`` distinct users (0: ``n``, one socket each)."""
    redis = target.redis
    gen = Generator(dialect_of(target, users or n), "127.0.0.1", ports)
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
    before = sum(cpu_seconds(pid) for pid in pids)
    await asyncio.sleep(IDLE)
    idle_per_s = (sum(cpu_seconds(pid) for pid in pids) - before) / IDLE
    window = max(2, min(50, 200_000 // n))
    before_user, before_sys = map(sum, zip(*(cpu_split(pid) for pid in pids), strict=True))
    started = time.perf_counter()
    phase = await gen.throughput(2, seconds, window, max(2_000, 2_000_000 // n))
    message_wall = time.perf_counter() - started
    after_user, after_sys = map(sum, zip(*(cpu_split(pid) for pid in pids), strict=True))
    message_user, message_sys = after_user - before_user, after_sys - before_sys
    message_cpu = message_user + message_sys
    net_cpu = max(0.0, message_cpu - idle_per_s * message_wall)
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
        "idle_cpu_ms_per_s": round(idle_per_s * 1e3, 1),
        "cpu_per_delivery_us": round(message_cpu / max(1, phase.deliveries) * 1e6, 3),
        "cpu_per_delivery_net_us": round(net_cpu / max(1, phase.deliveries) * 1e6, 3),
        # Apart: the server's own code (user) and the kernel's socket writes (system).
        "user_cpu_per_delivery_us": round(message_user / max(1, phase.deliveries) * 1e6, 3),
        "system_cpu_per_delivery_us": round(message_sys / max(1, phase.deliveries) * 1e6, 3),
    }


def allow_open_files(sockets: int) -> None:
    """Raise this process's (and so its servers') open-file limit for ``sockets`` sockets and
    a few to spare (the usual soft limit is 1,024). Past the hard limit only where the process
    may raise it (CAP_SYS_RESOURCE; this machine's containers may not: 20,000 is the most)."""
    need = sockets + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, hard), max(need, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        print(f"open files limited to {hard}: a storm of {sockets} may fail", file=sys.stderr)


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
            field = "cpu_per_delivery_net_us"
            ratio(f"{name} net cpu/delivery {n} vs 1000", (name, n), (name, 1000), field)
            field = "user_cpu_per_delivery_us"
            ratio(f"{name} user cpu/delivery {n} vs 1000", (name, n), (name, 1000), field)
        for n in (1_000, 10_000):
            key = f"{name} cpu/join {n} vs baseline 1000"
            ratio(key, (name, n), (base, 1000), "cpu_per_join_us")
            key = f"{name} cpu/delivery {n} vs baseline 1000"
            ratio(key, (name, n), (base, 1000), "cpu_per_delivery_us")
        key = f"{name} cpu/delivery 10000 vs baseline 10000 sockets (1000 users)"
        ratio(key, (name, 10_000), (base, 10_000), "cpu_per_delivery_us")
    for n in sorted({n for _, n in by}):
        floor = ("starlette-storm-floor", n)
        for name in names:
            if name != floor[0]:
                ratio(f"{name} storm cpu {n} vs the floor", (name, n), floor, "storm_cpu_s")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,19800")
    parser.add_argument("--targets", default=",".join(NAMES))
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--out", default="join_storm.json", help="the results file, in benchmarks/results/"
    )
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
    allow_open_files(max(int(size) for size in args.sizes.split(",")))
    targets = [t for t in TARGETS if t.name in args.targets.split(",")]
    rows: list[dict[str, Any]] = []
    for size in args.baseline_sizes.split(",") if args.baseline_src else []:
        for target in targets:
            if not target.name.startswith("chatcore"):
                continue  # (the floor runs no chatcore: no earlier code to compare)
            base = attrs.evolve(
                target,
                name=f"{target.name}-baseline",
                env={**target.env, "PYTHONPATH": os.path.abspath(args.baseline_src)},
            )
            n = int(size)
            with servers(base, 0, f"storm-{base.name}-{n}") as (ports, pids):
                time.sleep(1.0)
                result = storm(base, ports, pids, n, args.seconds, min(n, 1_000))
                row = {"target": base.name, **asyncio.run(result)}
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    for n in [int(size) for size in args.sizes.split(",")]:
        for target in targets:
            with servers(target, 0, f"storm-{target.name}-{n}") as (ports, pids):
                time.sleep(1.0)
                row = {
                    "target": target.name,
                    **asyncio.run(storm(target, ports, pids, n, args.seconds)),
                }
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    out: dict[str, Any] = {"rows": rows, "ratios": ratios_of(rows, [t.name for t in targets])}
    out["cpus"] = os.cpu_count()
    out["uvicorn"] = UVICORN  # how the ASGI targets ran (``BENCH_UVICORN_WS`` and ``_HTTP``)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
