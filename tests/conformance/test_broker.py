"""The broker contract (``docs/backends.md``), for every implementation in ``BROKERS``.

Each test drives two brokers on one backend, as two server processes would use them.
"""

from __future__ import annotations

import json

import anyio
import pytest

from chatcore.backends.broker import Broker
from chatcore.backends.envelope import (
    Departed,
    Envelope,
    LinkLost,
    LinkRestored,
    Moderated,
    RoomRemoved,
    ToRoom,
    ToRoomList,
    ToUser,
    ToWatchers,
    UserChanged,
    UserKicked,
)
from chatcore.backends.presence import Claim, MembersPage, PresenceChange
from chatcore.wire.errors import CloseCode
from chatcore.wire.values import Message, User
from tests.conformance.backends import Cluster, Process

pytestmark = pytest.mark.anyio

ALICE = User(id="1", name="Alice", avatar="/a.png")
BOB = User(id="2", name="Bob")


async def settle(process: Process) -> None:
    """Publish a marker on ``rooms`` from ``process`` and wait until it came back."""
    before = len(process.received)
    marker = Envelope(ToRoomList("zz-marker"), f'{{"marker":{before}}}')
    await process.broker.publish(marker)
    await process.wait_for(before + 1)


async def test_publish_reaches_every_subscribed_process_the_publisher_included(
    cluster: Cluster,
) -> None:
    a, b = cluster.a, cluster.b
    await a.broker.subscribe("room:lobby")
    await b.broker.subscribe("room:lobby")
    envelope = Envelope(ToRoom("lobby"), '{"type":"message","text":"hi"}')
    await a.broker.publish(envelope)
    assert await a.wait_for(1) == [envelope]
    assert await b.wait_for(1) == [envelope]


async def test_unsubscribed_and_other_channels_get_nothing(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    for process in (a, b):
        await process.broker.subscribe("rooms")
    await a.broker.subscribe("room:lobby")
    await b.broker.subscribe("room:lobby")
    await b.broker.unsubscribe("room:lobby")
    await b.broker.subscribe("user:2")
    await a.broker.publish(Envelope(ToRoom("lobby"), '{"n":1}'))
    await a.broker.publish(Envelope(ToUser("1"), '{"n":2}'))
    await a.broker.publish(Envelope(ToRoomList("x"), '{"n":3}'))
    # Redis hands one connection its messages in publish order, so once b has the last one
    # it would have had the others (on one server; a cluster's channels of other shards come
    # on other connections, in no order between them).
    assert [e.frame for e in await b.wait_for(1)] == ['{"n":3}']
    assert sorted(str(e.frame) for e in await a.wait_for(2)) == ['{"n":1}', '{"n":3}']
    await settle(b)
    assert [e.frame for e in b.received][:1] == ['{"n":3}']
    assert not [e for e in b.received if e.frame in ('{"n":1}', '{"n":2}')]


async def test_a_channel_subscribed_twice_delivers_once(cluster: Cluster) -> None:
    a = cluster.a
    await a.broker.subscribe("room:lobby")
    await a.broker.subscribe("room:lobby")
    await a.broker.subscribe("rooms")
    await a.broker.publish(Envelope(ToRoom("lobby"), '{"n":1}'))
    # A second message on the same channel comes after any copy of the first (a channel keeps
    # its order; a marker on another channel would not tell, on a cluster's other shard).
    await a.broker.publish(Envelope(ToRoom("lobby"), '{"n":2}'))
    with anyio.fail_after(5):
        while '{"n":2}' not in [e.frame for e in a.received]:
            await a.wait_for(len(a.received) + 1)
    assert [e.frame for e in a.received] == ['{"n":1}', '{"n":2}']


@pytest.mark.parametrize(
    "envelope",
    [
        Envelope(ToRoom("lobby"), '{"type":"message","text":"h\\u00e9 \\"q\\" ✓"}'),
        Envelope(ToRoom("lobby", exclude_user="7"), '{"type":"typing"}', ephemeral=True),
        Envelope(ToUser("u:1 \n x"), '{"type":"private"}'),
        Envelope(ToUser("9"), None, effect=UserKicked(CloseCode.UNAUTHORIZED)),
        Envelope(ToUser("9"), None, effect=UserChanged(User(id="9", name="N ✓", avatar=None))),
        Envelope(ToRoomList("lobby"), '{"type":"room"}', effect=RoomRemoved("lobby")),
        Envelope(ToRoom("lobby"), None, effect=RoomRemoved("lobby")),
        Envelope(ToRoom("lobby"), None, effect=Departed("lobby")),
        Envelope(ToUser("9"), '{"type":"kicked"}', effect=Moderated("lobby", "ban")),
        Envelope(ToUser("9"), '{"type":"moderation"}', effect=Moderated("lobby", "mute", 17)),
        Envelope.message(
            Message(id=7, room="lobby", ts=1, sender=User(id="1", name="A"), text="7 ]")
        ),
        # A change's version travels (the gap fill after an outage reads it).
        Envelope(ToRoom("lobby"), '{"type":"message_changed"}', version=(7, 3)),
    ],
)
async def test_envelopes_arrive_unchanged(cluster: Cluster, envelope: Envelope) -> None:
    a, b = cluster.a, cluster.b
    await b.broker.subscribe(envelope.target.channel)
    await a.broker.publish(envelope)
    assert await b.wait_for(1) == [envelope]


async def test_every_process_sees_one_channel_in_the_same_order(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    await a.broker.subscribe("room:lobby")
    await b.broker.subscribe("room:lobby")

    async def publish(process: Process, name: str) -> None:
        for n in range(30):
            await process.broker.publish(Envelope(ToRoom("lobby"), json.dumps([name, n])))

    async with anyio.create_task_group() as group:
        group.start_soon(publish, a, "a")
        group.start_soon(publish, b, "b")
    seen_a = [json.loads(e.frame or "") for e in await a.wait_for(60)]
    seen_b = [json.loads(e.frame or "") for e in await b.wait_for(60)]
    assert seen_a == seen_b
    for name in ("a", "b"):
        assert [n for who, n in seen_a if who == name] == list(range(30))


async def test_presence_is_per_user_across_processes(cluster: Cluster) -> None:
    a, b = cluster.a.broker, cluster.b.broker
    assert await a.join("lobby", ALICE) is True
    assert await b.join("lobby", ALICE) is False  # the same user in a second process
    assert await b.join("lobby", BOB) is True
    assert sorted(await a.members("lobby"), key=lambda u: u.id) == [ALICE, BOB]
    assert await b.counts(["lobby", "empty"]) == {"lobby": 2, "empty": 0}
    assert await a.leave("lobby", ALICE.id) is False  # b still holds Alice
    assert sorted(await b.members("lobby"), key=lambda u: u.id) == [ALICE, BOB]
    assert await b.leave("lobby", ALICE.id) is True
    assert await a.members("lobby") == [BOB]
    assert await a.leave("lobby", ALICE.id) is False  # not present any more
    assert await b.leave("lobby", BOB.id) is True
    assert await a.members("lobby") == []
    assert await a.counts(["lobby"]) == {"lobby": 0}


async def test_leaving_a_room_one_never_joined_changes_nothing(cluster: Cluster) -> None:
    a, b = cluster.a.broker, cluster.b.broker
    await a.join("lobby", ALICE)
    assert await b.leave("lobby", ALICE.id) is False
    assert await b.leave("nowhere", ALICE.id) is False
    assert await b.members("lobby") == [ALICE]


async def test_counts_of_no_rooms(cluster: Cluster) -> None:
    assert await cluster.a.broker.counts([]) == {}


async def test_clear_forgets_every_process_entry(cluster: Cluster) -> None:
    a, b = cluster.a.broker, cluster.b.broker
    await a.join("lobby", ALICE)
    await b.join("lobby", BOB)
    await b.join("other", BOB)
    await a.clear("lobby")
    assert await b.members("lobby") == []
    assert await a.counts(["lobby", "other"]) == {"lobby": 0, "other": 1}
    assert await b.update_user(BOB) == ["other"]
    assert await b.join("lobby", ALICE) is True


async def test_update_user_shows_the_new_name_and_lists_the_rooms(cluster: Cluster) -> None:
    a, b = cluster.a.broker, cluster.b.broker
    await a.join("lobby", ALICE)
    await b.join("games", ALICE)
    await b.join("other", BOB)
    renamed = User(id=ALICE.id, name="Alicia", avatar=None)
    assert sorted(await b.update_user(renamed)) == ["games", "lobby"]
    assert await a.members("lobby") == [renamed]
    assert await b.members("games") == [renamed]
    assert await a.update_user(User(id="nobody", name="N")) == []


async def test_online_while_any_process_holds_a_connection(cluster: Cluster) -> None:
    a, b = cluster.a.broker, cluster.b.broker
    assert await b.is_online(ALICE.id) is False
    await a.connect(ALICE)
    await b.connect(ALICE)
    assert await b.is_online(ALICE.id) is True
    await a.disconnect(ALICE.id)
    assert await a.is_online(ALICE.id) is True
    await b.disconnect(ALICE.id)
    assert await a.is_online(ALICE.id) is False
    await b.disconnect(ALICE.id)  # twice is harmless
    assert await a.is_online(ALICE.id) is False


async def test_a_dead_process_users_leave_once_within_the_bound(mortal_cluster: Cluster) -> None:
    cluster = mortal_cluster
    assert cluster.kill is not None
    a, b = cluster.a, cluster.b
    await b.broker.subscribe("room:lobby")
    await a.broker.connect(ALICE)
    await a.broker.join("lobby", ALICE)
    await a.broker.join("lobby", BOB)
    await b.broker.join("lobby", BOB)  # Bob stays through b
    await cluster.kill(a)
    started = anyio.current_time()
    leave = {"type": "presence", "room": "lobby", "event": "leave", "user": ALICE.to_wire()}
    # The bound, plus slack for a loaded test machine: the announcing process's own Departed
    # notice (b is the only one left to announce) with the users who left, for its server to
    # announce (a leave each, or a count in a large room); or, from a broker that publishes
    # the leaves itself, the published leave and a Departed without users.
    departed = Envelope(ToRoom("lobby"), None, effect=Departed("lobby", (ALICE,)))
    await b.wait_for(1, within=cluster.bound + 1)
    assert anyio.current_time() - started <= cluster.bound + 0.5
    if b.received[0] != departed:
        await b.wait_for(2, within=1)
    frames = [json.loads(e.frame) for e in b.received if e.frame]
    notices = [e for e in b.received if e.frame is None]
    assert (frames, notices) in (
        ([], [departed]),
        ([leave], [Envelope(ToRoom("lobby"), None, effect=Departed("lobby"))]),
    )
    assert await b.broker.members("lobby") == [BOB]
    assert await b.broker.is_online(ALICE.id) is False
    # Later heartbeats announce nothing more: nothing else may arrive meanwhile.
    seen = len(b.received)
    await anyio.sleep(cluster.bound * 2)
    assert len(b.received) == seen


async def test_a_dead_process_users_go_offline_for_watchers_within_the_bound(
    mortal_cluster: Cluster,
) -> None:
    cluster = mortal_cluster
    assert cluster.kill is not None
    a, b = cluster.a, cluster.b
    for user in (ALICE, BOB):
        await b.broker.subscribe(ToWatchers(user.id).channel)
    assert await a.broker.come_online(ALICE) is True
    assert await a.broker.come_online(BOB) is True
    assert await b.broker.come_online(BOB) is False  # Bob stays online through b
    await cluster.kill(a)
    # The process that finds a dead tells the watchers of the users it alone held (no grace:
    # the expiry has passed), once.
    assert await b.wait_for(1, within=cluster.bound + 1) == [Envelope.status(ALICE.id, False)]
    assert await b.broker.online([ALICE.id, BOB.id]) == [BOB.id]
    await anyio.sleep(cluster.bound * 2)
    assert len(b.received) == 1


# Large rooms and online status (chatcore.backends.presence)


def _named(user_id: str, name: str) -> User:
    return User(id=user_id, name=name)


async def test_enter_and_exit_count_users_across_processes(cluster: Cluster) -> None:
    a, b = cluster.a.broker, cluster.b.broker
    assert await a.enter("hall", ALICE) == PresenceChange(True, 1)
    assert await b.enter("hall", ALICE) == PresenceChange(False, 1)
    assert await b.enter("hall", BOB) == PresenceChange(True, 2)
    assert await a.exit("hall", ALICE.id) == PresenceChange(False, 2)
    assert await b.exit("hall", ALICE.id) == PresenceChange(True, 1)
    assert await b.exit("hall", "nobody") == PresenceChange(False, 1)
    assert await a.counts(["hall"]) == {"hall": 1}


async def test_many_enters_at_once_each_get_their_own_answer(cluster: Cluster) -> None:
    a, b = cluster.a.broker, cluster.b.broker
    users = [_named(str(i), f"user {i:03}") for i in range(60)]
    answers: dict[str, PresenceChange] = {}

    async def enter(broker: Broker, user: User) -> None:
        answers[user.id] = await broker.enter("hall", user)

    async with anyio.create_task_group() as group:
        for index, user in enumerate(users):
            group.start_soon(enter, a if index % 2 else b, user)
    assert all(answer.changed for answer in answers.values())
    assert sorted(answer.count for answer in answers.values()) == list(range(1, 61))
    assert (await a.members_page("hall", None, 100)).count == 60


async def test_members_pages_follow_names_and_prefixes(cluster: Cluster) -> None:
    a, b = cluster.a.broker, cluster.b.broker
    names = ["bob", "Alice", "carol", "Bobby", "alfred", "Ünal"]
    for index, name in enumerate(names):
        await (a if index % 2 else b).enter("hall", _named(str(index), name))
    order: list[str] = []
    after = None
    while True:
        page = await b.members_page("hall", after, 2)
        assert page.count == 6
        order += [user.name for user in page.members]
        after = page.next
        if after is None:
            break
    assert order == ["alfred", "Alice", "bob", "Bobby", "carol", "Ünal"]
    found = await a.members_page("hall", None, 10, "BO")
    assert [user.name for user in found.members] == ["bob", "Bobby"]
    assert found.next is None
    first = await a.members_page("hall", None, 1, "al")
    rest = await a.members_page("hall", first.next, 10, "al")
    assert [u.name for u in first.members + rest.members] == ["alfred", "Alice"]
    assert [u.name for u in (await a.members_page("hall", None, 5, "ü")).members] == ["Ünal"]
    await a.exit("hall", "3")
    assert "Bobby" not in [u.name for u in (await b.members_page("hall", None, 10)).members]
    assert (await b.members_page("empty", None, 10)) == MembersPage([], 0, None)


async def test_one_occupancy_claim_per_interval_between_processes(cluster: Cluster) -> None:
    a, b = cluster.a.broker, cluster.b.broker
    for index in range(3):
        await a.enter("hall", _named(str(index), f"u{index}"))
    assert await a.claim_occupancy("hall", 1_000, 1_000, 2) == Claim(3, announce=True)
    assert await b.claim_occupancy("hall", 1_100, 1_000, 2) == Claim(3)  # unchanged
    await b.enter("hall", _named("9", "u9"))
    assert await b.claim_occupancy("hall", 1_200, 1_000, 2) == Claim(4, retry=True)
    assert await a.claim_occupancy("hall", 2_000, 1_000, 2) == Claim(4, announce=True)
    await a.exit("hall", "0")
    await a.exit("hall", "1")
    assert await b.claim_occupancy("hall", 3_000, 1_000, 2) == Claim(2, announce=True)
    assert await b.claim_occupancy("hall", 4_000, 1_000, 2) == Claim(2)  # small: forgotten
    await a.exit("hall", "2")
    assert await a.claim_occupancy("hall", 5_000, 1_000, 2) == Claim(1)


async def test_a_user_comes_online_once_and_goes_offline_with_the_last(cluster: Cluster) -> None:
    a, b = cluster.a.broker, cluster.b.broker
    assert await a.come_online(ALICE) is True
    assert await b.come_online(ALICE) is False
    assert await a.come_online(ALICE) is False
    assert await a.online([ALICE.id, BOB.id, "nobody"]) == [ALICE.id]
    assert await a.go_offline(ALICE.id) is False
    assert await a.go_offline(ALICE.id) is False  # not held here any more
    assert await b.go_offline(ALICE.id) is True
    assert await b.online([ALICE.id]) == []


async def test_watchers_envelopes_reach_subscribed_processes(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    await b.broker.subscribe(ToWatchers(ALICE.id).channel)
    envelope = Envelope.status(ALICE.id, True)
    await a.broker.publish(envelope)
    assert await b.wait_for(1) == [envelope]


async def test_a_renamed_member_is_listed_and_found_by_the_new_name(cluster: Cluster) -> None:
    a, b = cluster.a.broker, cluster.b.broker
    await a.enter("hall", _named("1", "Zed"))
    await b.enter("hall", _named("2", "Mia"))
    await a.update_user(_named("1", "Abe"))
    page = await b.members_page("hall", None, 10)
    assert [user.name for user in page.members] == ["Abe", "Mia"]
    assert [user.id for user in (await b.members_page("hall", None, 10, "ab")).members] == ["1"]
    assert (await b.members_page("hall", None, 10, "ze")).members == []


async def test_a_larger_room_is_counted_less_often(cluster: Cluster) -> None:
    a, b = cluster.a.broker, cluster.b.broker
    for index in range(8):
        await a.enter("hall", _named(str(index), f"u{index}"))
    # scale 2: a room of 8 waits 4 intervals between counts.
    assert await a.claim_occupancy("hall", 1_000, 1_000, 2, 2) == Claim(8, announce=True)
    await b.enter("hall", _named("9", "u9"))
    assert await b.claim_occupancy("hall", 4_000, 1_000, 2, 2) == Claim(9, retry=True)
    assert await b.claim_occupancy("hall", 5_500, 1_000, 2, 2) == Claim(9, announce=True)


async def test_a_broken_link_is_announced_and_its_return_too(lossy_cluster: Cluster) -> None:
    """The Loss rule: ``LinkLost`` once, then ``LinkRestored`` once every subscription is
    back, so that the runtime can fill the gap; envelopes flow again after it."""
    cluster = lossy_cluster
    assert cluster.cut is not None
    a, b = cluster.a, cluster.b
    await a.broker.subscribe("room:lobby")
    await cluster.cut(a)
    notices = await a.wait_for(2)
    assert [type(e.effect) for e in notices] == [LinkLost, LinkRestored]
    assert [e.frame for e in notices] == [None, None]
    await b.broker.publish(Envelope(ToRoom("lobby"), '{"n":1}'))
    assert (await a.wait_for(3))[2].frame == '{"n":1}'
