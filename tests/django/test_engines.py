"""Choosing the broker in ``CHATCORE``: memory, Redis, or PostgreSQL on the site's database."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from chatcore import MemoryBroker
from chatcore.postgres import PostgresBroker
from chatcore.redis import RedisBroker
from chatcore.wire.errors import UsageError
from chatcore_django.conf import chat_settings
from chatcore_django.engines import conninfo
from chatcore_django.runtime import build_server


def chatcore(**keys: Any) -> Any:
    return override_settings(CHATCORE={**settings.CHATCORE, "REDIS_URL": None, **keys})


def test_the_broker_follows_the_settings() -> None:
    with chatcore():
        assert isinstance(build_server().broker, MemoryBroker)
    with chatcore(REDIS_URL="redis://127.0.0.1:6379/0"):
        assert isinstance(build_server().broker, RedisBroker)
    url = "postgres://chat@db.example/site"
    with chatcore(BROKER="postgres", POSTGRES_URL=url, POSTGRES_PREFIX="board_"):
        broker = build_server().broker
        assert isinstance(broker, PostgresBroker)
        assert (broker.url, broker.prefix) == (url, "board_")


def test_wrong_broker_settings_say_what_is_wrong() -> None:
    for keys, wrong in (({"BROKER": "kafka"}, "BROKER"), ({"BROKER": "redis"}, "REDIS_URL")):
        with chatcore(**keys), pytest.raises(ImproperlyConfigured, match=wrong):
            build_server()
    bad_prefix = {"BROKER": "postgres", "POSTGRES_URL": "postgres://x/y", "POSTGRES_PREFIX": "a-b"}
    with chatcore(**bad_prefix), pytest.raises(UsageError, match="prefix"):
        build_server()


def test_the_site_database_gives_the_broker_its_connection() -> None:
    database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "board",
        "USER": "chat",
        "PASSWORD": "s3cret",
        "HOST": "db.example",
        "PORT": "6432",
        "OPTIONS": {"sslmode": "require", "isolation_level": 1},
    }
    assert sorted(conninfo(database).split()) == sorted(
        [
            "dbname=board",
            "user=chat",
            "password=s3cret",
            "host=db.example",
            "port=6432",
            "sslmode=require",
        ]
    )
    with pytest.raises(ImproperlyConfigured, match="PostgreSQL"):
        conninfo({"ENGINE": "django.db.backends.sqlite3", "NAME": "x"})


def test_a_sqlite_site_cannot_use_the_postgres_broker_without_a_url() -> None:
    if "sqlite" not in settings.DATABASES["default"]["ENGINE"]:
        pytest.skip("the suite runs on PostgreSQL")
    with chatcore(BROKER="postgres"), pytest.raises(ImproperlyConfigured, match="POSTGRES_URL"):
        build_server()
    assert chat_settings().broker == "memory"
