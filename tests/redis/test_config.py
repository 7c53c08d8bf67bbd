"""Configuration errors of the Redis backends (no Redis needed)."""

from __future__ import annotations

import pytest

from chatcore.redis import URL_VARIABLE, RedisBroker, RedisStore
from chatcore.wire.errors import UsageError


def test_the_url_comes_from_the_argument_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    with pytest.raises(UsageError, match=URL_VARIABLE):
        RedisBroker()
    with pytest.raises(UsageError, match=URL_VARIABLE):
        RedisStore()
    monkeypatch.setenv(URL_VARIABLE, "redis://redis.example:6380/2")
    assert RedisBroker().url == "redis://redis.example:6380/2"
    assert RedisStore().url == "redis://redis.example:6380/2"
    assert RedisBroker("redis://other:6379/0").url == "redis://other:6379/0"


def test_the_store_takes_the_url_of_its_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    broker = RedisBroker("redis://shared:6379/1")
    assert RedisStore(broker=broker).url == "redis://shared:6379/1"


@pytest.mark.parametrize(("expiry", "heartbeat"), [(1.0, 1.0), (1.0, 0.0), (1.0, 2.0)])
def test_the_heartbeat_is_shorter_than_the_expiry(expiry: float, heartbeat: float) -> None:
    with pytest.raises(UsageError, match="heartbeat"):
        RedisBroker("redis://localhost", expiry=expiry, heartbeat=heartbeat)


def test_the_default_bound_for_dead_processes_is_at_most_30_seconds() -> None:
    broker = RedisBroker("redis://localhost")
    assert broker.expiry + broker.heartbeat <= 30


def test_history_size_is_positive() -> None:
    with pytest.raises(UsageError, match="history_size"):
        RedisStore("redis://localhost", history_size=0)
