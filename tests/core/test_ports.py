"""The runtime's shape: a connection sees the server only through ``ports.Runtime``, client
checks are made before the server acts (its own methods act with full authority), and the post
strategy is chosen once, when the server is built."""

from __future__ import annotations

import ast
import inspect
from types import ModuleType

import pytest

from chatcore import ChatServer, MemoryBroker, MemoryStore, Policy, Room, User
from chatcore.runtime import _checks, _handlers, _posting, connection
from chatcore.runtime.ports import Runtime

from .kit import lobby, running, user

pytestmark = pytest.mark.anyio

_CLIENT_SIDE = (connection, _handlers, _checks)


def _runtime_uses(module: ModuleType) -> set[str]:
    """The attributes the module reads of ``runtime`` or ``self._runtime``."""
    used: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        if (isinstance(owner, ast.Name) and owner.id == "runtime") or (
            isinstance(owner, ast.Attribute) and owner.attr == "_runtime"
        ):
            used.add(node.attr)
    return used


@pytest.mark.parametrize("module", _CLIENT_SIDE, ids=lambda m: m.__name__)
def test_the_client_side_imports_nothing_of_the_server(module: ModuleType) -> None:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not {name for name in imported if name.rsplit(".", 1)[-1] == "server"}


def test_the_client_side_uses_only_what_the_port_names() -> None:
    named = {name for name in vars(Runtime) if not name.startswith("_")}
    used = set().union(*(_runtime_uses(module) for module in _CLIENT_SIDE))
    assert used, "the walk found no use of the runtime at all"
    assert used <= named, used - named


class Nobody(Policy):
    """Refuses everything to every client."""

    async def can_create(self, user: User, name: str) -> bool:
        return False

    async def can_join(self, user: User, room: Room) -> bool:
        return False

    async def can_send(self, user: User, room: Room) -> bool:
        return False

    async def can_manage(self, user: User, room: Room) -> bool:
        return False

    async def can_message(self, sender: User, recipient: User) -> bool:
        return False


async def test_the_application_api_acts_with_full_authority() -> None:
    async with running(policy=Nobody()) as chat:
        alice, bob = user("1"), user("2")
        await chat.client("1")
        watcher = await chat.client("2")  # Bob is online, so private messages reach him
        await chat.server.create_room("lobby", owner=alice)
        appended = await chat.server.post("lobby", "from the application", sender=alice)
        assert appended.created
        await chat.server.update_room("lobby", "Renamed")
        await chat.server.delete_room("lobby")
        direct = await chat.server.direct_room(alice, bob.id)
        assert direct.users == ("1", "2")
        assert (await chat.server.direct_room(alice, bob)).name == direct.name
        event = await chat.server.send_private(alice, bob.id, "from the application")
        assert [frame["id"] for frame in watcher.events("private")] == [event.id]
        # The same acts asked by a client are refused.
        for kind, fields in [
            ("create_room", {"room": "mine"}),
            ("direct", {"to": "1"}),
            ("send_private", {"to": "1", "text": "hi"}),
            ("join", {"room": direct.name}),
        ]:
            assert (await watcher.request(kind, **fields))["code"] == "forbidden", kind


class CountingStore(MemoryStore):
    reads = 0

    @property
    def pipelined(self) -> bool:  # type: ignore[override]
        CountingStore.reads += 1
        return False


class CountingBroker(MemoryBroker):
    reads = 0

    @property
    def orders_messages(self) -> bool:  # type: ignore[override]
        CountingBroker.reads += 1
        return False


async def test_the_post_strategy_is_chosen_when_the_server_is_built() -> None:
    async with running(store=CountingStore(), broker=CountingBroker()) as chat:
        CountingStore.reads = CountingBroker.reads = 0
        (alice,) = await lobby(chat, "1")
        for index in range(3):
            await alice.call("send", room="lobby", text=f"hi {index}")
            await chat.server.post("lobby", "from the application", sender=user("2"))
        assert len(alice.events("message")) == 6
        assert (CountingStore.reads, CountingBroker.reads) == (0, 0)


@pytest.mark.parametrize(
    ("pipelined", "orders", "strategy", "overlaps"),
    [
        (True, False, _posting.StorePublishes, True),
        (True, True, _posting.StorePublishes, True),
        (False, True, _posting.AppendLocked, True),
        (False, False, _posting.WholeLocked, False),
    ],
)
def test_the_strategy_follows_what_the_backends_promise(
    pipelined: bool, orders: bool, strategy: type, overlaps: bool
) -> None:
    store, broker = MemoryStore(), MemoryBroker()
    store.pipelined = pipelined
    broker.orders_messages = orders
    chosen = _posting.choose(store, broker)
    assert type(chosen) is strategy
    assert chosen.overlaps is overlaps
    assert ChatServer(store=store, broker=broker).pipelines_sends is overlaps
