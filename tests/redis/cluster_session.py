"""One real local Redis Cluster shared by a whole test session (or a benchmark run).

:func:`shared_cluster_url` starts 3 masters and 3 replicas on free ports the first time it is
called (a few seconds), and stops them when the interpreter exits; tests isolate themselves
with their own key prefix, as on the shared Redis. Tests that kill or move a node start their
own cluster instead (:func:`tests.redis.cluster_support.local_cluster`).

It is synchronous (plain ``subprocess``), so a session fixture, a conformance backend and a
benchmark can all use it whatever event loop they run.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis
import redis.asyncio

from tests.helpers import require
from tests.redis.cluster_support import _cluster_ports, node_command

__all__ = ("SyncCluster", "delete_cluster_keys", "shared_cluster_url")

_shared: SyncCluster | None = None


class SyncCluster:
    """Six ``redis-server`` nodes in one cluster, started and stopped without an event loop."""

    def __init__(self, masters: int = 3, replicas: int = 1, *, cluster: bool = True) -> None:
        for program in ("redis-server", "redis-cli"):
            if shutil.which(program) is None:
                require(program, f"the {program} program is not installed")
        self.replicas = replicas
        self.cluster = cluster
        self.ports = _cluster_ports(masters * (1 + replicas))
        self.dir = Path(tempfile.mkdtemp(prefix="chatcore-cluster-"))
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        query = "?cluster=true" if self.cluster else ""
        return f"redis://127.0.0.1:{self.ports[0]}/0{query}"

    def master_ports(self) -> list[int]:
        """The ports of the nodes that serve slots (the one server when not a cluster)."""
        if not self.cluster:
            return list(self.ports)
        client = redis.Redis(port=self.ports[0], decode_responses=True)
        try:
            return sorted({int(master[1]) for _, _, master, *_ in client.cluster("SLOTS")})
        finally:
            client.close()

    def start(self, within: float = 60) -> None:
        for port in self.ports:
            folder = self.dir / str(port)
            folder.mkdir()
            self.processes[port] = subprocess.Popen(
                node_command(port, folder, cluster=self.cluster),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        due = time.monotonic() + within
        for port in self.ports:
            self._until(due, lambda port=port: self._pong(port), f"node {port} starts")
        if not self.cluster:
            return
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            capture_output=True, check=False,
        )  # fmt: skip
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout.decode()}")
        self._until(due, self._ok, "every node sees every slot served")

    def _pong(self, port: int) -> bool:
        try:
            return bool(redis.Redis(port=port, socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def _ok(self) -> bool:
        for port in self.ports:
            client = redis.Redis(port=port, decode_responses=True, socket_timeout=1)
            try:
                info = client.cluster("INFO")
                replication = client.info("replication")
            except (redis.RedisError, OSError):
                return False
            finally:
                client.close()
            if info.get("cluster_state") != "ok" or str(info.get("cluster_slots_ok")) != "16384":
                return False
            if replication["role"] != "master" and replication.get("master_link_status") != "up":
                return False
        return True

    @staticmethod
    def _until(due: float, ready: object, what: str) -> None:
        assert callable(ready)
        while not ready():
            if time.monotonic() > due:
                raise RuntimeError(f"the local Redis Cluster did not come up: {what}")
            time.sleep(0.05)  # the cluster's gossip: no event to wait on

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait()
        self.processes.clear()
        if not os.environ.get("KEEP_CLUSTER"):
            shutil.rmtree(self.dir, ignore_errors=True)


def shared_cluster_url() -> str:
    """The URL (``?cluster=true``) of the session's cluster, started on first use."""
    global _shared
    if _shared is None:
        cluster = SyncCluster()
        atexit.register(cluster.stop)
        try:
            cluster.start()
        except BaseException:
            cluster.stop()
            raise
        _shared = cluster
    return _shared.url


async def delete_cluster_keys(url: str, prefix: str) -> None:
    """Delete every key that starts with ``prefix`` on every master of the cluster of ``url``."""
    client = redis.asyncio.RedisCluster.from_url(url.split("?", 1)[0])
    try:
        await client.initialize()  # (the node list is empty until then)
        for node in client.get_primaries():
            found = client.scan_iter(match=f"{prefix}*", count=500, target_nodes=node)
            for key in [key async for key in found]:
                await client.delete(key)
    finally:
        await client.aclose()
