"""The hub on its own: membership, presence timers and delivery, with no server around it."""

from __future__ import annotations

import itertools

import pytest

from chatcore import CloseCode, User
from chatcore.backends.envelope import (
    Envelope,
    RoomRemoved,
    ToRoom,
    ToRoomList,
    ToUser,
    UserChanged,
    UserKicked,
)
from chatcore.runtime.hub import Departure, Hub, Joined, Left, Session
from chatcore.runtime.outbox import Outbox
from chatcore.runtime.ratelimit import TokenBucket

GRACE = 100
_ids = itertools.count(1)


def conn(user_id: str, name: str = "") -> Session:
    return Session(
        id=next(_ids),
        user=User(id=user_id, name=name or f"user {user_id}"),
        outbox=Outbox(16),
        rate=TokenBucket(10, 10, 0),
        abuse=TokenBucket(10, 10, 0),
    )


def frames(c: Session) -> list[str]:
    out = []
    while (text := c.outbox.get_nowait()) is not None:
        out.append(text)
    return out


def test_join_says_what_it_means_for_presence() -> None:
    hub = Hub(GRACE)
    a1, a2, b = conn("a"), conn("a"), conn("b")
    for c in (a1, a2, b):
        hub.connect(c)
    assert hub.join(a1, "r") == (Joined.FIRST, True)
    assert hub.join(a1, "r") == (Joined.ALREADY, False)
    assert hub.join(a2, "r") == (Joined.ADDED, False)
    assert hub.join(b, "r") == (Joined.FIRST, False)
    assert hub.leave(a1, "r") == Left(departed=False, room_empty=False)
    assert hub.leave(a2, "r") == Left(departed=True, room_empty=False)
    assert hub.leave(a2, "r") == Left(departed=False, room_empty=False)
    assert hub.leave(b, "r") == Left(departed=True, room_empty=True)
    assert not hub.has_local("r")


def test_connect_and_disconnect_report_first_and_last_connection() -> None:
    hub = Hub(GRACE)
    a1, a2 = conn("a"), conn("a")
    assert hub.connect(a1) is True
    assert hub.connect(a2) is False
    hub.join(a1, "r")
    assert hub.disconnect(a1, now=0) == (False, ["r"])
    assert hub.disconnect(a1, now=0) == (False, [])  # twice is harmless
    assert hub.disconnect(a2, now=0) == (True, [])
    assert hub.user_conns("a") == set()


def test_disconnect_starts_a_grace_timer_and_a_rejoin_cancels_it() -> None:
    hub = Hub(GRACE)
    a1 = conn("a")
    hub.connect(a1)
    hub.join(a1, "r")
    hub.disconnect(a1, now=1000)
    assert hub.next_deadline() == 1000 + GRACE
    assert hub.due(1000 + GRACE - 1) == []
    a2 = conn("a")
    hub.connect(a2)
    assert hub.join(a2, "r") == (Joined.RESUMED, True)
    assert hub.next_deadline() is None
    assert hub.due(10_000) == []


def test_due_pops_departures_in_deadline_order_and_skips_stale_timers() -> None:
    hub = Hub(GRACE)
    a, b = conn("a"), conn("b")
    for c in (a, b):
        hub.connect(c)
        hub.join(c, "r")
    hub.disconnect(b, now=10)
    hub.disconnect(a, now=20)
    # Bob comes back and goes again: his first deadline is stale.
    b2 = conn("b")
    hub.connect(b2)
    hub.join(b2, "r")
    hub.disconnect(b2, now=50)
    assert hub.next_deadline() == 20 + GRACE
    assert hub.due(20 + GRACE) == [Departure("r", a.user)]
    assert hub.due(50 + GRACE - 1) == []
    assert hub.due(50 + GRACE) == [Departure("r", b.user)]
    assert hub.next_deadline() is None


def test_deliver_to_a_room_hands_the_same_text_to_every_connection() -> None:
    hub = Hub(GRACE)
    members = [conn("a"), conn("a"), conn("b")]
    outsider = conn("c")
    for c in [*members, outsider]:
        hub.connect(c)
    for c in members:
        hub.join(c, "r")
    text = "".join(["{", '"type":"x"', "}"])
    assert hub.deliver(Envelope(ToRoom("r"), text)) == []
    received = [c.outbox.get_nowait() for c in members]
    assert all(r is text for r in received)
    assert frames(outsider) == []


def test_deliver_to_a_room_can_exclude_one_user() -> None:
    hub = Hub(GRACE)
    a1, a2, b = conn("a"), conn("a"), conn("b")
    for c in (a1, a2, b):
        hub.connect(c)
        hub.join(c, "r")
    hub.deliver(Envelope(ToRoom("r", exclude_user="a"), "typing", ephemeral=True))
    assert (frames(a1), frames(a2), frames(b)) == ([], [], ["typing"])


def test_deliver_to_a_user_and_to_the_room_list_reaches_each_connection_once() -> None:
    hub = Hub(GRACE)
    a1, a2, watcher_member, member, other = conn("a"), conn("a"), conn("w"), conn("m"), conn("o")
    for c in (a1, a2, watcher_member, member, other):
        hub.connect(c)
    hub.watch(watcher_member, True)
    hub.join(watcher_member, "r")
    hub.join(member, "r")
    hub.deliver(Envelope(ToUser("a"), "to-a"))
    hub.deliver(Envelope(ToRoomList("r"), "list"))
    assert frames(a1) == frames(a2) == ["to-a"]
    assert frames(watcher_member) == frames(member) == ["list"]
    assert frames(other) == []
    hub.watch(watcher_member, False)
    hub.leave(watcher_member, "r")
    hub.deliver(Envelope(ToRoomList("r"), "list"))
    assert frames(watcher_member) == []


def test_room_removed_drops_members_and_pending_timers() -> None:
    hub = Hub(GRACE)
    a, b = conn("a"), conn("b")
    for c in (a, b):
        hub.connect(c)
        hub.join(c, "r")
    hub.disconnect(b, now=0)
    assert hub.deliver(Envelope(ToRoomList("r"), "gone", effect=RoomRemoved("r"))) == ["r"]
    assert frames(a) == ["gone"]
    assert not hub.in_room(a, "r")
    assert not hub.has_local("r")
    assert hub.due(10 * GRACE) == []
    assert hub.deliver(Envelope(ToRoom("r"), None, effect=RoomRemoved("r"))) == []


def test_user_changed_updates_connections_and_pending_departures() -> None:
    hub = Hub(GRACE)
    a1, a2 = conn("a", "Old"), conn("a", "Old")
    for c in (a1, a2):
        hub.connect(c)
    hub.join(a2, "r")
    hub.disconnect(a2, now=0)
    renamed = User(id="a", name="New")
    hub.deliver(Envelope(ToUser("a"), None, effect=UserChanged(renamed)))
    assert a1.user == renamed
    assert hub.due(GRACE) == [Departure("r", renamed)]


def test_user_kicked_closes_only_that_users_connections() -> None:
    hub = Hub(GRACE)
    a1, a2, b = conn("a"), conn("a"), conn("b")
    for c in (a1, a2, b):
        hub.connect(c)
    hub.deliver(Envelope(ToUser("a"), None, effect=UserKicked(CloseCode.UNAUTHORIZED)))
    assert a1.outbox.close_code is a2.outbox.close_code is CloseCode.UNAUTHORIZED
    assert b.outbox.close_code is None


def test_typing_allowed_once_per_interval_per_user_and_room() -> None:
    hub = Hub(GRACE)
    assert hub.typing_allowed("a", "r", 0, 50)
    assert not hub.typing_allowed("a", "r", 49, 50)
    assert hub.typing_allowed("a", "s", 49, 50)
    assert hub.typing_allowed("b", "r", 49, 50)
    assert hub.typing_allowed("a", "r", 50, 50)


@pytest.mark.parametrize("grace", [0, 1, 5_000])
def test_a_timer_is_due_exactly_at_its_deadline(grace: int) -> None:
    hub = Hub(grace)
    a = conn("a")
    hub.connect(a)
    hub.join(a, "r")
    hub.disconnect(a, now=7)
    if grace:
        assert hub.due(7 + grace - 1) == []
    assert hub.due(7 + grace) == [Departure("r", a.user)]
