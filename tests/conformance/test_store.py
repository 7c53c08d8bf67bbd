"""The store contract (``docs/backends.md``), for every implementation in ``STORES``.

``stores`` gives two handles on one store, as two server processes hold it; the history keeps
:data:`~tests.conformance.conftest.HISTORY_SIZE` messages a room.
"""

from __future__ import annotations

import asyncio

import anyio
import pytest

from chatcore import ChatServer
from chatcore.backends.store import Store
from chatcore.testing import LocalClient
from chatcore.wire.errors import InvalidField, NoSuchRoom, RoomExists
from chatcore.wire.values import (
    MAX_CLIENT_ID,
    MAX_ROOM_NAME,
    MAX_TEXT,
    MAX_TITLE,
    Message,
    Room,
    RoomKind,
    User,
)
from tests.conformance.conftest import HISTORY_SIZE

pytestmark = pytest.mark.anyio

ALICE = User(id="1", name="Alice", avatar="/media/a.png")
BOB = User(id="2", name="Bob")
LOBBY = Room(name="lobby", title="The lobby", owner="1")
TS = 1_764_201_600_000


async def fill(store: Store, room: str, count: int) -> list[Message]:
    return [(await store.append(room, ALICE, f"m{n}", TS + n)).message for n in range(1, count + 1)]


def ids(messages: tuple[Message, ...] | list[Message]) -> list[int]:
    return [message.id for message in messages]


async def test_a_created_room_reads_back_the_same(stores: tuple[Store, Store]) -> None:
    a, b = stores
    direct = Room(name="dm-ab", title="A & B", kind=RoomKind.DIRECT, users=("1", "2"))
    auto = Room(name="auto.room_1", title="auto.room_1", auto=True)
    for room in (LOBBY, direct, auto):
        await a.create_room(room)
        assert await b.get_room(room.name) == room
    assert await b.get_room("missing") is None


async def test_room_names_are_unique(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_room(LOBBY)
    with pytest.raises(RoomExists):
        await b.create_room(Room(name="lobby", title="Another"))
    assert await a.get_room("lobby") == LOBBY


async def test_update_room_changes_the_title(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_room(LOBBY)
    updated = await b.update_room("lobby", "New title ✓")
    assert updated == Room(name="lobby", title="New title ✓", owner="1")
    assert await a.get_room("lobby") == updated
    with pytest.raises(NoSuchRoom):
        await a.update_room("missing", "x")


async def test_delete_room_and_missing_rooms(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_room(LOBBY)
    await b.delete_room("lobby")
    assert await a.get_room("lobby") is None
    with pytest.raises(NoSuchRoom):
        await a.delete_room("lobby")
    with pytest.raises(NoSuchRoom):
        await a.append("lobby", ALICE, "hi", TS)
    with pytest.raises(NoSuchRoom):
        await a.history("lobby", limit=10)


async def test_list_rooms_shows_group_rooms_and_own_direct_rooms(
    stores: tuple[Store, Store],
) -> None:
    a, b = stores
    ab = Room(name="dm-ab", title="A & B", kind=RoomKind.DIRECT, users=("1", "2"))
    bc = Room(name="dm-bc", title="B & C", kind=RoomKind.DIRECT, users=("2", "3"))
    zoo = Room(name="zoo", title="Zoo")
    for room in (zoo, bc, LOBBY, ab):
        await a.create_room(room)
    assert await b.list_rooms("1") == [ab, LOBBY, zoo]
    assert await b.list_rooms("2") == [ab, bc, LOBBY, zoo]
    assert await b.list_rooms("4") == [LOBBY, zoo]
    await a.delete_room("dm-ab")
    assert await b.list_rooms("1") == [LOBBY, zoo]


async def test_ids_count_up_from_one_per_room(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_room(LOBBY)
    await a.create_room(Room(name="other", title="Other"))
    first = await a.append("lobby", ALICE, 'hello ✓ "quoted"\nline', TS, client_id="c1")
    assert first.created is True
    assert first.message == Message(
        id=1,
        room="lobby",
        ts=TS,
        sender=ALICE,
        text='hello ✓ "quoted"\nline',
        client_id="c1",
    )
    assert (await b.append("lobby", BOB, "two", TS + 1)).message.id == 2
    assert (await b.append("other", BOB, "one", TS + 2)).message.id == 1
    page = await a.history("lobby", limit=10)
    assert page.messages[0] == first.message
    assert ids(page.messages) == [1, 2]
    assert page.last_id == 2


async def test_concurrent_appends_from_two_processes_leave_no_gap(
    stores: tuple[Store, Store],
) -> None:
    a, b = stores
    await a.create_room(LOBBY)
    got: list[int] = []

    async def append(store: Store, n: int) -> None:
        got.append((await store.append("lobby", ALICE, f"m{n}", TS + n)).message.id)

    async with anyio.create_task_group() as group:
        for n in range(40):
            group.start_soon(append, a if n % 2 else b, n)
    assert sorted(got) == list(range(1, 41))
    assert (await a.history("lobby", limit=1)).last_id == 40


async def test_overlapping_appends_of_a_pipelined_store_take_ids_in_start_order(
    pipelined_stores: tuple[Store, Store],
) -> None:
    a, _ = pipelined_stores
    await a.create_room(LOBBY)
    loop = asyncio.get_running_loop()
    # Tasks take their first steps in the order they were made: the appends start in order.
    tasks = [loop.create_task(a.append("lobby", ALICE, f"m{n}", TS + n)) for n in range(30)]
    appended = await asyncio.gather(*tasks)
    assert [item.message.id for item in appended] == list(range(1, 31))
    assert [item.message.text for item in appended] == [f"m{n}" for n in range(30)]
    assert all(item.created and item.published for item in appended)


async def test_a_repeated_client_id_is_stored_once(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_room(LOBBY)
    first = await a.append("lobby", ALICE, "hi", TS, client_id="k")
    again = await b.append("lobby", ALICE, "hi (retry)", TS + 5, client_id="k")
    assert again.created is False
    assert again.message == first.message
    other_sender = await a.append("lobby", BOB, "hi", TS, client_id="k")
    assert other_sender.created is True
    assert other_sender.message.id == 2
    no_client_id = await a.append("lobby", ALICE, "hi", TS)
    assert no_client_id.message.id == 3
    assert (await a.history("lobby", limit=10)).last_id == 3


async def test_a_deleted_room_starts_again_at_one(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_room(LOBBY)
    await fill(a, "lobby", 3)
    await a.append("lobby", ALICE, "x", TS, client_id="k")
    await b.delete_room("lobby")
    await b.create_room(LOBBY)
    page = await a.history("lobby", limit=10)
    assert (page.messages, page.more, page.last_id) == ((), False, 0)
    again = await a.append("lobby", ALICE, "x", TS, client_id="k")
    assert (again.created, again.message.id) == (True, 1)


async def test_history_pages(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_room(LOBBY)
    empty = await b.history("lobby", limit=3)
    assert (empty.messages, empty.more, empty.last_id) == ((), False, 0)
    await fill(a, "lobby", HISTORY_SIZE)  # ids 1-5, all kept
    page = await b.history("lobby", limit=3)
    assert (ids(page.messages), page.more, page.last_id) == ([3, 4, 5], True, 5)
    page = await b.history("lobby", limit=3, before=3)
    assert (ids(page.messages), page.more) == ([1, 2], False)
    page = await b.history("lobby", limit=2, after=1, before=5)
    assert (ids(page.messages), page.more) == ([3, 4], True)
    page = await b.history("lobby", limit=10, after=2)
    assert (ids(page.messages), page.more) == ([3, 4, 5], False)
    page = await b.history("lobby", limit=10, after=5)
    assert (ids(page.messages), page.more, page.last_id) == ([], False, 5)
    page = await b.history("lobby", limit=10, after=9)
    assert (ids(page.messages), page.last_id) == ([], 5)
    page = await b.history("lobby", limit=10, before=1)
    assert (ids(page.messages), page.more) == ([], False)


async def test_history_keeps_the_newest_messages(stores: tuple[Store, Store]) -> None:
    a, b = stores
    await a.create_room(LOBBY)
    await fill(a, "lobby", HISTORY_SIZE + 3)  # ids 1-8; 4-8 are kept
    page = await b.history("lobby", limit=100)
    assert (ids(page.messages), page.last_id) == ([4, 5, 6, 7, 8], 8)
    assert [m.text for m in page.messages] == ["m4", "m5", "m6", "m7", "m8"]
    # A resume from id 1 starts at 4: the caller sees that 2 and 3 are gone.
    assert ids((await b.history("lobby", limit=100, after=1)).messages) == [4, 5, 6, 7, 8]
    assert ids((await b.history("lobby", limit=2, before=6)).messages) == [4, 5]


# Edge values: what the protocol lets through, every store keeps exactly; what some store
# cannot keep (PostgreSQL refuses NUL; the ORM's client_id column has 100 characters), the
# protocol refuses before the store, as ``invalid_field`` with the field's name.

CLEF = "\N{MUSICAL SYMBOL G CLEF}"  # outside the BMP: two UTF-16 units, four UTF-8 bytes
# Bob's id, under a name of the edge's own (the ORM suite clears site users 1 and 2 only).
EDGE_USER = User(id="2", name=f"Zoë {CLEF}", avatar="/media/ä.png")


async def test_the_longest_values_and_non_bmp_text_are_kept_exactly(
    stores: tuple[Store, Store],
) -> None:
    a, b = stores
    title = (CLEF + "t") * (MAX_TITLE // 2)
    room = Room(name="r" * MAX_ROOM_NAME, title=title, owner="2")
    await a.create_room(room)
    assert await b.get_room(room.name) == room
    longest = "é" + CLEF * (MAX_TEXT - 2) + "\u05d0"  # 4,000 characters, 15,995 bytes
    client_id = CLEF * MAX_CLIENT_ID
    first = await a.append(room.name, EDGE_USER, longest, TS, client_id=client_id)
    assert first.message.text == longest
    again = await b.append(room.name, EDGE_USER, "retry", TS + 1, client_id=client_id)
    assert (again.created, again.message) == (False, first.message)
    kept = (await b.history(room.name, limit=10)).messages
    assert kept == (first.message,)
    assert kept[0].text == longest
    assert kept[0].client_id == client_id
    renamed = await b.update_room(room.name, CLEF * MAX_TITLE)
    assert (await a.get_room(room.name)) == renamed
    assert renamed.title == CLEF * MAX_TITLE


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"type": "send", "room": "lobby", "text": "a\x00b"}, "text"),
        ({"type": "send", "room": "lobby", "text": "hi", "client_id": "k\x00"}, "client_id"),
        ({"type": "send", "room": "lobby", "text": "hi", "client_id": "k" * 101}, "client_id"),
        ({"type": "create_room", "room": "nul", "title": "a\x00b"}, "title"),
        ({"type": "create_room", "room": "long", "title": "t" * (MAX_TITLE + 1)}, "title"),
        ({"type": "update_room", "room": "lobby", "title": "\x00"}, "title"),
    ],
)
async def test_values_a_store_cannot_keep_are_refused_before_it(
    store: Store, frame: dict[str, str], field: str
) -> None:
    async with ChatServer(store=store) as server:
        alice = await LocalClient.connect(server, ALICE)
        await alice.call("create_room", room="lobby", title="The lobby")
        await alice.call("join", room="lobby")
        fields = dict(frame)
        reply = await alice.request(fields.pop("type"), **fields)
        assert (reply["type"], reply["code"], reply["field"]) == ("error", "invalid_field", field)
        assert (await alice.call("send", room="lobby", text="still works"))["id"] == 1
    assert await store.get_room("nul") is None
    assert await store.get_room("long") is None
    assert (await store.get_room("lobby")) == Room(name="lobby", title="The lobby", owner="1")
    assert [m.text for m in (await store.history("lobby", limit=10)).messages] == ["still works"]


async def test_the_application_api_refuses_the_same_values(store: Store) -> None:
    async with ChatServer(store=store) as server:
        await server.create_room("lobby", "The lobby")
        with pytest.raises(InvalidField):
            await server.post("lobby", "a\x00b", sender=ALICE)
        with pytest.raises(InvalidField):
            await server.post("lobby", "hi", sender=ALICE, client_id="k" * (MAX_CLIENT_ID + 1))
        with pytest.raises(InvalidField):
            await server.create_room("nul", "a\x00b")
        with pytest.raises(InvalidField):
            await server.update_room("lobby", "t" * (MAX_TITLE + 1))
    assert await store.get_room("nul") is None
    assert (await store.get_room("lobby")) == Room(name="lobby", title="The lobby")
    assert (await store.history("lobby", limit=10)).messages == ()
