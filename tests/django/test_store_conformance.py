"""The shared store conformance suites (``tests/conformance/test_store.py``, and
``test_store_log.py`` for the room event log and read marks, ``test_store_moderation.py`` for
moderation), on the ORM store.

It needs Django set up, which this directory's conftest does, so it runs from here rather than
from ``tests/conformance/backends.py``. Each test starts from empty tables, as the suite's fixed
room names and user ids require.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from chatcore.backends.store import Store
from chatcore_django.models import Block, Room
from chatcore_django.store import OrmStore
from tests.conformance import test_store as suite
from tests.conformance import test_store_log as log_suite
from tests.conformance import test_store_moderation as moderation_suite
from tests.conformance.conftest import HISTORY_SIZE

pytestmark = pytest.mark.anyio

# Every test of the suite but those for pipelined stores: the ORM store's appends do not overlap.
globals().update(
    {
        name: test
        for module in (suite, log_suite, moderation_suite)
        for name, test in vars(module).items()
        if name.startswith("test_") and "pipelined_stores" not in inspect.signature(test).parameters
    }
)


def _empty_tables() -> None:
    Room.objects.all().delete()
    Block.objects.all().delete()
    # The suite's senders are users "1" and "2": no site user may stand in for them.
    get_user_model().objects.filter(pk__in=[1, 2]).delete()


@pytest.fixture
async def stores() -> AsyncIterator[tuple[Store, Store]]:
    await database_sync_to_async(_empty_tables)()
    store = OrmStore(history_size=HISTORY_SIZE)
    yield store, store
    await database_sync_to_async(_empty_tables)()


@pytest.fixture
def store(stores: tuple[Store, Store]) -> Store:
    return stores[0]
