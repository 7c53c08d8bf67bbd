"""One benchmark run over every target: chatcore and the peer stacks, side by side.

For each target and each room size N it starts the server(s) pinned to one core, runs
``benchmarks/loadgen.py`` pinned to another (throughput, then latency at a fixed offered
load), stops the server, and keeps the generator's JSON. Then it holds 10,000 idle
connections on the floor and on chatcore to measure RSS per connection, and runs the p99
rounds: the floor and the native adapter at N = 1,000, taking turns, a few times (a p99 is one
scheduling hiccup away from another figure on a shared machine: the rounds show its spread).
Everything lands in ``benchmarks/results/<time>.json`` (and ``latest.json``);
``benchmarks/charts.py`` draws it.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/run.py --help``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
RESULTS = HERE / "results"
LOGS = Path(os.environ.get("BENCH_LOGS", "/tmp/chatcore-bench-logs"))
REDIS_URL = os.environ.get("CHATCORE_REDIS_URL", "redis://127.0.0.1:6379/0")
PYTHON = sys.executable
#: How uvicorn serves the ASGI targets: its WebSocket implementation and HTTP parser (the
#: defaults measured cheapest here: docs/performance.md), overridable to compare.
UVICORN = {
    "ws": os.environ.get("BENCH_UVICORN_WS", "websockets-sansio"),
    "http": os.environ.get("BENCH_UVICORN_HTTP", "httptools"),
    "loop": "uvloop",
}


@attrs.frozen(kw_only=True)
class Target:
    """A server stack under test: how to start it and how its clients talk."""

    name: str
    label: str
    app: str  # a uvicorn app, or a script of benchmarks/peers/ taking the port
    dialect: str = "plain"
    path: str = ""
    processes: int = 1
    env: dict[str, str] = attrs.field(factory=dict)
    redis: bool = False
    #: Whether it runs at the large size too (the slowest peers need minutes per message there).
    large: bool = True
    #: The ASGI server of an ASGI app: "uvicorn" or "granian" (one worker process, a child of
    #: the process started: a target's CPU is its process tree's).
    asgi: str = "uvicorn"

    def command(self, port: int) -> list[str]:
        if self.app.endswith(".py"):
            return [PYTHON, str(PEERS / self.app), str(port)]
        if self.asgi == "granian":
            return [
                *(str(Path(PYTHON).parent / "granian"), "--interface", "asgi", "--workers", "1"),
                *("--host", "127.0.0.1", "--port", str(port), "--loop", UVICORN["loop"]),
                *("--log-level", "warning", "--no-access-log", "--working-dir", str(PEERS)),
                self.app,
            ]
        return [
            *(PYTHON, "-m", "uvicorn", "--app-dir", str(PEERS), self.app),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--log-level", "warning", "--no-access-log", "--loop", UVICORN["loop"]),
            *("--ws", UVICORN["ws"], "--http", UVICORN["http"], "--lifespan", "auto"),
        ]


CHANNEL_REDIS = {"CHANNEL_LAYER": "redis", "REDIS_URL": REDIS_URL}
CHATCORE_REDIS = {"CHATCORE_REDIS_URL": REDIS_URL}
TARGETS: tuple[Target, ...] = (
    Target(name="floor", label="websockets.broadcast (floor)", app="ws_floor.py"),
    Target(
        name="chatcore-starlette",
        label="chatcore + Starlette",
        app="chatcore_starlette_app:app",
        dialect="chatcore",
        path="/ws",
    ),
    Target(
        name="starlette-storm-floor",
        label="the storm's frames on plain Starlette (no chatcore)",
        app="starlette_storm_floor:app",
        dialect="chatcore",
        path="/ws",
    ),
    Target(
        name="chatcore-starlette-granian",
        label="chatcore + Starlette under Granian",
        app="chatcore_starlette_app:app",
        dialect="chatcore",
        path="/ws",
        asgi="granian",
    ),
    Target(
        name="chatcore-starlette-redis",
        label="chatcore + Starlette, 2 processes on Redis",
        app="chatcore_starlette_app:app",
        dialect="chatcore",
        path="/ws",
        processes=2,
        env=CHATCORE_REDIS,
        redis=True,
    ),
    Target(
        name="chatcore-django",
        label="chatcore + Django Channels",
        app="chatcore_django_app.asgi:application",
        dialect="chatcore",
        path="/ws",
    ),
    Target(
        name="chatcore-django-redis",
        label="chatcore + Django Channels, 2 processes on Redis",
        app="chatcore_django_app.asgi:application",
        dialect="chatcore",
        path="/ws",
        processes=2,
        env=CHATCORE_REDIS,
        redis=True,
    ),
    Target(
        name="socketio",
        label="python-socketio + uvicorn",
        app="socketio_app:app",
        dialect="socketio",
        path="/socket.io/?EIO=4&transport=websocket",
        large=False,
    ),
    Target(
        name="channels",
        label="Channels tutorial, in-memory layer",
        app="channels_app.asgi:application",
        path="/ws/chat/bench/",
        large=False,
    ),
    Target(
        name="channels-redis",
        label="Channels tutorial, channels_redis",
        app="channels_app.asgi:application",
        path="/ws/chat/bench/",
        env=CHANNEL_REDIS,
        redis=True,
        large=False,
    ),
    Target(name="broadcaster", label="Starlette + broadcaster (memory)", app="broadcaster_app:app"),
    # Not chatcore's adapters: the core on a bare websockets server, to split the cost.
    Target(
        name="chatcore-websockets",
        label="chatcore core on bare websockets (no ASGI)",
        app="chatcore_ws_app.py",
        dialect="chatcore",
        path="/ws",
    ),
)
# The native adapter (chatcore_server), and the limit it approaches: one pre-built frame
# written per recipient by a minimal asyncio Protocol.
TARGETS += (
    Target(name="preframed", label="pre-framed limit (asyncio Protocol)", app="preframed_limit.py"),
    Target(
        name="chatcore-native",
        label="chatcore native adapter (chatcore serve)",
        app="chatcore_native_app.py",
        dialect="chatcore",
        path="/ws",
    ),
    Target(
        name="chatcore-native-redis",
        label="chatcore native adapter, 2 processes on Redis",
        app="chatcore_native_app.py",
        dialect="chatcore",
        path="/ws",
        processes=2,
        env=CHATCORE_REDIS,
        redis=True,
    ),
)
IDLE_TARGETS = ("floor", "chatcore-starlette", "chatcore-django", "broadcaster", "chatcore-native")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} (see {LOGS})")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} in time")


def pinned(core: int) -> Any:
    return lambda: os.sched_setaffinity(0, {core})


@contextlib.contextmanager
def servers(target: Target, core: int, tag: str) -> Iterator[tuple[list[int], list[int]]]:
    """Start the target's process(es) pinned to ``core``; yield (ports, pids); stop them."""
    LOGS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **target.env, "PYTHONUNBUFFERED": "1"}
    # A fresh Redis key space per run: no history, presence or group members (Channels keeps
    # dead channels in a group for a day) carry over from an earlier run.
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    if target.redis:
        env["CHATCORE_REDIS_PREFIX"] = env["CHANNELS_REDIS_PREFIX"] = prefix
    started: list[subprocess.Popen[bytes]] = []
    ports = [free_port() for _ in range(target.processes)]
    try:
        for index, port in enumerate(ports):
            with open(LOGS / f"{tag}-{index}.log", "wb") as log:  # the child keeps its copy
                started.append(
                    subprocess.Popen(
                        target.command(port),
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        preexec_fn=pinned(core),
                        cwd=HERE.parent,
                    )
                )
            wait_for_port(port, started[-1], time.monotonic() + 30)
            deadline = time.monotonic() + 30
            while target.asgi == "granian" and len(process_tree(started[-1].pid)) < 2:
                if time.monotonic() > deadline:  # (its worker process serves the port)
                    raise RuntimeError(f"{target.name}: no worker process")
                time.sleep(0.05)
        yield ports, [pid for process in started for pid in process_tree(process.pid)]
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if target.redis:
            forget_keys(prefix)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server's worker processes), from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:  # gone meanwhile
                continue
            children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo.extend(children.get(tree[-1], ()))
    return tree


def forget_keys(prefix: str) -> None:
    """Delete a run's Redis keys."""
    import redis

    with contextlib.suppress(redis.RedisError):
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1_000))
        for first in range(0, len(keys), 1_000):
            client.delete(*keys[first : first + 1_000])


def redis_pids() -> list[int]:
    """The pid of the Redis server the targets use (if local), so its CPU can be shown."""
    import redis

    with contextlib.suppress(redis.RedisError, KeyError, ValueError):
        pid = int(redis.Redis.from_url(REDIS_URL).info("server")["process_id"])
        if Path(f"/proc/{pid}/stat").exists():
            return [pid]
    return []


@contextlib.contextmanager
def redis_pinned(core: int | None) -> Iterator[None]:
    """With a core, keep a local Redis on it meanwhile (the generator's: off the servers' core,
    where its work would crowd theirs), then let it float again."""
    if core is None:
        yield
        return
    before: dict[int, set[int]] = {}
    for pid in redis_pids():
        with contextlib.suppress(OSError):
            before[pid] = os.sched_getaffinity(pid)
            os.sched_setaffinity(pid, {core})
    try:
        yield
    finally:
        for pid, cores in before.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, cores)


def loadgen(
    target: Target, ports: list[int], pids: list[int], core: int, extra: list[str]
) -> dict[str, Any]:
    command = [
        *(PYTHON, str(HERE / "loadgen.py"), "--dialect", target.dialect),
        *("--ports", ",".join(map(str, ports)), "--path", target.path),
        *("--pids", *map(str, pids)),
        *extra,
    ]
    if target.redis:
        command += ["--extra-pids", *map(str, redis_pids())]
    done = subprocess.run(
        command, capture_output=True, text=True, preexec_fn=pinned(core), timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure(
    target: Target, size: int, args: argparse.Namespace, common: list[str]
) -> dict[str, Any]:
    """One start of the target and one generator run against it: a result row."""
    row: dict[str, Any] = {"target": target.name, "receivers": size}
    try:
        with (
            redis_pinned(args.generator_core if target.redis else None),
            servers(target, args.server_core, f"{target.name}-{size}") as (ports, pids),
        ):
            # Every first join of a user notifies the room: N distinct users cost
            # N*N/2 notices at set-up (minutes on Django at N = 1,000), hence a cap.
            extra = [*common, "--receivers", str(size), "--users", str(args.users)]
            row.update(loadgen(target, ports, pids, args.generator_core, extra))
        tput = row["throughput"]
        log(
            f"{target.name:>26} N={size:<5} {tput['deliveries_per_s']:>8}/s "
            f"server {tput.get('server_us_per_delivery', 0):6.2f} us "
            f"gen {tput.get('generator_us_per_delivery', 0):6.2f} us "
            f"lost {tput['lost']} dup {tput['duplicated']} "
            f"p99 {row['latency'].get('latency_ms', {}).get('p99')} ms"
        )
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
        row["error"] = str(error)
        log(f"{target.name:>26} N={size:<5} FAILED: {error}")
    return row


def median_row(tries: list[dict[str, Any]], repeat: int) -> dict[str, Any]:
    """The run with the median server CPU stands for the row; the others are kept beside it."""
    good = [row for row in tries if "error" not in row]
    if not good:
        return tries[-1]
    good.sort(key=lambda row: row["throughput"]["server_us_per_delivery"])
    row = good[len(good) // 2]
    if repeat > 1:
        row["repeats"] = [
            {
                "server_us_per_delivery": other["throughput"]["server_us_per_delivery"],
                "p99_ms": other["latency"].get("latency_ms", {}).get("p99"),
                "lost": other["throughput"]["lost"] + other["latency"]["lost"],
                "duplicated": other["throughput"]["duplicated"] + other["latency"]["duplicated"],
                "close_codes": other.get("close_codes", {}),
                "receivers_losing": other["throughput"].get("receivers_losing", 0)
                + other["latency"].get("receivers_losing", 0),
                "closed_losing": other["throughput"].get("closed_losing", 0)
                + other["latency"].get("closed_losing", 0),
            }
            for other in tries
            if "error" not in other
        ]
    return row


def p99_rounds(args: argparse.Namespace, common: list[str]) -> dict[str, Any]:
    """The ``--p99-targets`` at ``--p99-size``, taking turns, ``--p99-rounds`` times: each
    run's latency percentiles and server CPU, round by round."""
    names = args.p99_targets.split(",")
    targets = [target for name in names for target in TARGETS if target.name == name]
    rounds: list[dict[str, Any]] = []
    for _ in range(args.p99_rounds):
        one: dict[str, Any] = {}
        for target in targets:
            row = measure(target, args.p99_size, args, common)
            one[target.name] = (
                {"error": row["error"]}
                if "error" in row
                else {
                    **row["latency"].get("latency_ms", {}),
                    "server_us_per_delivery": row["throughput"]["server_us_per_delivery"],
                    "lost": row["throughput"]["lost"] + row["latency"]["lost"],
                    "messages": row["latency"]["messages"],
                }
            )
        rounds.append(one)
    return {"receivers": args.p99_size, "targets": names, "rounds": rounds}


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in (
        "uvicorn",
        "uvloop",
        "websockets",
        "starlette",
        "django",
        "channels",
        "channels-redis",
        "python-socketio",
        "broadcaster",
        "redis",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
        "packages": versions,
    }


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,100,1000", help="room sizes N")
    parser.add_argument(
        "--large", type=int, default=5_000, help="one more N, for the faster targets; 0: skip"
    )
    parser.add_argument("--targets", default=",".join(t.name for t in TARGETS))
    parser.add_argument("--seconds", type=float, default=3.0, help="per measured phase")
    parser.add_argument("--window", type=int, default=32, help="messages in flight")
    parser.add_argument("--offered", type=int, default=2_000, help="deliveries/s, latency")
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections; 0: skip")
    parser.add_argument(
        "--users",
        type=int,
        default=100,
        help="distinct chatcore users at most; more receivers are more tabs of the same users",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per row; the median server CPU is kept"
    )
    parser.add_argument(
        "--p99-rounds", type=int, default=5, help="rounds of the p99 comparison; 0: skip"
    )
    parser.add_argument("--p99-size", type=int, default=1_000, help="N of the p99 rounds")
    parser.add_argument("--p99-targets", default="floor,chatcore-native")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--generator-core", type=int, default=1)
    parser.add_argument(
        "--out", default="", help="results file (default: by time, and latest.json)"
    )
    args = parser.parse_args()
    chosen = [t for t in TARGETS if t.name in args.targets.split(",")]
    sizes = [int(size) for size in args.sizes.split(",")]
    began = time.monotonic()
    results: dict[str, Any] = {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
        "settings": {
            "seconds": args.seconds,
            "window": args.window,
            "offered_deliveries_per_s": args.offered,
            "chatcore_users": args.users,
            "repeat": args.repeat,
            "server_core": args.server_core,
            "generator_core": args.generator_core,
        },
        "targets": {t.name: {"label": t.label, "processes": t.processes} for t in chosen},
        "runs": [],
        "idle": [],
    }
    common = [
        *("--seconds", str(args.seconds), "--window", str(args.window)),
        *("--offered", str(args.offered)),
    ]
    plan = [(size, list(chosen)) for size in sizes]
    if args.large:
        plan.append((args.large, [target for target in chosen if target.large]))
    # The repeats of one size take turns (every target once, then every target again), so a
    # slow spell of the machine falls on all the targets of a round, not on one row's runs.
    measured: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for size, targets in plan:
        for _ in range(args.repeat):
            for target in targets:
                measured.setdefault((size, target.name), []).append(
                    measure(target, size, args, common)
                )
    for size, targets in plan:
        for target in targets:
            results["runs"].append(median_row(measured[(size, target.name)], args.repeat))
    for target in chosen:
        if args.idle and target.name in IDLE_TARGETS:
            row = {"target": target.name, "connections": args.idle}
            try:
                with servers(target, args.server_core, f"{target.name}-idle") as (ports, pids):
                    extra = ["--mode", "idle", "--receivers", str(args.idle)]
                    extra += ["--users", str(args.users)]
                    row.update(loadgen(target, ports, pids, args.generator_core, extra))
                log(f"{target.name:>26} idle: {row['rss_per_connection']} bytes/connection")
            except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
                row["error"] = str(error)
                log(f"{target.name:>26} idle FAILED: {error}")
            results["idle"].append(row)
    if args.p99_rounds:
        results["p99_rounds"] = p99_rounds(args, common)
        for name in results["p99_rounds"]["targets"]:
            spec = next(t for t in TARGETS if t.name == name)
            results["targets"].setdefault(name, {"label": spec.label, "processes": 1})
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["wall_seconds"] = round(time.monotonic() - began, 1)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else RESULTS / f"run-{stamp}.json"
    text = json.dumps(results, indent=1) + "\n"
    out.write_text(text)
    if not args.out:  # a run to a file of its own is a trial: latest.json stays
        (RESULTS / "latest.json").write_text(text)
    log(f"wrote {out} in {results['wall_seconds']} s")


if __name__ == "__main__":
    main()
