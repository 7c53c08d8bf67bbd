"""A real local Redis Cluster for tests: 3 masters and 3 replicas on free ports, in a temp dir.

Never the machine's Redis: each node is a ``redis-server`` started here with
``--cluster-enabled yes``, joined by ``redis-cli --cluster create --cluster-replicas 1``, and
stopped (its directory deleted) afterwards. A short ``cluster-node-timeout`` makes a failover
take about two seconds.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import redis.asyncio
import redis.exceptions
from anyio.abc import Process

from tests.helpers import require

__all__ = ("LocalCluster", "Migration", "local_cluster", "node_command")

NODE_TIMEOUT_MS = 1000


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _cluster_ports(count: int) -> list[int]:
    """Free ports a cluster node may use: at most 55535, with the cluster bus port (10,000
    higher) free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(20000, 55535)
        if port not in ports and _bindable(port) and _bindable(port + 10000):
            ports.append(port)
    return ports


def node_command(
    port: int, folder: Path, *, cluster: bool = True, persist: bool = False
) -> list[str]:
    """The ``redis-server`` command of one node on ``port`` keeping its files in ``folder``
    (its log too: a pipe nobody reads would fill and stop the node); ``persist``: an
    append-only file, so a restarted node keeps its data."""
    clustered = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", str(NODE_TIMEOUT_MS)]  # fmt: skip
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
            *(clustered if cluster else []), "--save", "",
            "--appendonly", "yes" if persist else "no", "--dir", str(folder),
            "--logfile", str(folder / "redis.log")]  # fmt: skip


class LocalCluster:
    """Six ``redis-server`` nodes forming one cluster; :attr:`url` names any node with
    ``?cluster=true``."""

    def __init__(self, masters: int = 3, replicas: int = 1) -> None:
        for program in ("redis-server", "redis-cli"):
            if shutil.which(program) is None:
                require(program, f"the {program} program is not installed")
        self.size = masters * (1 + replicas)
        self.replicas = replicas
        self.ports = _cluster_ports(self.size)
        self._dir = Path(tempfile.mkdtemp(prefix="chatcore-cluster-"))
        self._processes: dict[int, Process] = {}

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0?cluster=true"

    async def start_node(self, port: int) -> None:
        folder = self._dir / str(port)
        folder.mkdir(exist_ok=True)
        log = folder / "redis.log"
        process = await anyio.open_process(
            node_command(port, folder, persist=True),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._processes[port] = process
        with anyio.fail_after(10):
            while b"eady to accept connections" not in (log.read_bytes() if log.exists() else b""):
                if process.returncode is not None:
                    raise RuntimeError(f"redis-server did not start: {log.read_text()}")
                await anyio.sleep(0.02)  # the node's log file: no event to wait on

    async def start(self) -> None:
        async with anyio.create_task_group() as group:
            for port in self.ports:
                group.start_soon(self.start_node, port)
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        created = await anyio.run_process(
            [
                "redis-cli",
                "--cluster",
                "create",
                *nodes,
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=False,
        )
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout.decode()}")
        await self.wait_ok()
        await self.wait_replicas()

    async def wait_replicas(self, within: float = 30) -> None:
        """Until every replica has synchronised with its master."""
        with anyio.fail_after(within):
            for port in self._processes:
                client = redis.asyncio.Redis(port=port, decode_responses=True)
                try:
                    while True:
                        info = await client.info("replication")
                        if info["role"] == "master" or info.get("master_link_status") == "up":
                            break
                        await anyio.sleep(0.05)  # replication state: no event to wait on
                finally:
                    await client.aclose()

    async def info(self, port: int) -> dict[str, str]:
        client = redis.asyncio.Redis(port=port, decode_responses=True)
        try:
            info: dict[str, Any] = await client.cluster("INFO")  # (redis-py parses it)
        finally:
            await client.aclose()
        return {key: str(value) for key, value in info.items()}

    async def wait_ok(self, within: float = 30) -> None:
        """Until every running node says the cluster is ok with every slot served."""
        with anyio.fail_after(within):
            while True:
                states = [await self.info(port) for port in self._processes]
                if all(
                    s.get("cluster_state") == "ok" and s.get("cluster_slots_ok") == "16384"
                    for s in states
                ):
                    return
                await anyio.sleep(0.1)  # the cluster's gossip: no event to wait on

    async def wait_failover(self, victim: int, within: float = 30) -> None:
        """Until a replica serves the slots of the killed master ``victim``."""
        with anyio.fail_after(within):
            while True:
                try:
                    if victim not in await self.masters():
                        break
                except (redis.exceptions.RedisError, OSError):
                    pass  # the node asked may be the dead one's neighbour still voting
                await anyio.sleep(0.1)  # the cluster's gossip: no event to wait on
        await self.wait_ok(within)

    async def masters(self) -> dict[int, list[tuple[int, int]]]:
        """Each running master's port and slot ranges."""
        client = redis.asyncio.Redis(port=next(iter(self._processes)), decode_responses=True)
        try:
            slots = await client.cluster("SLOTS")
        finally:
            await client.aclose()
        found: dict[int, list[tuple[int, int]]] = {}
        for start, end, master, *_ in slots:
            found.setdefault(int(master[1]), []).append((int(start), int(end)))
        return found

    async def owner(self, slot: int) -> int:
        """The port of the master serving ``slot``."""
        for port, ranges in (await self.masters()).items():
            if any(start <= slot <= end for start, end in ranges):
                return port
        raise LookupError(f"no master serves slot {slot}")

    async def begin_migration(self, slot: int, to: int) -> Migration:
        """Mark ``slot`` IMPORTING on the master ``to`` and MIGRATING on its owner (keys
        move with :meth:`Migration.move_keys`, the slot with :meth:`Migration.finish`)."""
        source = await self.owner(slot)
        if source == to:
            raise ValueError(f"slot {slot} is already served by {to}")
        migration = Migration(slot, source, to, list(await self.masters()))
        await migration.begin()
        return migration

    async def migrate(self, slot: int, to: int) -> None:
        """Move ``slot`` and its keys to the master ``to``, as ``redis-cli --cluster
        reshard`` does."""
        migration = await self.begin_migration(slot, to)
        await migration.move_keys()
        await migration.finish()

    async def kill(self, port: int) -> None:
        """SIGKILL one node (a master's replica then takes over after the node timeout)."""
        process = self._processes.pop(port)
        process.kill()
        await process.wait()
        await process.aclose()

    async def close(self) -> None:
        for port in list(self._processes):
            await self.kill(port)
        if not os.environ.get("KEEP_CLUSTER"):
            shutil.rmtree(self._dir, ignore_errors=True)


@asynccontextmanager
async def local_cluster() -> AsyncIterator[LocalCluster]:
    cluster = LocalCluster()
    try:
        await cluster.start()
        yield cluster
    finally:
        with anyio.CancelScope(shield=True):
            await cluster.close()


class Migration:
    """One slot moving from master ``source`` to master ``target`` (ports), step by step, so
    a test can act half-way (see :meth:`LocalCluster.begin_migration`)."""

    def __init__(self, slot: int, source: int, target: int, masters: list[int]) -> None:
        self.slot, self.source, self.target, self.masters = slot, source, target, masters

    async def _command(self, port: int, *args: str | int) -> Any:
        client = redis.asyncio.Redis(port=port, decode_responses=True)
        try:
            return await client.execute_command(*args)  # type: ignore[no-untyped-call]
        finally:
            await client.aclose()

    async def begin(self) -> None:
        source_id = await self._command(self.source, "CLUSTER", "MYID")
        target_id = await self._command(self.target, "CLUSTER", "MYID")
        await self._command(self.target, "CLUSTER", "SETSLOT", self.slot, "IMPORTING", source_id)
        await self._command(self.source, "CLUSTER", "SETSLOT", self.slot, "MIGRATING", target_id)

    async def move_keys(self, limit: int | None = None, batch: int = 10) -> int:
        """MIGRATE the slot's keys to the target in batches (at most ``limit`` keys); how
        many moved."""
        moved = 0
        while limit is None or moved < limit:
            count = batch if limit is None else min(batch, limit - moved)
            keys = await self._command(self.source, "CLUSTER", "GETKEYSINSLOT", self.slot, count)
            if not keys:
                break
            await self._command(
                self.source, "MIGRATE", "127.0.0.1", self.target, "", 0, 5000, "KEYS", *keys
            )
            moved += len(keys)
        return moved

    async def finish(self) -> None:
        """Move any keys left, then give the slot to the target on every master (the target
        and the source first, as ``redis-cli`` does)."""
        await self.move_keys()
        target_id = await self._command(self.target, "CLUSTER", "MYID")
        others = [port for port in self.masters if port not in (self.target, self.source)]
        for port in (self.target, self.source, *others):
            await self._command(port, "CLUSTER", "SETSLOT", self.slot, "NODE", target_id)
