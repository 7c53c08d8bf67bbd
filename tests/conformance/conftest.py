"""Fixtures of the conformance suite: each test runs once per implementation.

The implementations are listed in :mod:`tests.conformance.backends` (``BROKERS``, ``STORES``);
see that module for how to add one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatcore.backends.store import Store
from tests.conformance.backends import (
    BROKERS,
    CLUSTER,
    LOSSY,
    MORTAL,
    NETWORK,
    PIPELINED,
    STORES,
    Cluster,
)

HISTORY_SIZE = 5


def implementations(names: list[str]) -> list[object]:
    return [
        pytest.param(
            name,
            marks=[pytest.mark.network] * (name in NETWORK)
            + [pytest.mark.cluster] * (name in CLUSTER),
        )
        for name in sorted(names)
    ]


@pytest.fixture(params=implementations(list(BROKERS)))
async def cluster(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    async with BROKERS[request.param]() as cluster:
        yield cluster


@pytest.fixture(params=implementations(sorted(MORTAL & set(BROKERS))))
async def mortal_cluster(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    """Two processes of a broker whose processes can die without clean-up."""
    async with BROKERS[request.param]() as cluster:
        assert cluster.kill is not None
        yield cluster


@pytest.fixture(params=implementations(sorted(LOSSY & set(BROKERS))))
async def lossy_cluster(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    """Two processes of a broker whose link can break (``Cluster.cut``)."""
    async with BROKERS[request.param]() as cluster:
        assert cluster.cut is not None
        yield cluster


@pytest.fixture(params=implementations(list(STORES)))
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Store, Store]]:
    """Two handles on one store, as two processes hold it; history keeps ``HISTORY_SIZE``."""
    async with STORES[request.param](HISTORY_SIZE) as pair:
        yield pair


@pytest.fixture(params=implementations(sorted(PIPELINED & set(STORES))))
async def pipelined_stores(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Store, Store]]:
    """Two handles on a store whose appends may overlap (``Store.pipelined``)."""
    async with STORES[request.param](HISTORY_SIZE) as pair:
        assert all(store.pipelined for store in pair)
        yield pair


@pytest.fixture
def store(stores: tuple[Store, Store]) -> Store:
    return stores[0]
