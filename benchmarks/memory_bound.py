"""What hostile clients that stop reading can make a server hold: RSS growth under attack.

A room is filled with long messages (so one ``history`` reply is ~1.6 MB); then ``--sockets``
clients open a WebSocket each, shrink their receive buffer, never read, and send ``history``
requests at the rate limit for ``--seconds``; a client the server closes connects again. The
server is a real uvicorn process (the Starlette example, or ChatBoard on SQLite) and its RSS is
sampled from /proc. The figure is the peak growth over the RSS after set-up, beside the
documented bound per connection times the number of sockets.

Run: ``make bench-memory`` (both targets), or
``.venv/bin/python benchmarks/memory_bound.py --target starlette [--tree OTHER_CHECKOUT]``;
``--tree`` serves another checkout's code (its ``src`` and examples), to compare before/after.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
ROOM = "memory"
#: 3,900 emoji: ~15.6 KB a message, so a 100-message history reply is ~1.6 MB.
LONG_TEXT = "\U0001f600" * 3_900
#: The documented bound per connection (docs/reliability.md): the outbox's byte budget, one
#: reply already handed to the server (a quarter of the budget), and uvicorn's write buffer
#: high-water mark (64 KiB).
BOUND = 1_048_576 + 262_144 + 65_536


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def rss(pid: int) -> int:
    """Resident set size of process ``pid``, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def wait_http(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)  # a starting subprocess: nothing to wait on but its port
    raise RuntimeError(f"{url} did not answer")


@contextmanager
def serve(command: list[str], cwd: Path, env: dict[str, str], probe: str) -> Iterator[int]:
    """Run ``command`` (a uvicorn) until the block ends; its pid."""
    process = subprocess.Popen(command, cwd=cwd, env=env)
    try:
        wait_http(probe, process)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def base_env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree / "src"), env.get("PYTHONPATH", "")])
    env.pop("CHATCORE_REDIS_URL", None)
    return env


@contextmanager
def starlette_server(tree: Path, port: int) -> Iterator[tuple[int, list[str]]]:
    """The Starlette example; the session cookies of ``count`` users come from ``/login``."""
    env = base_env(tree) | {"CHATCORE_SECRET_KEY": "memory-bench-key"}
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(tree / "examples/starlette_chat")]
    command += ["app:app", "--host", HOST, "--port", str(port), "--log-level", "warning"]
    with serve(command, ROOT, env, f"http://{HOST}:{port}/") as pid:
        yield pid, []


def starlette_cookies(port: int, count: int) -> list[str]:
    cookies = []
    for n in range(count):
        response = httpx.post(f"http://{HOST}:{port}/login", data={"name": f"user{n}"})
        cookies.append("; ".join(f"{k}={v}" for k, v in response.cookies.items()))
    return cookies


@contextmanager
def chatboard_server(tree: Path, port: int, count: int) -> Iterator[tuple[int, list[str]]]:
    """ChatBoard on a fresh SQLite database with ``count`` users logged in (their cookies)."""
    board = tree / "examples/chatboard"
    with tempfile.TemporaryDirectory() as work:
        env = base_env(tree) | {
            "DATABASE_URL": f"sqlite:///{work}/db.sqlite3",
            "DEBUG": "",
            "SECRET_KEY": "memory-bench-secret-key",
            "ALLOWED_HOSTS": HOST,
            "PYTHONPATH": os.pathsep.join([str(tree / "src"), str(board)]),
        }
        python = [sys.executable]
        subprocess.run([*python, "manage.py", "migrate", "-v0"], cwd=board, env=env, check=True)
        made = subprocess.run(
            [*python, "manage.py", "shell", "-v0", "-c", _SESSIONS.replace("COUNT", str(count))],
            cwd=board,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        keys = made.stdout.split()[-count:]
        command = [*python, "-m", "uvicorn", "chatboard.asgi:application", "--host", HOST]
        command += ["--port", str(port), "--log-level", "warning"]
        with serve(command, board, env, f"http://{HOST}:{port}/accounts/login/") as pid:
            yield pid, [f"sessionid={key}" for key in keys]


# Users and their logged-in sessions, made directly (signing up 50 users over HTTP would spend
# the run on password hashing).
_SESSIONS = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
for n in range(COUNT):
    user = get_user_model().objects.create_user(f"user{n}")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    print(session.session_key)
"""


async def fill_room(ws_url: str, cookie: str, origin: str, messages: int) -> None:
    """Create the room and post ``messages`` long messages, within the rate limit."""
    headers = {"Cookie": cookie}
    async with websockets.connect(
        ws_url, additional_headers=headers, origin=websockets.Origin(origin), max_size=None
    ) as ws:
        await ws.send(json.dumps({"type": "create_room", "room": ROOM, "ref": "c"}))
        await ws.send(json.dumps({"type": "join", "room": ROOM, "ref": "j"}))
        sent = 0
        while sent < messages:
            frame = {"type": "send", "room": ROOM, "text": LONG_TEXT, "ref": sent}
            await ws.send(json.dumps(frame, ensure_ascii=False))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame.get("ref") == sent:
                    break
            if frame["type"] == "ok":
                sent += 1
            else:
                await asyncio.sleep(0.5)  # rate_limited: the bucket refills
            await asyncio.sleep(0.09)


def client_frame(payload: dict[str, Any]) -> bytes:
    """A masked text frame, as a client sends it."""
    data = json.dumps(payload).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    if len(data) < 126:
        header = struct.pack("!BB", 0x81, 0x80 | len(data))
    else:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, len(data))
    return header + mask + masked


async def attacker(port: int, path: str, cookie: str, until: float, stats: dict[str, int]) -> None:
    """Connect, never read, ask for the room's history at the rate limit; again once closed."""
    loop = asyncio.get_running_loop()
    while time.monotonic() < until:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (HOST, port))
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nOrigin: http://{HOST}:{port}\r\n"
                f"Cookie: {cookie}\r\n\r\n"
            )
            await loop.sock_sendall(sock, request.encode())
            answer = await loop.sock_recv(sock, 1024)  # the 101 (and maybe the welcome)
            if not answer.startswith(b"HTTP/1.1 101"):
                stats["refused"] += 1
                await asyncio.sleep(1)
                continue
            stats["connections"] += 1
            n = 0
            while time.monotonic() < until:
                frame = client_frame({"type": "history", "room": ROOM, "limit": 100, "ref": n})
                await asyncio.wait_for(loop.sock_sendall(sock, frame), 10)
                stats["requests"] += 1
                n += 1
                await asyncio.sleep(0.11)  # under the default 10 frames a second
        except (OSError, TimeoutError):
            stats["closed"] += 1
        finally:
            sock.close()


async def attack(
    pid: int, port: int, path: str, cookies: list[str], seconds: float
) -> dict[str, Any]:
    """Run the attackers while sampling the server's RSS; the figures."""
    stats = {"connections": 0, "requests": 0, "closed": 0, "refused": 0}
    await asyncio.sleep(1)
    before = rss(pid)
    peak = before
    until = time.monotonic() + seconds
    tasks = [asyncio.create_task(attacker(port, path, c, until, stats)) for c in cookies]
    while time.monotonic() < until:
        peak = max(peak, rss(pid))
        await asyncio.sleep(0.2)
    await asyncio.gather(*tasks)
    return {
        **stats,
        "rss_before": before,
        "rss_peak": peak,
        "growth": peak - before,
        "bound": BOUND * len(cookies),
    }


def run(target: str, tree: Path, sockets: int, seconds: float) -> dict[str, Any]:
    port = free_port()
    origin = f"http://{HOST}:{port}"
    if target == "starlette":
        with starlette_server(tree, port) as (pid, _):
            cookies = starlette_cookies(port, sockets + 1)
            asyncio.run(fill_room(f"ws://{HOST}:{port}/ws", cookies[0], origin, 100))
            return asyncio.run(attack(pid, port, "/ws", cookies[1:], seconds))
    with chatboard_server(tree, port, sockets + 1) as (pid, cookies):
        asyncio.run(fill_room(f"ws://{HOST}:{port}/ws/", cookies[0], origin, 100))
        return asyncio.run(attack(pid, port, "/ws/", cookies[1:], seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=["starlette", "chatboard", "both"], default="both")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to serve")
    parser.add_argument("--sockets", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    targets = ["starlette", "chatboard"] if args.target == "both" else [args.target]
    mib = 1 << 20
    for target in targets:
        result = run(target, args.tree.resolve(), args.sockets, args.seconds)
        print(
            f"{target}: {args.sockets} non-reading sockets, {args.seconds:.0f} s: "
            f"RSS {result['rss_before'] / mib:.0f} -> peak {result['rss_peak'] / mib:.0f} MiB, "
            f"growth {result['growth'] / mib:.1f} MiB "
            f"({result['growth'] / args.sockets / mib:.2f} MiB a socket; "
            f"bound {result['bound'] / mib:.0f} MiB = {BOUND / mib:.2f} MiB a socket); "
            f"{result['connections']} connections, {result['requests']} requests, "
            f"{result['closed']} closed by the server, {result['refused']} refused",
            flush=True,
        )
        print(json.dumps({"target": target, **result}), flush=True)


if __name__ == "__main__":
    main()
