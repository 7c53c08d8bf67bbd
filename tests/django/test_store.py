"""The ORM store against the store contract, in the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import secrets
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from chatcore import Room, RoomKind, User
from chatcore.wire.errors import NoSuchRoom, RoomExists
from chatcore.wire.values import DIRECT_PREFIX
from chatcore_django import models
from chatcore_django.store import OrmStore

pytestmark = pytest.mark.anyio

ALICE = User(id="9001", name="Alice", avatar=None)
BOB = User(id="9002", name="Bob", avatar="/media/avatars/b.png")


def fresh(prefix: str = "r") -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


async def test_rooms_are_created_read_renamed_listed_and_deleted() -> None:
    store = OrmStore()
    name = fresh()
    await store.create_room(Room(name=name, title="First", owner=ALICE.id))
    with pytest.raises(RoomExists):
        await store.create_room(Room(name=name, title="Again"))
    assert await store.get_room(name) == Room(name=name, title="First", owner=ALICE.id)
    assert (await store.update_room(name, "Renamed")).title == "Renamed"
    assert name in [room.name for room in await store.list_rooms(BOB.id)]
    await store.delete_room(name)
    assert await store.get_room(name) is None
    with pytest.raises(NoSuchRoom):
        await store.delete_room(name)
    with pytest.raises(NoSuchRoom):
        await store.update_room(name, "x")


async def test_direct_rooms_are_listed_for_their_two_users_only() -> None:
    store = OrmStore()
    name = fresh("dm")
    room = Room(name=name, title="A & B", kind=RoomKind.DIRECT, users=(ALICE.id, BOB.id))
    await store.create_room(room)
    assert await store.get_room(name) == room
    assert name in [r.name for r in await store.list_rooms(ALICE.id)]
    assert name in [r.name for r in await store.list_rooms(BOB.id)]
    assert name not in [r.name for r in await store.list_rooms("9003")]


async def test_append_numbers_messages_and_repeated_client_ids_are_not_stored_twice() -> None:
    store = OrmStore()
    name = fresh()
    await store.create_room(Room(name=name, title=name))
    first = await store.append(name, ALICE, "one", 1000, client_id="c1")
    second = await store.append(name, BOB, "two", 1001, client_id="c1")  # another sender
    again = await store.append(name, ALICE, "one, again", 1002, client_id="c1")
    assert (first.message.id, first.created) == (1, True)
    assert (second.message.id, second.created) == (2, True)
    assert (again.message.id, again.created, again.message.text) == (1, False, "one")
    page = await store.history(name, limit=10)
    assert [m.id for m in page.messages] == [1, 2]
    assert page.last_id == 2
    assert page.messages[1].sender == BOB
    with pytest.raises(NoSuchRoom):
        await store.append(fresh(), ALICE, "nowhere", 1)


async def test_a_sender_name_or_avatar_the_columns_cannot_hold_does_not_fail_the_post() -> None:
    # The name and avatar columns keep a copy for senders the site no longer knows; an app's
    # user hook may give longer names (first + last name) or a NUL, which PostgreSQL refuses.
    store = OrmStore()
    name = fresh()
    await store.create_room(Room(name=name, title=name))
    long_name = "N\x00" + "n" * 300
    carol = User(id="9003", name=long_name, avatar="/media/" + "a" * 600)
    appended = await store.append(name, carol, "hello", 1000)
    assert appended.message.sender == carol  # the live message carries the user as given
    (row,) = await _rows(name)
    assert row.sender_name == ("N" + "n" * 300)[:200]
    assert row.sender_avatar == ""  # a link cut short would point elsewhere


async def _rows(room: str) -> list[Any]:
    """The stored rows of ``room``'s messages."""
    from chatcore_django.models import Message

    def read() -> list[Any]:
        return list(Message.objects.filter(room__name=room))

    return await sync_to_async(read)()


async def test_history_pages_and_a_recreated_room_starts_at_one() -> None:
    store = OrmStore()
    name = fresh()
    await store.create_room(Room(name=name, title=name))
    for n in range(1, 8):
        await store.append(name, ALICE, f"m{n}", n)
    newest = await store.history(name, limit=3)
    assert [m.id for m in newest.messages] == [5, 6, 7]
    assert newest.more
    older = await store.history(name, limit=3, before=5)
    assert [m.id for m in older.messages] == [2, 3, 4]
    assert older.more
    oldest = await store.history(name, limit=3, before=2)
    assert ([m.id for m in oldest.messages], oldest.more) == ([1], False)
    resumed = await store.history(name, limit=10, after=5)
    assert ([m.id for m in resumed.messages], resumed.more, resumed.last_id) == ([6, 7], False, 7)
    await store.delete_room(name)
    await store.create_room(Room(name=name, title=name))
    assert (await store.append(name, ALICE, "again", 9)).message.id == 1


async def test_history_size_drops_the_oldest_messages() -> None:
    store = OrmStore(history_size=10)
    name = fresh()
    await store.create_room(Room(name=name, title=name))
    for n in range(1, 26):
        await store.append(name, ALICE, f"m{n}", n)
    page = await store.history(name, limit=100)
    assert [m.id for m in page.messages] == list(range(16, 26))
    assert page.last_id == 25


def test_concurrent_appends_get_ids_without_gaps_or_repeats() -> None:
    """Threads with their own database connections append to one room at once."""
    from asgiref.sync import async_to_sync
    from django.db import connection

    store = OrmStore()
    name = fresh()
    async_to_sync(store.create_room)(Room(name=name, title=name))
    ids: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        try:
            start.wait()
            for k in range(15):
                user = User(id=str(n), name=f"w{n}")
                ids.append(store._append(name, user, f"{n}-{k}", k, f"{n}-{k}").message.id)
                # The same client_id again, concurrently with the others: never a second row.
                assert not store._append(name, user, "dup", k, f"{n}-{k}").created
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(ids) == list(range(1, 61))


def test_a_room_row_is_the_chat_room_it_stores() -> None:
    assert models.DIRECT_PREFIX is DIRECT_PREFIX
    direct = models.Room(name="dm-x", title="A & B", kind="direct", user_a="1", user_b="2")
    assert direct.chat_room() == Room(
        name="dm-x", title="A & B", kind=RoomKind.DIRECT, users=("1", "2")
    )
    assert direct.chat_room().visible_to("2")
    assert not direct.chat_room().visible_to("3")
    group = models.Room(name="lobby", title="Lobby", owner="1", auto=True)
    assert group.chat_room() == Room(name="lobby", title="Lobby", owner="1", auto=True)
