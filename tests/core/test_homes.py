"""Each shared name and default has one home, which every other part reads."""

from __future__ import annotations

import re

import pytest

from chatcore import Limits, MemoryStore
from chatcore.backends.envelope import ToRoomList
from chatcore.wire.errors import InvalidField
from chatcore.wire.values import (
    DIRECT_PREFIX,
    ROOM_LIST_CHANNEL,
    ROOM_NAME_PATTERN,
    check_room_name,
    direct_room_name,
)


@pytest.mark.parametrize(
    "name", ["a", "lobby", "a.b-c_d", "9" * 64, "9" * 65, "-a", "A", "a b", "é", "a/b", ""]
)
def test_the_room_name_pattern_admits_exactly_the_room_names(name: str) -> None:
    try:
        check_room_name(name)
    except InvalidField:
        valid = False
    else:
        valid = True
    assert (re.fullmatch(ROOM_NAME_PATTERN, name) is not None) is valid


def test_direct_rooms_are_named_with_the_direct_prefix() -> None:
    assert direct_room_name("1", "2").startswith(DIRECT_PREFIX)


def test_room_list_changes_go_to_the_room_list_channel() -> None:
    assert ToRoomList("lobby").channel == ROOM_LIST_CHANNEL


def test_the_memory_store_keeps_what_the_limits_say_by_default() -> None:
    store, limits = MemoryStore(), Limits()
    assert (store.history_size, store.history_bytes) == (limits.history_size, limits.history_bytes)
