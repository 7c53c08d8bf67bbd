"""The small pure parts: values, limits, the outbox, the token bucket, the clock, the store."""

from __future__ import annotations

import anyio
import pytest

from chatcore import CloseCode, Closed, FakeClock, Limits, MemoryStore
from chatcore.runtime.outbox import Outbox
from chatcore.runtime.ratelimit import TokenBucket
from chatcore.wire.errors import InvalidField, NoSuchRoom, RoomExists
from chatcore.wire.values import (
    Message,
    Room,
    RoomKind,
    User,
    check_room_name,
    check_text,
    check_title,
    direct_room_name,
)

ALICE = User(id="1", name="Alice")

# values


@pytest.mark.parametrize("name", ["a", "0", "lobby", "a.b-c_d", "9" * 64, "x-"])
def test_valid_room_names(name: str) -> None:
    assert check_room_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "A", "a b", "-a", "_a", ".a", "a" * 65, "é", "a/b", 5, None, "a\n", "lobby!"]
)
def test_invalid_room_names(name: object) -> None:
    with pytest.raises(InvalidField) as error:
        check_room_name(name, "where")
    assert error.value.field == "where"


def test_title_and_text_are_trimmed_and_bounded() -> None:
    assert check_title("  Hi  ") == "Hi"
    assert check_title("t" * 100) == "t" * 100
    for bad in ("", "   ", "t" * 101, 3):
        with pytest.raises(InvalidField):
            check_title(bad)
    assert check_text(" hi\n") == "hi"
    assert check_text("x" * 10, max_length=10) == "x" * 10
    for bad_text in ("", " \t", "x" * 11, None):
        with pytest.raises(InvalidField):
            check_text(bad_text, max_length=10)


def test_direct_room_names_are_symmetric_distinct_and_valid() -> None:
    name = direct_room_name("1", "2")
    assert name == direct_room_name("2", "1")
    assert name.startswith("dm-")
    assert check_room_name(name) == name
    assert name != direct_room_name("1", "3")
    assert direct_room_name("1", "23") != direct_room_name("12", "3")


def test_values_check_themselves() -> None:
    with pytest.raises(ValueError, match="id"):
        User(id="", name="x")
    with pytest.raises(ValueError, match="name"):
        User(id="1", name="")
    with pytest.raises(InvalidField):
        Room(name="Bad Name", title="t")
    direct = Room(name="dm-1", title="t", kind=RoomKind.DIRECT, users=("1", "2"))
    assert direct.is_direct
    assert direct.visible_to("1")
    assert not direct.visible_to("3")
    assert Room(name="g", title="t").visible_to("3")
    message = Message(id=1, room="g", ts=2, sender=ALICE, text="t", client_id="c")
    assert "client_id" not in message.to_wire()


def test_limits_are_checked() -> None:
    assert Limits().to_wire() == {
        "max_frame": 16_384,
        "max_text": 4000,
        "rate": 10,
        "burst": 30,
        "history_page": 100,
        "typing_interval": 2000,
        "presence_limit": 200,
    }
    with pytest.raises(ValueError, match="hard_frame_cap"):
        Limits(max_frame=100, hard_frame_cap=99)
    with pytest.raises(ValueError, match="rate"):
        Limits(rate=-1)
    with pytest.raises(ValueError, match="outbox"):
        Limits(outbox=True)
    with pytest.raises(ValueError, match="at least 1"):
        Limits(outbox=0)


# outbox


def test_outbox_keeps_order_and_closes_with_the_first_code() -> None:
    box = Outbox(4)
    assert box.put("a")
    assert box.put("b", ephemeral=True)
    assert len(box) == 2
    assert (box.get_nowait(), box.get_nowait(), box.get_nowait()) == ("a", "b", None)
    box.put("c")
    box.close(CloseCode.GOING_AWAY)
    box.close(CloseCode.NORMAL)
    assert box.close_code is CloseCode.GOING_AWAY
    assert len(box) == 0
    assert box.put("d") is False
    with pytest.raises(Closed) as closed:
        box.get_nowait()
    assert closed.value.code is CloseCode.GOING_AWAY


def test_full_outbox_drops_ephemeral_first_then_closes_with_1013() -> None:
    box = Outbox(3)
    box.put("m1")
    box.put("t1", ephemeral=True)
    box.put("t2", ephemeral=True)
    assert box.put("t3", ephemeral=True) is True  # dropped on arrival; still open
    assert box.dropped == 1
    assert box.put("m2") is True  # pushes out t1, the oldest ephemeral frame
    assert box.put("m3") is True  # pushes out t2
    assert box.dropped == 3
    assert box.close_code is None
    assert [box.get_nowait() for _ in range(3)] == ["m1", "m2", "m3"]
    for text in ("m4", "m5", "m6"):
        box.put(text)
    assert box.put("m7") is False
    assert box.close_code is CloseCode.TRY_AGAIN_LATER


@pytest.mark.anyio
async def test_outbox_get_waits_for_a_frame_or_the_close() -> None:
    box = Outbox(2)
    got: list[str | CloseCode] = []

    async def reader() -> None:
        try:
            while True:
                got.append(await box.get())
        except Closed as closed:
            got.append(closed.code)

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await anyio.wait_all_tasks_blocked()
        assert got == []
        box.put("x")
        await anyio.wait_all_tasks_blocked()
        assert got == ["x"]
        box.close(CloseCode.NORMAL)
    assert got == ["x", CloseCode.NORMAL]


# token bucket


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(per_second=10, capacity=3, now=0)
    assert [bucket.take(0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(99)
    assert bucket.take(100)
    assert not bucket.take(100)
    assert [bucket.take(10_000) for _ in range(4)] == [True, True, True, False]  # capped
    assert not bucket.take(5_000)  # time going back refills nothing


# clock


@pytest.mark.anyio
async def test_fake_clock_wakes_sleepers_only_when_moved_far_enough() -> None:
    clock = FakeClock(start=1_000)
    woke: list[int] = []

    async def sleeper(deadline: int) -> None:
        await clock.sleep_until(deadline)
        woke.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper, 1_500)
        tg.start_soon(sleeper, 900)
        await anyio.wait_all_tasks_blocked()
        assert woke == [1_000]
        clock.advance(499)
        await anyio.wait_all_tasks_blocked()
        assert woke == [1_000]
        clock.advance(1)
    assert woke == [1_000, 1_500]
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


# memory store


@pytest.mark.anyio
async def test_memory_store_keeps_history_size_messages_and_pages_within_them() -> None:
    store = MemoryStore(history_size=4)
    await store.create_room(Room(name="r", title="r"))
    for n in range(1, 11):
        await store.append("r", ALICE, f"m{n}", ts=n)
    page = await store.history("r", limit=10)
    assert [m.id for m in page.messages] == [7, 8, 9, 10]
    assert (page.more, page.last_id) == (False, 10)
    assert [m.id for m in (await store.history("r", limit=2)).messages] == [9, 10]
    assert (await store.history("r", limit=2)).more is True
    assert [m.id for m in (await store.history("r", limit=10, after=2)).messages] == [7, 8, 9, 10]
    assert [m.id for m in (await store.history("r", limit=10, after=8)).messages] == [9, 10]
    assert [m.id for m in (await store.history("r", limit=10, before=8)).messages] == [7]
    assert (await store.history("r", limit=10, before=3)).messages == ()
    assert (await store.history("r", limit=10, after=12)).messages == ()
    window = await store.history("r", limit=1, after=7, before=10)
    assert ([m.id for m in window.messages], window.more) == ([9], True)


@pytest.mark.anyio
async def test_memory_store_remembers_a_bounded_number_of_client_ids() -> None:
    store = MemoryStore(client_ids=2)
    await store.create_room(Room(name="r", title="r"))
    first = await store.append("r", ALICE, "a", 0, client_id="k1")
    again = await store.append("r", ALICE, "a", 0, client_id="k1")
    assert (again.message, again.created) == (first.message, False)
    await store.append("r", ALICE, "b", 0, client_id="k2")
    await store.append("r", ALICE, "c", 0, client_id="k3")
    forgotten = await store.append("r", ALICE, "a", 0, client_id="k1")
    assert forgotten.created is True
    assert forgotten.message.id == 4


@pytest.mark.anyio
async def test_memory_store_rooms() -> None:
    store = MemoryStore()
    await store.create_room(Room(name="b", title="b"))
    await store.create_room(Room(name="dm-x", title="d", kind=RoomKind.DIRECT, users=("1", "2")))
    await store.create_room(Room(name="a", title="a"))
    with pytest.raises(RoomExists):
        await store.create_room(Room(name="a", title="again"))
    assert [r.name for r in await store.list_rooms("1")] == ["a", "b", "dm-x"]
    assert [r.name for r in await store.list_rooms("3")] == ["a", "b"]
    assert (await store.update_room("a", "A")).title == "A"
    await store.delete_room("a")
    assert await store.get_room("a") is None
    for call in (store.delete_room("a"), store.update_room("a", "t"), store.history("a", limit=1)):
        with pytest.raises(NoSuchRoom):
            await call
