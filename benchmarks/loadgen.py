"""The load generator: one sender and N receivers on real WebSockets, cheap per delivery.

It speaks just enough WebSocket itself (RFC 6455 client side: a handshake, masked text frames
with a zero mask key, pong) on uvloop protocols, so a delivery costs the generator one slice
of a ``recv`` buffer and a few integer operations: far less than any server spends sending it.
Each message text carries ``@@<phase><seq>``; a receiver finds it with ``bytes.find`` and
counts it in a per-receiver ``bytearray``, so lost and duplicated deliveries are exact.

Dialects: ``plain`` (the floor, broadcaster, the Channels tutorial: a JSON ``{"message": ...}``
relayed to the room), ``chatcore`` (protocol v1: ``join`` then ``send``) and ``socketio``
(Engine.IO 4 over WebSocket). One run connects, then measures throughput (a window of ``W``
messages in flight, a message leaving the window once every receiver has it) and latency (a
fixed offered load, send to receive), or only holds ``N`` idle connections for memory.

Run by ``benchmarks/run.py``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from array import array
from collections.abc import Callable
from typing import Any, cast

import uvloop

MARK = b"@@"
FILLER = " the quick brown fox jumps over the lazy dog, twice over"
HANDSHAKE = (
    "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n"
)
TICKS = os.sysconf("SC_CLK_TCK")
QUIET = 5.0


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame; the zero mask key makes masking a no-op (any key is valid)."""
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65_536:
        header = bytes((0x80 | opcode, 0xFE)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0xFF)) + size.to_bytes(8, "big")
    return header + b"\0\0\0\0" + payload


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of ``pid``, from ``/proc/<pid>/stat``."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU time of every thread of ``pid``, apart."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Dialect:
    """How a target's clients join the room and send a message."""

    name = "plain"
    path = "/"

    def __init__(self, path: str) -> None:
        self.path = path or self.path

    def url_path(self, index: int) -> str:
        return self.path

    def opening(self) -> bytes:
        """Frames sent right after the handshake."""
        return b""

    def on_text(self, peer: Peer, payload: bytes) -> bytes:
        """Handle a text frame that is not a counted message; what to send back (or b"")."""
        return b""

    def message(self, text: str) -> bytes:
        return ws_frame(json.dumps({"message": text}).encode())

    def ready_on_open(self) -> bool:
        """Whether a client is in the room as soon as the handshake is done."""
        return True


class Chatcore(Dialect):
    name = "chatcore"
    path = "/ws"

    def __init__(self, path: str, users: int) -> None:
        super().__init__(path)
        self.users = users

    def url_path(self, index: int) -> str:
        user = "sender" if index < 0 else f"r{index % self.users}"
        return f"{self.path}?user={user}"

    def opening(self) -> bytes:
        return ws_frame(b'{"type":"join","room":"bench","ref":1}')

    def on_text(self, peer: Peer, payload: bytes) -> bytes:
        if payload.startswith(b'{"type":"ok"') or b'"type":"ok"' in payload[:40]:
            peer.set_ready()
        elif b'"type":"error"' in payload:
            peer.fail(payload.decode(errors="replace"))
        return b""

    def message(self, text: str) -> bytes:
        return ws_frame(json.dumps({"type": "send", "room": "bench", "text": text}).encode())

    def ready_on_open(self) -> bool:
        return False


class SocketIO(Dialect):
    name = "socketio"
    path = "/socket.io/?EIO=4&transport=websocket"

    def on_text(self, peer: Peer, payload: bytes) -> bytes:
        if payload == b"2":  # Engine.IO ping
            return ws_frame(b"3")
        if payload.startswith(b"0{"):  # Engine.IO open: connect to the namespace
            return ws_frame(b"40")
        if payload.startswith(b"40"):  # connected: join the room, with an ack
            return ws_frame(b'421["join","bench"]')
        if payload.startswith(b"431"):
            peer.set_ready()
        return b""

    def message(self, text: str) -> bytes:
        return ws_frame(b"42" + json.dumps(["message", text]).encode())

    def ready_on_open(self) -> bool:
        return False


class Phase:
    """One measured phase: which messages were sent, who got what, when."""

    def __init__(self, digit: int, capacity: int, receivers: int, latency: bool) -> None:
        self.digit = digit
        self.capacity = capacity
        self.remaining = array("l", [receivers]) * capacity
        self.sent_at = array("d", [0.0]) * capacity if latency else None
        self.latencies: list[float] = []
        self.sent = 0
        self.completed = 0
        self.deliveries = 0  # first receipts, counted as they come
        self.last_completion = 0.0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.stopped = False  # no more sends
        self.on_complete: Callable[[], None] = lambda: None

    def finish_if_drained(self) -> None:
        if self.stopped and self.completed == self.sent and not self.done.done():
            self.done.set_result(None)


class Peer(asyncio.Protocol):
    """One WebSocket client connection, receiving and counting."""

    def __init__(self, gen: Generator, path: str, port: int, counting: bool) -> None:
        self.gen = gen
        self.path = path
        self.port = port
        self.counting = counting
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.open = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.counts = bytearray()
        self.closed = False
        self.close_code: int | None = None  # from the server's close frame

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's own class
        request = HANDSHAKE.format(path=self.path, host=self.gen.host, port=self.port)
        self.transport.write(request.encode())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.fail("connection lost")

    def set_ready(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    def fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.buffer:
            data = self.buffer + data
        pos = 0
        if not self.open:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = data
                return
            if b" 101 " not in data[:end].split(b"\r\n", 1)[0]:
                self.fail(data[:end].decode(errors="replace").split("\r\n", 1)[0])
                return
            self.open = True
            pos = end + 4
            opening = self.gen.dialect.opening()
            if opening:
                self.send(opening)
            if self.gen.dialect.ready_on_open():
                self.set_ready()
        size = len(data)
        phase = self.gen.phase
        counts = self.counts
        now = time.perf_counter() if phase is not None and phase.sent_at is not None else 0.0
        while size - pos >= 2:
            length = data[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > size:
                break
            # Only a text frame can be a message: a ping's random payload may hold the mark too
            # (about one ping in 22,000), and a ping taken for a message gets no pong.
            opcode = data[pos] & 0x0F
            at = data.find(MARK, start, end) if opcode == 0x1 else -1
            if at >= 0:
                if self.counting and phase is not None and data[at + 2] - 48 == phase.digit:
                    seq = int(data[at + 3 : at + 12])
                    seen = counts[seq]
                    if seen < 255:
                        counts[seq] = seen + 1
                    if not seen:
                        phase.deliveries += 1
                        if phase.sent_at is not None:
                            phase.latencies.append(now - phase.sent_at[seq])
                        left = phase.remaining[seq] - 1
                        phase.remaining[seq] = left
                        if not left:
                            phase.completed += 1
                            phase.last_completion = time.perf_counter()
                            phase.on_complete()
            else:
                self.control(opcode, data[start:end])
            pos = end
        self.buffer = data[pos:]

    def control(self, opcode: int, payload: bytes) -> None:
        if opcode == 0x9:  # ping
            self.send(ws_frame(payload, 0xA))
        elif opcode == 0x8:  # close
            self.fail(f"closed by the server: {payload[:2].hex()} {payload[2:]!r}")
            self.closed = True
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        elif opcode == 0x1:
            reply = self.gen.dialect.on_text(self, payload)
            if reply:
                self.send(reply)


class Generator:
    """The sender and receivers of one run against one server."""

    def __init__(self, dialect: Dialect, host: str, ports: list[int]) -> None:
        self.dialect = dialect
        self.host = host
        self.ports = ports
        self.phase: Phase | None = None
        self.receivers: list[Peer] = []
        self.sender: Peer | None = None
        #: A latency phase sends at least this many messages (it lasts longer at large N).
        self.min_latency_messages = 20

    async def connect(self, index: int, counting: bool) -> Peer:
        loop = asyncio.get_running_loop()
        # The sender dials the first server; receivers alternate between them all.
        port = self.ports[index % len(self.ports)] if index >= 0 else self.ports[0]
        peer = Peer(self, self.dialect.url_path(index), port, counting)
        await loop.create_connection(lambda: peer, self.host, port)
        await asyncio.wait_for(peer.ready, 20)
        return peer

    async def connect_all(self, receivers: int, batch: int = 100) -> None:
        self.sender = await self.connect(-1, counting=False)
        for first in range(0, receivers, batch):
            indexes = range(first, min(first + batch, receivers))
            self.receivers += await asyncio.gather(*(self.connect(i, True) for i in indexes))

    def new_phase(self, digit: int, capacity: int, latency: bool) -> Phase:
        phase = Phase(digit, capacity, len(self.receivers), latency)
        for peer in self.receivers:
            peer.counts = bytearray(capacity)
        self.phase = phase
        return phase

    def text(self, phase: Phase, seq: int) -> bytes:
        return self.dialect.message(f"@@{phase.digit}{seq:09d}{FILLER}")

    async def barrier(self) -> None:
        """Send probes until every receiver has one: each is surely subscribed."""
        assert self.sender is not None
        phase = self.new_phase(0, 1_000, latency=False)
        phase.stopped = True
        first = asyncio.get_running_loop().create_future()
        phase.on_complete = lambda: None if first.done() else first.set_result(None)
        while not first.done():
            if phase.sent >= 20:
                raise RuntimeError("receivers never got a probe")
            self.sender.send(self.text(phase, phase.sent))
            phase.sent += 1
            # A slow server may take a second to fan one probe out: no backlog of probes.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(first), 2.0)
        seen = -1
        while seen != phase.deliveries:  # until the last probes have arrived
            seen = phase.deliveries
            await asyncio.sleep(0.3)

    async def throughput(self, digit: int, seconds: float, window: int, cap: int) -> Phase:
        """Keep ``window`` messages in flight for ``seconds`` (or ``cap`` messages)."""
        assert self.sender is not None
        sender = self.sender
        phase = self.new_phase(digit, cap, latency=False)
        deadline = time.perf_counter() + seconds

        def pump() -> None:
            if phase.stopped:
                phase.finish_if_drained()
                return
            while phase.sent - phase.completed < window:
                if phase.sent >= cap or time.perf_counter() >= deadline:
                    phase.stopped = True
                    phase.finish_if_drained()
                    return
                sender.send(self.text(phase, phase.sent))
                phase.sent += 1

        phase.on_complete = pump
        pump()
        await self.wait(phase, deadline)
        return phase

    async def latency(self, digit: int, seconds: float, rate: float) -> Phase:
        """Send ``rate`` messages a second for ``seconds``, each stamped when sent."""
        assert self.sender is not None
        loop = asyncio.get_running_loop()
        count = max(self.min_latency_messages, int(seconds * rate))
        seconds = count / rate
        phase = self.new_phase(digit, count, latency=True)
        phase.on_complete = phase.finish_if_drained
        assert phase.sent_at is not None
        start = loop.time() + 0.01
        for seq in range(count):
            loop.call_at(start + seq / rate, self.send_stamped, phase, seq)
        await asyncio.sleep(seconds + 0.02)
        phase.stopped = True
        await self.wait(phase, time.perf_counter())
        return phase

    def send_stamped(self, phase: Phase, seq: int) -> None:
        assert self.sender is not None
        assert phase.sent_at is not None
        data = self.text(phase, seq)
        phase.sent_at[seq] = time.perf_counter()
        self.sender.send(data)
        phase.sent = seq + 1

    async def wait(self, phase: Phase, deadline: float) -> None:
        """Wait for every sent message to reach every receiver.

        A slow server is not a lossy one: past the deadline, the wait goes on while deliveries
        still arrive, and gives up (counting the rest as lost) after ``QUIET`` seconds without
        one.
        """
        phase.finish_if_drained()
        last: tuple[tuple[int, int] | None, float] = (None, 0.0)
        while not phase.done.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(phase.done), 0.5)
            now = time.perf_counter()
            progress = (phase.completed, phase.deliveries)
            if progress != last[0]:
                last = (progress, now)
            elif now > deadline and now - last[1] > QUIET:
                phase.stopped = True  # stalled: what has not arrived is lost
                break
        await asyncio.sleep(0.05)  # late duplicates still count

    def tally(self, phase: Phase) -> dict[str, int]:
        sent = phase.sent
        lost = duplicated = lost_by = 0
        for peer in self.receivers:
            zero = peer.counts.count(0, 0, sent)
            once = peer.counts.count(1, 0, sent)
            lost += zero
            lost_by += zero > 0
            duplicated += sent - zero - once
        # How many receivers lost any, and how many of those the server or the network closed.
        return {
            "messages": sent,
            "lost": lost,
            "duplicated": duplicated,
            "receivers_losing": lost_by,
            "closed_losing": sum(
                peer.closed and peer.counts.count(0, 0, sent) > 0 for peer in self.receivers
            ),
        }


class Meter:
    """CPU of the servers (``/proc``) and of this process over a phase."""

    def __init__(self, pids: list[int], extra: list[int]) -> None:
        self.pids = pids
        self.extra = extra

    def snapshot(self) -> tuple[float, float, float, float, float]:
        times = os.times()
        return (
            time.perf_counter(),
            sum(cpu_seconds(pid) for pid in self.pids),
            sum(cpu_seconds(pid) for pid in self.extra),
            times.user + times.system,
            times.system,
        )


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(
    gen: Generator, phase: Phase, before: tuple[float, ...], after: tuple[float, ...]
) -> dict[str, Any]:
    counts = gen.tally(phase)
    deliveries = counts["messages"] * len(gen.receivers) - counts["lost"]
    wall = after[0] - before[0]
    result: dict[str, Any] = {
        **counts,
        "deliveries": deliveries,
        "seconds": round(wall, 3),
        "deliveries_per_s": round(deliveries / wall) if wall else 0,
        "server_cpu_s": round(after[1] - before[1], 3),
        "extra_cpu_s": round(after[2] - before[2], 3),
        "generator_cpu_s": round(after[3] - before[3], 3),
        "generator_system_cpu_s": round(after[4] - before[4], 3),
    }
    if deliveries:
        for key in ("server", "extra", "generator"):
            result[f"{key}_us_per_delivery"] = round(result[f"{key}_cpu_s"] * 1e6 / deliveries, 3)
    if wall:  # share of a core: whichever side nears 1.0 is the limit
        result["server_busy"] = round(result["server_cpu_s"] / wall, 2)
        result["generator_busy"] = round(result["generator_cpu_s"] / wall, 2)
    if phase.latencies:
        ordered = sorted(phase.latencies)
        result["latency_ms"] = {
            "p50": round(percentile(ordered, 0.50) * 1e3, 3),
            "p99": round(percentile(ordered, 0.99) * 1e3, 3),
            "max": round(ordered[-1] * 1e3, 3),
        }
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    dialect: Dialect
    if args.dialect == "chatcore":
        dialect = Chatcore(args.path, min(args.users or args.receivers, args.receivers))
    elif args.dialect == "socketio":
        dialect = SocketIO(args.path)
    else:
        dialect = Dialect(args.path)
    gen = Generator(dialect, args.host, [int(port) for port in args.ports.split(",")])
    meter = Meter(args.pids, args.extra_pids)
    out: dict[str, Any] = {"receivers": args.receivers}
    rss_before = sum(rss_bytes(pid) for pid in args.pids)
    started = time.perf_counter()
    await gen.connect_all(args.receivers)
    out["connect_s"] = round(time.perf_counter() - started, 3)
    if args.mode == "idle":
        await asyncio.sleep(1.0)
        rss_after = sum(rss_bytes(pid) for pid in args.pids)
        out["rss_before"] = rss_before
        out["rss_after"] = rss_after
        out["rss_per_connection"] = round((rss_after - rss_before) / (args.receivers + 1))
        return out
    await gen.barrier()
    cap = max(2_000, args.max_deliveries // args.receivers)
    # At most ``window`` messages and about ``window_deliveries`` deliveries in flight: enough
    # to keep any server busy, few enough that a slow one drains them in about a second.
    window = max(2, min(args.window, args.window_deliveries // args.receivers))
    out["window"] = window
    await gen.throughput(1, args.warmup, window, cap)
    before = meter.snapshot()
    phase = await gen.throughput(2, args.seconds, window, cap)
    after = meter.snapshot()
    out["throughput"] = report(gen, phase, before, after)
    end = phase.last_completion if phase.completed else after[0]
    out["throughput"]["seconds"] = round(end - before[0], 3)
    out["throughput"]["deliveries_per_s"] = round(
        out["throughput"]["deliveries"] / out["throughput"]["seconds"]
    )
    rate = args.offered / args.receivers
    before = meter.snapshot()
    phase = await gen.latency(3, args.seconds, rate)
    after = meter.snapshot()
    out["latency"] = report(gen, phase, before, after)
    out["latency"]["offered_per_s"] = args.offered
    # A server that closes slow sockets (chatcore's 1013) shows here, besides the losses.
    out["closed_by_server"] = sum(peer.closed for peer in gen.receivers)
    codes: dict[str, int] = {}
    for peer in gen.receivers:
        if peer.close_code is not None:
            codes[str(peer.close_code)] = codes.get(str(peer.close_code), 0) + 1
    out["close_codes"] = codes
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dialect", choices=("plain", "chatcore", "socketio"), default="plain")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", required=True, help="comma-separated; receivers alternate")
    parser.add_argument("--path", default="")
    parser.add_argument("--receivers", type=int, default=10)
    parser.add_argument("--users", type=int, default=0, help="distinct chatcore users (0: N)")
    parser.add_argument("--mode", choices=("load", "idle"), default="load")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--window", type=int, default=32, help="messages in flight, at most")
    parser.add_argument("--window-deliveries", type=int, default=4_000)
    parser.add_argument("--offered", type=float, default=2_000, help="deliveries/s in latency")
    parser.add_argument("--max-deliveries", type=int, default=3_000_000)
    parser.add_argument("--pids", type=int, nargs="*", default=[], help="server processes")
    parser.add_argument("--extra-pids", type=int, nargs="*", default=[], help="e.g. Redis")
    args = parser.parse_args()
    result = uvloop.run(run(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
