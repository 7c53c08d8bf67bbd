"""The scale-out brokers side by side: Redis, PostgreSQL and Redis Cluster, in the same run.

Two brokers on one backend stand for two server processes (both in this process, so the CPU
figure is the two brokers' Python together). Every room message goes the way a server with an
SQL store (ChatBoard) publishes it: ``Envelope.message``, kept in id order by the broker.

- throughput: ``--rooms`` rooms, a publishing task per room sending ``--messages`` messages
  as fast as the broker takes them; messages per second until the other broker got them all,
  and the brokers' CPU (this process) per message;
- latency: one message every ``1 / --rate`` seconds for ``--seconds``, spread over the rooms;
  the time from publish to delivery in the other broker (p50, p99);
- large: the throughput run with 20 kB frames (over NOTIFY's 8,000-byte limit, so PostgreSQL
  stores each one and the listener reads it back);
- many: the throughput run with ``--receivers`` receiving processes (brokers) instead of one.

Rounds alternate the engines (``--repeat`` times) and each figure is the median; the ratios
(each engine / Redis) are taken within the run. Run: ``make bench-brokers``.

``--engines redis,cluster`` compares one Redis with a Redis Cluster (3 masters + 3 replicas on
this machine, started by the run, sharded pub/sub): both servers are private to the run then
(a ``redis-server`` of its own on a free port beside the cluster), so the Redis servers' CPU
per message is measured too (all nodes of the cluster together).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import psycopg
from psycopg import sql

from chatcore.backends.broker import Broker
from chatcore.backends.envelope import Envelope
from chatcore.postgres import PostgresBroker
from chatcore.redis import RedisBroker
from chatcore.wire.values import Message, User

# The local servers of the tests (a cluster of 3 + 3 nodes, a private Redis) are the run's too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.redis.cluster_session import SyncCluster, delete_cluster_keys
from tests.redis.support import delete_keys

REDIS_URL = os.environ.get("CHATCORE_REDIS_URL", "redis://127.0.0.1:6379/0")
#: The Redis servers of the run: engine -> (URL, server pids to measure); filled by ``main``.
SERVERS: dict[str, tuple[str, list[int]]] = {}
POSTGRES = os.environ.get("CHATCORE_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/test")
SENDER = User(id="1", name="Bench")


class Inbox:
    """What one broker delivered: counts and arrival times."""

    def __init__(self) -> None:
        self.count = 0
        self.arrived: dict[str, float] = {}
        self.done = anyio.Event()
        self.expected = 0

    def deliver(self, envelope: Envelope) -> None:
        self.count += 1
        if envelope.frame and '"text":"t ' in envelope.frame:
            key = envelope.frame.partition('"text":"t ')[2].partition('"')[0]
            self.arrived[key] = time.perf_counter()
        if self.expected and self.count >= self.expected:
            self.done.set()


@asynccontextmanager
async def pair(
    engine: str, database: str, receivers: int = 1
) -> AsyncIterator[tuple[Broker, list[Broker], Inbox]]:
    """Running brokers of ``engine`` on a fresh prefix, as processes: one that publishes and
    ``receivers`` more; the receivers' shared inbox."""
    make: Callable[[], Broker]
    if engine in ("redis", "cluster"):
        prefix = f"chatcore-bench:{secrets.token_hex(4)}:"
        redis_url = SERVERS.get(engine, (REDIS_URL, []))[0]

        def make() -> Broker:
            return RedisBroker(redis_url, prefix=prefix)

    else:
        prefix = f"b{secrets.token_hex(4)}_"
        url = POSTGRES.rsplit("/", 1)[0] + "/" + database

        def make() -> Broker:
            return PostgresBroker(url, prefix=prefix)

    a, inbox = make(), Inbox()
    others = [make() for _ in range(receivers)]
    try:
        async with anyio.create_task_group() as group:
            await group.start(a.run, lambda envelope: None)
            for other in others:
                await group.start(other.run, inbox.deliver)
            yield a, others, inbox
            group.cancel_scope.cancel()
    finally:
        if engine == "redis":
            await delete_keys(SERVERS.get(engine, (REDIS_URL, []))[0], prefix)
        elif engine == "cluster":
            await delete_cluster_keys(SERVERS[engine][0], prefix)


def envelope(room: str, id: int, key: str, padding: str = "") -> Envelope:
    text = f"t {key}{padding}"
    return Envelope.message(Message(id=id, room=room, ts=0, sender=SENDER, text=text))


async def subscribe_all(brokers: list[Broker], names: list[str]) -> None:
    for broker in brokers:
        for name in names:
            await broker.subscribe(f"room:{name}")


async def throughput(
    engine: str, database: str, rooms: int, messages: int, size: int, receivers: int = 1
) -> dict[str, float]:
    padding = " " + "x" * size if size else ""
    async with pair(engine, database, receivers) as (a, others, inbox):
        names = [f"room{r}" for r in range(rooms)]
        await subscribe_all(others, names)
        inbox.expected = rooms * messages * receivers
        backends = await backend_pids(engine, a, *others)
        db_cpu = cpu_seconds(backends)
        cpu, wall = time.process_time(), time.perf_counter()

        async def publish(room: str) -> None:
            for n in range(1, messages + 1):
                await a.publish(envelope(room, n, f"{room}-{n}", padding))

        async with anyio.create_task_group() as group:
            for name in names:
                group.start_soon(publish, name)
        with anyio.fail_after(120):
            await inbox.done.wait()
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
        db_cpu = cpu_seconds(backends) - db_cpu
    total = rooms * messages
    figures = {"per_s": total / wall, "cpu_us": cpu / total * 1e6}
    if backends:
        figures["db_cpu_us"] = db_cpu / total * 1e6
    return figures


async def backend_pids(engine: str, *brokers: Broker) -> list[int]:
    """The server processes to measure: PostgreSQL's of the brokers' connections (each
    connection has its own, so their CPU is the brokers' alone); the run's private Redis
    servers (the machine's shared Redis serves other sessions too, so it is not measured)."""
    if engine != "postgres":
        return SERVERS.get(engine, ("", []))[1]
    pids: list[int] = []
    for broker in brokers:
        assert isinstance(broker, PostgresBroker)
        async with await psycopg.AsyncConnection.connect(broker.url) as connection:
            cursor = await connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s",
                [f"chatcore-{broker.process}%"],
            )
            pids += [pid for (pid,) in await cursor.fetchall()]
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU of these local processes, in seconds (``/proc``)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


async def latency(
    engine: str, database: str, rooms: int, rate: float, seconds: float
) -> dict[str, float]:
    async with pair(engine, database) as (a, others, inbox):
        names = [f"room{r}" for r in range(rooms)]
        await subscribe_all(others, names)
        sent: dict[str, float] = {}
        ids = dict.fromkeys(names, 0)
        count = int(rate * seconds)
        inbox.expected = count
        start = time.perf_counter()
        async with anyio.create_task_group() as group:
            for n in range(count):
                room = names[n % rooms]
                ids[room] += 1
                key = f"{room}-{ids[room]}"
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    await anyio.sleep(delay)
                sent[key] = time.perf_counter()
                group.start_soon(a.publish, envelope(room, ids[room], key))
        with anyio.fail_after(60):
            await inbox.done.wait()
    waits = sorted((inbox.arrived[key] - at) * 1000 for key, at in sent.items())
    return {"p50_ms": waits[len(waits) // 2], "p99_ms": waits[int(len(waits) * 0.99)]}


async def main(args: argparse.Namespace) -> None:
    engines: list[str] = args.engines.split(",")
    database = f"chatcore_bench_{os.getpid()}"
    if "postgres" in engines:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    with ExitStack() as servers:
        if "cluster" in engines:
            # Private servers, alike but for clustering (no persistence), so their CPU counts.
            for engine, server in (
                ("cluster", SyncCluster()),
                ("redis", SyncCluster(1, 0, cluster=False)),
            ):
                servers.callback(server.stop)
                server.start()
                pids = [server.processes[port].pid for port in server.master_ports()]
                SERVERS[engine] = (server.url, pids)
        await _measure(args, engines, database)


async def _measure(args: argparse.Namespace, engines: list[str], database: str) -> None:
    rows: dict[str, dict[str, list[float]]] = {}

    def keep(engine: str, figures: dict[str, float], tag: str) -> None:
        for key, value in figures.items():
            rows.setdefault(engine, {}).setdefault(f"{tag}_{key}", []).append(value)

    try:
        for round_ in range(args.repeat):
            order = engines if round_ % 2 == 0 else engines[::-1]
            for engine in order:
                keep(
                    engine,
                    await throughput(engine, database, args.rooms, args.messages, 0),
                    "small",
                )
                keep(
                    engine,
                    await throughput(engine, database, args.rooms, args.messages // 5, 20_000),
                    "large",
                )
                keep(
                    engine,
                    await latency(engine, database, args.rooms, args.rate, args.seconds),
                    "at_rate",
                )
                if args.receivers > 1:
                    many = await throughput(
                        engine, database, args.rooms, args.messages, 0, args.receivers
                    )
                    keep(engine, many, "many")
                print(f"round {round_ + 1} {engine} done", file=sys.stderr, flush=True)
    finally:
        if "postgres" in engines:
            with psycopg.connect(POSTGRES, autocommit=True) as admin:
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(database)
                )
                admin.execute(drop)
    medians = {
        engine: {k: statistics.median(v) for k, v in row.items()} for engine, row in rows.items()
    }
    report: dict[str, Any] = {"args": vars(args), "medians": medians, "runs": rows}
    print(json.dumps(report, indent=1) if args.json else table(medians, engines, args))


NAMES = {"redis": "Redis", "postgres": "PostgreSQL", "cluster": "Redis Cluster"}


def table(
    medians: dict[str, dict[str, float]], engines: list[str], args: argparse.Namespace
) -> str:
    server = "Redis servers'" if "cluster" in engines else "PostgreSQL server"
    labels = {
        "small_per_s": "messages/s (small frames)",
        "small_cpu_us": "brokers' CPU per message, µs (small)",
        "small_db_cpu_us": f"{server} CPU per message, µs (small)",
        "large_per_s": "messages/s (20 kB frames)",
        "large_cpu_us": "brokers' CPU per message, µs (20 kB)",
        "at_rate_p50_ms": f"latency p50 at {args.rate:g}/s, ms",
        "at_rate_p99_ms": f"latency p99 at {args.rate:g}/s, ms",
    }
    if args.receivers > 1:
        many = f"{args.receivers} receiving processes"
        labels["many_per_s"] = f"messages/s, {many} (each message delivered {args.receivers} times)"
        labels["many_cpu_us"] = f"brokers' CPU per message, µs, {many}"
        labels["many_db_cpu_us"] = f"{server} CPU per message, µs, {many}"
    base, others = engines[0], engines[1:]
    head = [NAMES[e] for e in engines] + [f"{NAMES[e]} / {NAMES[base]}" for e in others]
    lines = ["| figure | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for key, label in labels.items():
        values = [medians[e].get(key) for e in engines]
        cells = [f"{v:,.1f}" if v is not None else "" for v in values]
        first = values[0]
        for value in values[1:]:
            cells.append(f"{value / first:.2f}" if value is not None and first else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--messages", type=int, default=250, help="per room (throughput)")
    parser.add_argument("--rate", type=float, default=200.0, help="messages/s (latency)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--receivers", type=int, default=4, help="processes receiving (the last throughput run)"
    )
    parser.add_argument(
        "--engines",
        default="redis,postgres",
        help="comma-separated, the first is the baseline: redis, postgres, cluster",
    )
    parser.add_argument("--json", action="store_true")
    anyio.run(main, parser.parse_args())
