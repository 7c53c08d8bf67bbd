"""The one Redis connection over TLS and a Unix socket, against real redis-servers.

Every other Redis test runs over TCP; the connection is the same code for all three, but for
how it opens (``_wire.Endpoint``). Here two chat servers talk through a TLS-only Redis and a
socket-only Redis, and a certificate that cannot be checked is refused.
"""

from __future__ import annotations

import pytest

from chatcore.redis import RedisBroker
from chatcore.testing import LocalClient
from chatcore.wire.errors import Unavailable
from tests.conformance.backends import Process
from tests.redis.stack import ALICE, BOB, expect, redis_cluster
from tests.redis.support import throwaway_redis, unique_prefix

pytestmark = [pytest.mark.anyio, pytest.mark.network]


@pytest.mark.parametrize("listen", ["tls", "unix"])
async def test_two_servers_chat_through(listen: str) -> None:
    async with throwaway_redis(listen) as redis, redis_cluster(redis.url, unique_prefix()) as c:
        assert c.broker(c.a).url.startswith("rediss://" if listen == "tls" else "unix://")
        alice = await LocalClient.connect(c.a, ALICE)
        bob = await LocalClient.connect(c.b, BOB)
        await alice.call("create_room", room="lobby")
        await alice.call("join", room="lobby")
        await bob.call("join", room="lobby")
        await expect(alice, "presence", event="join", user=BOB.to_wire())
        assert (await alice.call("send", room="lobby", text="hi", client_id="c"))["id"] == 1
        assert (await alice.call("send", room="lobby", text="hi", client_id="c"))["id"] == 1
        for client in (alice, bob):
            assert (await expect(client, "message"))["text"] == "hi"
        assert len((await bob.call("members", room="lobby"))["members"]) == 2
        history = await bob.call("history", room="lobby")
        assert [m["text"] for m in history["messages"]] == ["hi"]
        with pytest.raises(Exception, match="recipient_unavailable"):
            await bob.call("send_private", to="3", text="x")
        await bob.call("send_private", to=ALICE.id, text="psst")
        assert (await expect(alice, "private"))["text"] == "psst"


async def test_a_server_certificate_that_cannot_be_checked_is_refused() -> None:
    async with throwaway_redis("tls") as redis:
        # Without the CA, redis-py's default (ssl_cert_reqs=required) refuses the server.
        untrusting = redis.url.split("?")[0]
        broker = RedisBroker(untrusting, prefix=unique_prefix(), timeout=2)
        with pytest.raises(ExceptionGroup) as raised:
            await Process(broker).run(task_status=_Ignored())
        (error,) = raised.value.exceptions
        assert isinstance(error, Unavailable)
        assert "CERTIFICATE_VERIFY_FAILED" in repr(error.__cause__)


class _Ignored:
    def started(self, value: object = None) -> None:
        raise AssertionError("the broker started without a trusted certificate")
