"""A real server process, SIGKILLed: its users' leave is announced within the bound."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import anyio
import pytest

from chatcore.testing import LocalClient
from tests.redis.stack import ALICE, EXPIRY, HEARTBEAT, Cluster, expect, layout_url

pytestmark = [pytest.mark.anyio, pytest.mark.network]

CHILD = textwrap.dedent(
    """
    import sys
    import anyio
    from chatcore import ChatServer, User
    from chatcore.redis import RedisBroker, RedisStore
    from chatcore.testing import LocalClient

    async def main(url: str, prefix: str, expiry: float, heartbeat: float) -> None:
        broker = RedisBroker(url, prefix=prefix, expiry=expiry, heartbeat=heartbeat)
        store = RedisStore(url, prefix=prefix, broker=broker)
        async with ChatServer(broker=broker, store=store) as server:
            zed = await LocalClient.connect(server, User(id="26", name="Zed"))
            await zed.call("join", room="lobby")
            print("ready", flush=True)
            await anyio.sleep_forever()

    anyio.run(main, sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
    """
)


async def test_a_sigkilled_process_users_leave(cluster: Cluster) -> None:
    alice = await LocalClient.connect(cluster.a, ALICE)
    await alice.call("create_room", room="lobby")
    await alice.call("join", room="lobby")
    args = [layout_url(cluster.url), cluster.prefix, str(EXPIRY), str(HEARTBEAT)]
    async with await anyio.open_process(
        [sys.executable, "-c", CHILD, *args], stderr=subprocess.STDOUT
    ) as child:
        assert child.stdout is not None
        output = b""
        with anyio.fail_after(20):
            while b"ready" not in output:
                try:
                    output += await child.stdout.receive()
                except anyio.EndOfStream:
                    pytest.fail(f"the child server did not start:\n{output.decode()}")
        join = await expect(
            alice,
            "presence",
            event="join",
            within=5,
            user={"id": "26", "name": "Zed", "avatar": None},
        )
        assert join["room"] == "lobby"
        child.send_signal(signal.SIGKILL)
        await child.wait()
        started = anyio.current_time()
        bound = EXPIRY + HEARTBEAT
        leave = await expect(alice, "presence", event="leave", within=bound + 2)
        assert leave["user"]["id"] == "26"
        assert anyio.current_time() - started <= bound + 0.5
    members = (await alice.call("members", room="lobby"))["members"]
    assert [user["id"] for user in members] == [ALICE.id]
