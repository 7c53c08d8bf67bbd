"""Large rooms on the PostgreSQL broker beyond the conformance suite: a join storm goes in
batches, each join and leave answered with its own count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from chatcore.backends.presence import PresenceChange
from chatcore.wire.values import User
from tests.postgres.test_broker import one_broker

pytestmark = [pytest.mark.anyio, pytest.mark.network]


async def test_a_join_storm_costs_one_call_per_room_per_round_trip() -> None:
    async with one_broker() as (broker, _):
        batches: list[int] = []
        apply = broker._batches._apply

        async def counting(room: str, ops: Sequence[Any]) -> list[PresenceChange]:
            batches.append(len(ops))
            return await apply(room, ops)

        broker._batches._apply = counting
        users = [User(id=f"s{i}", name=f"Storm {i}") for i in range(200)]
        answers: list[PresenceChange] = []

        async def enter(user: User) -> None:
            answers.append(await broker.enter("storm", user))

        async with anyio.create_task_group() as group:
            for user in users:
                group.start_soon(enter, user)
        assert sum(batches) == 200
        assert len(batches) <= 5, batches  # not one per join
        assert sorted(answer.count for answer in answers) == list(range(1, 201))
        page = await broker.members_page("storm", None, 100)
        assert page.count == 200
        assert [user.name for user in page.members[:3]] == ["Storm 0", "Storm 1", "Storm 10"]
        # Leaves and joins of one batch are answered in order.
        async with anyio.create_task_group() as group:
            group.start_soon(broker.exit, "storm", "s0")
            group.start_soon(broker.enter, "storm", users[0])
        assert (await broker.counts(["storm"])) == {"storm": 200}


async def test_a_room_nobody_is_in_is_forgotten_by_a_heartbeat() -> None:
    async with one_broker() as (broker, _):
        await broker.enter("hall", User(id="1", name="A"))
        await broker.exit("hall", "1")
        table = f"{broker.prefix}rooms"
        with anyio.fail_after(5):
            while True:
                if not await broker._link.value(f"SELECT count(*) FROM {table}"):
                    break
                await anyio.sleep(0.05)  # the next heartbeat (every 0.1 s): no event tells
        assert await broker.enter("hall", User(id="1", name="A")) == PresenceChange(True, 1)
