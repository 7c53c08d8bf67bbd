"""Privacy on two processes: a seeded random run of joins, leaves, room and private messages
over real sockets, checked against the membership the test itself keeps."""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import attrs
import pytest

from chatcore.client import ChatClient, ClientClosed, ConnectionLost, Frame, ReplyError
from tests.redis.support import redis_prefix
from tests.reliability.support import NO_LIMITS
from tests.scale.pair import Pair, example_pair
from tests.starlette.example_server import ExampleServer

pytestmark = [pytest.mark.anyio, pytest.mark.network]

#: Each user and the processes their tabs are on: three users have a tab on each process.
TABS = {"ann": (0, 1), "ben": (1,), "cat": (0, 1), "dan": (0,), "eve": (1, 0), "fay": (1,)}
ROOMS = ("hall", "den", "attic")
WAIT = 5.0


@attrs.define
class Recorder:
    """Every event one client receives, in order, from a task that reads them all."""

    client: ChatClient
    events: list[Frame] = attrs.field(factory=list)
    _arrived: asyncio.Event = attrs.field(factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                self.events.append(await self.client.next_event())
                self._arrived.set()
        except ClientClosed:
            self._arrived.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait_for(self, test: object, within: float = WAIT) -> Frame:
        """The first event (from the start) for which ``test(event)`` is true."""
        assert callable(test)
        checked = 0
        async with asyncio.timeout(within):
            while True:
                for event in self.events[checked:]:
                    if test(event):
                        return event
                checked = len(self.events)
                self._arrived.clear()
                await self._arrived.wait()

    def texts(self, kinds: Iterable[str] = ("message", "private")) -> Counter[str]:
        """How often each chat text (room or private) arrived."""
        wanted = set(kinds)
        return Counter(e["text"] for e in self.events if e["type"] in wanted)


@attrs.define(eq=False)
class Tab:
    user: str
    process: int
    recorder: Recorder
    rooms: set[str] = attrs.field(factory=set)
    #: The texts this tab must get, and only these.
    owed: set[str] = attrs.field(factory=set)

    @property
    def client(self) -> ChatClient:
        return self.recorder.client

    def __str__(self) -> str:
        return f"{self.user}@{self.process}"


@asynccontextmanager
async def tabs_on(pair: Pair) -> AsyncIterator[list[Tab]]:
    """One recorded client per (user, process) in :data:`TABS`, the rooms created."""
    tabs: list[Tab] = []
    for user, processes in TABS.items():
        for process in processes:
            recorder = Recorder(await pair.open(process, user.title()))
            recorder.start()
            tabs.append(Tab(user, process, recorder))
    for room in ROOMS:
        await tabs[0].client.create_room(room)
    try:
        yield tabs
    finally:
        for tab in tabs:
            await tab.recorder.stop()


async def random_run(pair: Pair, seed: int, operations: int) -> None:
    rng = random.Random(seed)
    log: list[str] = []

    def context() -> str:
        return f"seed {seed} (CHATCORE_PRIVACY_SEED={seed} replays it); last steps: {log[-8:]}"

    async with tabs_on(pair) as tabs:

        async def delivered(text: str, owed: list[Tab]) -> None:
            for tab in owed:
                tab.owed.add(text)
            try:
                for tab in owed:
                    await tab.recorder.wait_for(lambda e: e.get("text") == text)
            except TimeoutError:
                missing = [str(t) for t in owed if text not in t.recorder.texts()]
                raise AssertionError(f"{text!r} never reached {missing}; {context()}") from None

        async def room_send(tab: Tab, room: str, text: str) -> None:
            await tab.client.send(room, text)
            # Sent (acknowledged) with this membership: no join or leave runs beside a send.
            await delivered(text, [t for t in tabs if room in t.rooms])

        async def private_send(tab: Tab, to: str, text: str) -> None:
            await tab.client.send_private(to, text)
            await delivered(text, [t for t in tabs if t.user in (tab.user, to)])

        users = sorted(TABS)
        try:
            for step in range(operations):
                tab = rng.choice(tabs)
                kind = rng.choices(("join", "leave", "burst"), weights=(2, 1, 4))[0]
                if kind == "join" and (outside := [r for r in ROOMS if r not in tab.rooms]):
                    room = rng.choice(outside)
                    log.append(f"{step}: {tab} joins {room}")
                    await tab.client.join(room)
                    tab.rooms.add(room)
                elif kind == "leave" and tab.rooms:
                    room = rng.choice(sorted(tab.rooms))
                    log.append(f"{step}: {tab} leaves {room}")
                    await tab.client.leave(room)
                    tab.rooms.discard(room)
                else:
                    # Up to four sends at once, from tabs on both processes.
                    sends = []
                    for n in range(rng.randint(1, 4)):
                        sender, text = rng.choice(tabs), f"step {step}.{n}"
                        if sender.rooms and rng.random() < 0.6:
                            room = rng.choice(sorted(sender.rooms))
                            log.append(f"{step}: {sender} sends {text!r} to {room}")
                            sends.append(room_send(sender, room, text))
                        else:
                            to = rng.choice([u for u in users if u != sender.user])
                            log.append(f"{step}: {sender} sends {text!r} privately to {to}")
                            sends.append(private_send(sender, to, text))
                    await asyncio.gather(*sends)
        except (ReplyError, ConnectionLost) as error:  # refused or lost: say which run
            raise AssertionError(f"{error!r}; {context()}") from error

        # A last private message to every user, published after everything above: once each
        # tab has it, whatever else its process was going to hand that tab has been handed.
        for user in users:
            sender = next(t for t in tabs if t.user != user)
            await private_send(sender, user, f"last for {user}")
        for tab in tabs:
            got = tab.recorder.texts()
            extra = sorted(set(got) - tab.owed)
            assert not extra, f"{tab} got {extra}, which were not for it; {context()}"
            twice = sorted(text for text, count in got.items() if count > 1)
            assert not twice, f"{tab} got {twice} more than once; {context()}"
            assert set(got) == tab.owed, context()
            for event in tab.recorder.events:
                if event["type"] == "private":
                    ends = {event["from"]["id"], event["to"]["id"]}
                    assert tab.user in ends, f"{tab} got {event}; {context()}"
            assert tab.client.sessions == 1, f"{tab} reconnected; {context()}"
        assert pair.alive()
        kinds = Counter(line.split(" ", 2)[2].split(" ")[0] for line in log)
        deliveries = sum(len(tab.owed) for tab in tabs)
        print(f"seed {seed}: {dict(kinds)}, {deliveries} deliveries checked")  # for the docs


def seed() -> int:
    return int(os.environ.get("CHATCORE_PRIVACY_SEED") or random.randrange(2**32))


@pytest.fixture
async def pair(
    monkeypatch: pytest.MonkeyPatch, server_class: type[ExampleServer]
) -> AsyncIterator[Pair]:
    """Both processes without rate limits: the run sends faster than a person types."""
    for name, value in NO_LIMITS.items():
        monkeypatch.setenv(name, value)  # the example processes inherit the environment
    async with (
        redis_prefix() as (url, prefix),
        example_pair(url, prefix, server_class=server_class) as pair,
    ):
        yield pair


async def test_nobody_sees_a_message_that_is_not_for_them(pair: Pair) -> None:
    await random_run(pair, seed(), operations=150)


@pytest.mark.soak
async def test_nobody_sees_a_message_that_is_not_for_them_long_run(pair: Pair) -> None:
    await random_run(pair, seed(), operations=2000)
