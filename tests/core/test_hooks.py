"""The application's hooks in the core: message hooks, listeners, offline notification."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio
import anyio.lowlevel
import pytest

from chatcore import (
    ChatServer,
    FakeClock,
    MemoryBroker,
    MemoryBus,
    MemoryDirectory,
    MemoryStore,
    User,
)
from chatcore.hooks import ChatEvent, Draft, Hooks, MessageRejected, ModerationAction, Notice
from chatcore.runtime._hooks import mentioned
from chatcore.testing import LocalClient
from chatcore.wire.errors import Forbidden, UsageError

from .kit import Chat, running, user

pytestmark = pytest.mark.anyio


async def lobby(chat: Chat, *user_ids: str) -> list[LocalClient]:
    """The room ``lobby`` and clients of ``user_ids`` in it."""
    await chat.server.create_room("lobby")
    clients: list[LocalClient] = []
    for user_id in user_ids:
        client = await chat.client(user_id)
        await client.call("join", room="lobby")
        clients.append(client)
    return clients


# message hooks


async def test_hooks_run_in_order_and_may_change_text_and_meta() -> None:
    hooks = Hooks()
    seen: list[tuple[str, str, str]] = []

    @hooks.message()
    async def first(draft: Draft) -> Draft | None:
        seen.append(("first", draft.text, draft.sender.id))
        return draft.evolve(text=draft.text.replace("darn", "d**n"))

    @hooks.message()
    async def second(draft: Draft) -> Draft | None:
        seen.append(("second", draft.text, draft.room.name))
        return draft.evolve(meta={"checked": True, **(draft.meta or {})})

    async with running(hooks=hooks) as chat:
        (alice,) = await lobby(chat, "1")
        await alice.call("send", room="lobby", text="  darn it  ", meta={"a": 1})
        [message] = alice.events("message")
        assert (message["text"], message["meta"]) == ("d**n it", {"checked": True, "a": 1})
        assert seen == [("first", "darn it", "1"), ("second", "d**n it", "lobby")]
        stored = (await chat.server.history("lobby", limit=10)).messages
        assert [m.text for m in stored] == ["d**n it"]


async def test_a_hook_that_passes_leaves_the_message_alone() -> None:
    hooks = Hooks()

    @hooks.message()
    async def passes(draft: Draft) -> Draft | None:
        return None

    async with running(hooks=hooks) as chat:
        (alice,) = await lobby(chat, "1")
        await alice.call("send", room="lobby", text="hello")
        assert [m["text"] for m in alice.events("message")] == ["hello"]


async def test_a_refused_message_is_neither_stored_nor_sent() -> None:
    hooks = Hooks()

    @hooks.message()
    async def no_spam(draft: Draft) -> Draft | None:
        if "spam" in draft.text:
            raise MessageRejected("no spam here, please", reason="spam")
        return None

    async with running(hooks=hooks) as chat:
        alice, bob = await lobby(chat, "1", "2")
        reply = await alice.request("send", room="lobby", text="buy spam")
        assert reply["code"] == "rejected"
        assert reply["message"] == "no spam here, please"
        assert reply["reason"] == "spam"
        await alice.call("send", room="lobby", text="fine")
        assert [m["text"] for m in bob.events("message")] == ["fine"]
        assert [m.id for m in (await chat.server.history("lobby", limit=10)).messages] == [1]


async def test_an_edit_goes_through_the_hooks() -> None:
    hooks = Hooks()
    kinds: list[tuple[str, int | None, object]] = []

    @hooks.message()
    async def mask(draft: Draft) -> Draft | None:
        kinds.append((draft.kind, draft.message_id, draft.meta))
        if "nope" in draft.text:
            raise MessageRejected("not that")
        if draft.kind == "edit":
            return draft.evolve(text=draft.text.upper(), meta=None)
        return None

    async with running(hooks=hooks) as chat:
        (alice,) = await lobby(chat, "1")
        await alice.call("send", room="lobby", text="first", meta={"k": 1})
        reply = await alice.call("edit", room="lobby", id=1, text="second")
        assert reply["message"]["text"] == "SECOND"
        assert "meta" not in reply["message"]  # the hook took it away
        refused = await alice.request("edit", room="lobby", id=1, text="nope")
        assert (refused["code"], refused["message"]) == ("rejected", "not that")
        assert "reason" not in refused
        assert kinds == [("send", None, {"k": 1}), ("edit", 1, {"k": 1}), ("edit", 1, None)]
        assert (await chat.server.get_message("lobby", 1)).text == "SECOND"


@pytest.mark.parametrize("fail", ["closed", "open"])
async def test_a_slow_hook_fails_as_configured_and_never_stalls_the_room(fail: str) -> None:
    hooks = Hooks()
    never = anyio.Event()

    @hooks.message(timeout=0.05, fail=fail)  # type: ignore[arg-type]
    async def slow(draft: Draft) -> Draft | None:
        if draft.sender.id == "1":
            await never.wait()  # a backend that does not answer
        return draft.evolve(text=draft.text + "!")

    async with running(hooks=hooks) as chat:
        alice, bob = await lobby(chat, "1", "2")
        async with anyio.create_task_group() as group:
            results: dict[str, object] = {}

            async def alice_sends() -> None:
                results["alice"] = await alice.request("send", room="lobby", text="slow")

            group.start_soon(alice_sends)
            await anyio.wait_all_tasks_blocked()
            # Alice's hook hangs; Bob's message goes through meanwhile.
            reply = await bob.call("send", room="lobby", text="quick")
            assert reply["id"] == 1
            assert "alice" not in results
        alice_reply = results["alice"]
        texts = [m.text for m in (await chat.server.history("lobby", limit=10)).messages]
        if fail == "closed":
            assert alice_reply["code"] == "unavailable"  # type: ignore[index]
            assert texts == ["quick!"]
        else:
            assert alice_reply["type"] == "ok"  # type: ignore[index]
            assert texts == ["quick!", "slow"]  # passed on as it was


@pytest.mark.parametrize("fail", ["closed", "open"])
async def test_a_failing_hook_is_logged_and_fails_as_configured(
    fail: str, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = Hooks()

    @hooks.message(fail=fail)  # type: ignore[arg-type]
    async def broken(draft: Draft) -> Draft | None:
        raise RuntimeError("bug in the app")

    async with running(hooks=hooks) as chat:
        (alice,) = await lobby(chat, "1")
        with caplog.at_level(logging.ERROR, "chatcore.hooks"):
            reply = await alice.request("send", room="lobby", text="hi")
        assert "broken failed" in caplog.text
        assert reply["type"] == ("error" if fail == "closed" else "ok")
        if fail == "closed":
            assert reply["code"] == "unavailable"


async def test_hook_settings_are_checked() -> None:
    hooks = Hooks()

    async def hook(draft: Draft) -> Draft | None:
        return None

    with pytest.raises(UsageError):
        hooks.add_message_hook(hook, timeout=0)
    with pytest.raises(UsageError):
        hooks.add_message_hook(hook, fail="maybe")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        hooks.add_listener(hook, "message_sent")  # type: ignore[arg-type]


async def test_the_application_api_passes_no_hook() -> None:
    hooks = Hooks()

    @hooks.message()
    async def refuse_all(draft: Draft) -> Draft | None:
        raise MessageRejected("no")

    async with running(hooks=hooks) as chat:
        await chat.server.create_room("lobby")
        appended = await chat.server.post("lobby", "from the app", sender=user("9"))
        assert appended.message.text == "from the app"


# listeners


def recorder(hooks: Hooks) -> list[tuple[str, str, object]]:
    events: list[tuple[str, str, object]] = []

    @hooks.listen()
    async def record(event: ChatEvent) -> None:
        detail: object = None
        if event.message is not None:
            detail = (event.message.id, event.message.text, event.message.deleted)
        elif event.user is not None:
            detail = event.user.id
        elif event.room_info is not None:
            detail = event.room_info.title
        elif event.moderation is not None:
            detail = event.moderation.action
        events.append((event.kind, event.room, detail))

    return events


async def test_listeners_hear_every_kind_in_order() -> None:
    hooks = Hooks()
    events = recorder(hooks)
    async with running(hooks=hooks) as chat:
        server = chat.server
        (alice,) = await lobby(chat, "1")
        await alice.call("send", room="lobby", text="one")
        await alice.call("edit", room="lobby", id=1, text="uno")
        await alice.call("react", room="lobby", id=1, emoji="+1")
        await alice.call("react", room="lobby", id=1, emoji="+1")  # changes nothing: unheard
        await alice.call("unreact", room="lobby", id=1, emoji="heart")  # nor does this
        await alice.call("delete_message", room="lobby", id=1)
        await server.update_room("lobby", "The lobby")
        server.emit(
            ChatEvent(
                kind="moderation",
                room="lobby",
                ts=chat.clock.now(),
                moderation=ModerationAction(action="mute", target="2"),
            )
        )
        await alice.call("leave", room="lobby")
        await server.delete_room("lobby")
        await server.hooks_idle()
        assert events == [
            ("room_created", "lobby", "lobby"),
            ("user_joined", "lobby", "1"),
            ("message_posted", "lobby", (1, "one", False)),
            ("message_edited", "lobby", (1, "uno", False)),
            ("reactions_changed", "lobby", (1, "uno", False)),
            ("message_deleted", "lobby", (1, "", True)),
            ("room_updated", "lobby", "The lobby"),
            ("moderation", "lobby", "mute"),
            ("user_left", "lobby", "1"),
            ("room_deleted", "lobby", "The lobby"),
        ]


async def test_moderation_commands_are_heard_with_who_acted_on_whom() -> None:
    hooks = Hooks()
    heard: list[ModerationAction] = []

    @hooks.listen("moderation")
    async def note(event: ChatEvent) -> None:
        assert event.moderation is not None
        heard.append(event.moderation)

    async with running(hooks=hooks) as chat:
        owner, member = await chat.client("1"), await chat.client("2")
        await owner.call("create_room", room="club")
        await member.call("join", room="club")
        await owner.call("mute", room="club", user="2", reason="caps")
        await owner.call("kick", room="club", user="2")
        await chat.server.hooks_idle()
    assert [(a.action, a.actor.id if a.actor else None, a.target) for a in heard] == [
        ("mute", "1", "2"),
        ("kick", "1", "2"),
    ]
    assert heard[0].detail["reason"] == "caps"


async def test_a_departure_after_the_grace_is_heard() -> None:
    hooks = Hooks()
    events = recorder(hooks)
    async with running(hooks=hooks) as chat:
        (alice,) = await lobby(chat, "1")
        await alice.close()
        await chat.server.hooks_idle()
        assert events[-1][0] == "user_joined"
        await chat.advance(chat.limits.presence_grace)
        await chat.server.hooks_idle()
        assert events[-1] == ("user_left", "lobby", "1")


async def test_pipelined_sends_reach_listeners_in_id_order() -> None:
    hooks = Hooks()
    ids: list[int] = []

    @hooks.listen("message_posted")
    async def record(event: ChatEvent) -> None:
        assert event.message is not None
        ids.append(event.message.id)
        await anyio.lowlevel.checkpoint()

    async with running(hooks=hooks) as chat:
        alice, bob = await lobby(chat, "1", "2")
        for n in range(20):
            await alice.send({"type": "send", "room": "lobby", "text": f"a{n}"})
            await bob.send({"type": "send", "room": "lobby", "text": f"b{n}"})
        await anyio.wait_all_tasks_blocked()
        await chat.server.hooks_idle()
        assert ids == list(range(1, 41))


async def test_a_failing_or_blocked_listener_does_not_affect_the_chat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hooks = Hooks()
    heard: list[str] = []
    release = anyio.Event()

    @hooks.listen("message_posted")
    async def broken(event: ChatEvent) -> None:
        raise RuntimeError("listener bug")

    @hooks.listen("message_posted")
    async def slow(event: ChatEvent) -> None:
        await release.wait()
        assert event.message is not None
        heard.append(event.message.text)

    async with running(hooks=hooks) as chat:
        alice, bob = await lobby(chat, "1", "2")
        with caplog.at_level(logging.ERROR, "chatcore.hooks"):
            for text in ("one", "two", "three"):
                await alice.call("send", room="lobby", text=text)
            # Fan-out did not wait for the blocked listener.
            assert [m["text"] for m in bob.events("message")] == ["one", "two", "three"]
            assert heard == []
            release.set()
            await chat.server.hooks_idle()
        assert heard == ["one", "two", "three"]
        assert len([r for r in caplog.records if "broken failed" in r.getMessage()]) == 3


async def test_rooms_are_handled_side_by_side() -> None:
    """A listener stuck on one room's event does not hold another room's events."""
    hooks = Hooks()
    heard: list[str] = []
    release = anyio.Event()

    @hooks.listen("message_posted")
    async def record(event: ChatEvent) -> None:
        if event.room == "slow":
            await release.wait()
        heard.append(event.room)

    async with running(hooks=hooks) as chat:
        server = chat.server
        await server.create_room("slow")
        await server.create_room("fast")
        await server.post("slow", "1", sender=user("1"))
        await server.post("fast", "2", sender=user("1"))
        await anyio.wait_all_tasks_blocked()
        assert heard == ["fast"]
        release.set()
        await server.hooks_idle()
        assert heard == ["fast", "slow"]


# offline notification


class Inbox:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, str, str]]]] = []

    async def notify(self, recipient: User, notices: Sequence[Notice]) -> None:
        self.calls.append((recipient.id, [(n.kind, n.room.name, n.message.text) for n in notices]))


def directory() -> MemoryDirectory:
    return MemoryDirectory([user(user_id) for user_id in ("1", "2", "3", "4")])


async def by_name(name: str) -> User | None:
    for candidate in (user("1"), user("2"), user("3"), user("4")):
        if candidate.name.lower() == name.lower():
            return candidate
    return None


async def test_offline_users_get_one_notice_per_window() -> None:
    hooks = Hooks()
    inbox = Inbox()
    hooks.notify_offline(inbox.notify, window=60_000, mentions=by_name)
    clock = FakeClock()
    async with running(clock, hooks=hooks, directory=directory()) as chat:
        server = chat.server
        alice = await chat.client("1")
        await lobby(chat)
        await alice.call("join", room="lobby")
        direct = (await alice.call("direct", to="2"))["room"]["name"]
        await alice.call("join", room=direct)
        for text in ("are you there?", "hello?"):
            await alice.call("send", room=direct, text=text)
        # Carol is mentioned, Alice mentions herself, nobody is called Zed; Bob is online.
        await alice.call("send", room="lobby", text="@Carol @Alice @Zed look")
        await server.hooks_idle()
        await chat.advance(59_999)
        assert inbox.calls == []
        await chat.advance(1)
        assert sorted(inbox.calls) == [
            ("2", [("direct", direct, "are you there?"), ("direct", direct, "hello?")]),
            ("3", [("mention", "lobby", "@Carol @Alice @Zed look")]),
        ]
        # A new window opens with the next message.
        inbox.calls.clear()
        await alice.call("send", room=direct, text="later")
        await server.hooks_idle()
        await chat.advance(60_000)
        assert inbox.calls == [("2", [("direct", direct, "later")])]
        # A user with an open connection gets no notice.
        inbox.calls.clear()
        bob = await chat.client("2")
        await alice.call("send", room=direct, text="there you are")
        await alice.call("send", room="lobby", text="hi @bob")
        await server.hooks_idle()
        await chat.advance(60_000)
        assert inbox.calls == []
        await bob.close()


async def test_a_failing_notifier_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    hooks = Hooks()

    async def broken(recipient: User, notices: Sequence[Notice]) -> None:
        raise RuntimeError("mail server down")

    hooks.notify_offline(broken, window=10)
    async with running(hooks=hooks, directory=directory()) as chat:
        alice = await chat.client("1")
        direct = (await alice.call("direct", to="2"))["room"]["name"]
        await alice.call("join", room=direct)
        with caplog.at_level(logging.ERROR, "chatcore.hooks"):
            await alice.call("send", room=direct, text="hi")
            await chat.server.hooks_idle()
            await chat.advance(10)
        assert "offline notifier failed" in caplog.text
        await alice.call("send", room=direct, text="still fine")


def test_mentions_are_found_in_text() -> None:
    assert mentioned("hi @ann and @bob.smith, mail me at x@y.org; @ann again") == [
        "ann",
        "bob.smith",
    ]


async def test_startup_hooks_run_with_the_server() -> None:
    hooks = Hooks()
    started: list[ChatServer] = []

    @hooks.on_start
    async def start(server: ChatServer) -> None:
        started.append(server)

    async with ChatServer(hooks=hooks) as server:
        await anyio.wait_all_tasks_blocked()
        assert started == [server]


async def test_the_stop_lets_listeners_hear_what_came_before_it_then_runs_stop_hooks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hooks = Hooks()
    heard: list[str] = []
    at_stop: list[list[str]] = []

    @hooks.listen("room_created", "room_updated")
    async def listener(event: ChatEvent) -> None:
        await anyio.lowlevel.checkpoint()  # (each event takes a step of its own)
        assert event.room_info is not None
        heard.append(f"{event.kind} {event.room}")

    @hooks.on_stop
    async def broken(server: ChatServer) -> None:
        raise RuntimeError("stop hook bug")

    @hooks.on_stop
    async def stop(server: ChatServer) -> None:
        at_stop.append(list(heard))

    with caplog.at_level(logging.ERROR, "chatcore"):
        async with ChatServer(hooks=hooks) as server:
            for name in ("r1", "r2"):
                await server.create_room(name)
                await server.update_room(name, "Renamed")
            # No wait here: the events are still queued as the server stops.
    expected = ["room_created r1", "room_updated r1", "room_created r2", "room_updated r2"]
    assert sorted(heard) == sorted(expected)
    assert [e for e in heard if e.endswith("r1")] == expected[:2]  # in order in each room
    assert at_stop == [heard]  # the stop hooks ran after the listeners, the broken one logged
    assert "a stop hook failed" in caplog.text


async def test_a_listener_stuck_at_the_stop_holds_it_stop_wait_seconds_at_most() -> None:
    hooks = Hooks(stop_wait=0.1)
    cancelled: list[bool] = []

    @hooks.listen("room_created")
    async def stuck(event: ChatEvent) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.append(True)

    with anyio.fail_after(5):  # (the stop waits 0.1 s for it, then cancels it)
        async with ChatServer(hooks=hooks) as server:
            await server.create_room("r1")
    assert cancelled == [True]
    with pytest.raises(UsageError):
        Hooks(stop_wait=-1)


async def test_a_user_online_in_another_process_gets_no_notice() -> None:
    """Whether a user is online is the broker's presence, across processes."""
    hooks = Hooks()
    inbox = Inbox()
    hooks.notify_offline(inbox.notify, window=1_000)
    bus, store, clock = MemoryBus(), MemoryStore(), FakeClock()
    async with (
        running(
            clock, broker=MemoryBroker(bus), store=store, hooks=hooks, directory=directory()
        ) as one,
        running(clock, broker=MemoryBroker(bus), store=store, directory=directory()) as two,
    ):
        alice = await one.client("1")
        bob = await two.client("2")  # Bob is online, on the other process
        direct = (await alice.call("direct", to="2"))["room"]["name"]
        await alice.call("join", room=direct)
        await alice.call("send", room=direct, text="you are online elsewhere")
        await one.server.hooks_idle()
        await one.advance(1_000)
        assert inbox.calls == []
        await bob.close()  # gone from every process now
        await alice.call("send", room=direct, text="now you are not")
        await one.server.hooks_idle()
        await one.advance(1_000)
        assert inbox.calls == [("2", [("direct", direct, "now you are not")])]


async def test_a_hook_may_refuse_with_another_code() -> None:
    hooks = Hooks()

    @hooks.message()
    async def members_only(draft: Draft) -> Draft | None:
        raise Forbidden("only members of the club may write", field="room")

    async with running(hooks=hooks) as chat:
        (alice,) = await lobby(chat, "1")
        reply = await alice.request("send", room="lobby", text="hi")
        assert (reply["code"], reply["message"], reply["field"]) == (
            "forbidden",
            "only members of the club may write",
            "room",
        )


async def test_listeners_far_behind_drop_new_events(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("chatcore.runtime._hooks.MAX_QUEUED", 3)
    hooks = Hooks()
    heard: list[str] = []
    release = anyio.Event()

    @hooks.listen("message_posted")
    async def slow(event: ChatEvent) -> None:
        await release.wait()
        assert event.message is not None
        heard.append(event.message.text)

    async with running(hooks=hooks) as chat:
        await chat.server.create_room("lobby")
        await chat.server.hooks_idle()
        with caplog.at_level(logging.ERROR, "chatcore.hooks"):
            for n in range(5):
                await chat.server.post("lobby", f"m{n}", sender=user("1"))
        assert "listeners are 3 events behind in lobby" in caplog.text
        release.set()
        await chat.server.hooks_idle()
        assert heard == ["m0", "m1", "m2"]
