"""KeyedLock: one holder per key, in arrival order; cancellation never loses or leaks the key."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from chatcore.runtime._queue_lock import KeyedLock

pytestmark = pytest.mark.anyio


async def test_holders_of_one_key_take_turns_in_arrival_order() -> None:
    lock, order, arrivals = KeyedLock(), [], []

    async def hold(name: str) -> None:
        arrivals.append(name)  # trio starts tasks in no promised order
        await lock.acquire("room")
        try:
            order.append(f"{name} in")
            await anyio.lowlevel.checkpoint()
            order.append(f"{name} out")
        finally:
            lock.release("room")

    async with anyio.create_task_group() as tg:
        for name in "abc":
            tg.start_soon(hold, name)
    assert order == [f"{name} {step}" for name in arrivals for step in ("in", "out")]
    assert sorted(arrivals) == ["a", "b", "c"]
    assert not lock.locked("room")


async def test_other_keys_do_not_wait() -> None:
    lock = KeyedLock()
    await lock.acquire("one")
    with anyio.fail_after(1):
        await lock.acquire("two")
    assert lock.locked("one")
    assert lock.locked("two")
    lock.release("one")
    lock.release("two")
    assert not lock.locked("one")
    assert not lock.locked("two")


async def test_a_waiter_cancelled_before_its_turn_leaves_the_line() -> None:
    lock = KeyedLock()
    await lock.acquire("room")
    async with anyio.create_task_group() as tg:
        tg.start_soon(lock.acquire, "room")
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    lock.release("room")
    assert not lock.locked("room")


async def test_a_waiter_cancelled_as_it_is_handed_the_key_hands_it_on() -> None:
    lock, got = KeyedLock(), []
    await lock.acquire("room")
    first_scope = anyio.CancelScope()

    async def first() -> None:
        with first_scope:
            await lock.acquire("room")
            got.append("first")
            lock.release("room")

    async def second() -> None:
        await lock.acquire("room")
        got.append("second")
        lock.release("room")

    with anyio.fail_after(5):  # a lost key would leave the second waiter waiting forever
        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(second)
            await anyio.wait_all_tasks_blocked()
            first_scope.cancel()  # the first waiter is cancelled...
            lock.release("room")  # ...and handed the key before it runs again
    assert first_scope.cancelled_caught
    assert got == ["second"]
    assert not lock.locked("room")
