"""A bot run by the application: it joins rooms and answers commands (chatcore.bots)."""

from __future__ import annotations

import anyio
import pytest

from chatcore.bots import Bot
from chatcore.hooks import Hooks
from chatcore.wire.values import Message

from .kit import running, user, wire

pytestmark = pytest.mark.anyio


def echo_bot(**options: object) -> tuple[Bot, Hooks]:
    hooks = Hooks()
    bot = Bot(user("9", name="Echo"), **options)  # type: ignore[arg-type]

    @bot.command("echo")
    async def echo(args: str, message: Message) -> str | None:
        return f"{message.sender.name} said: {args}" if args else None

    bot.install(hooks)
    return bot, hooks


async def test_a_bot_joins_its_rooms_and_answers_commands() -> None:
    bot, hooks = echo_bot(rooms=["lobby"])
    async with running(hooks=hooks) as chat:
        await chat.server.create_room("lobby")
        await bot.join("lobby")  # the room did not exist when the bot started
        alice = await chat.client("1")
        joined = await alice.call("join", room="lobby")
        assert {"id": "9", "name": "Echo", "avatar": None} in joined["members"]
        await alice.call("send", room="lobby", text="/echo hello there")
        await alice.call("send", room="lobby", text="/echo")  # no answer
        await alice.call("send", room="lobby", text="/unknown x")  # no such command
        await chat.server.hooks_idle()
        await anyio.wait_all_tasks_blocked()
        messages = alice.events("message")
        answers = [m for m in messages if m["from"]["id"] == "9"]
        assert [(m["text"], m["reply_to"]) for m in answers] == [("Alice said: hello there", 1)]
        assert messages[0]["from"] == wire("1")


async def test_a_bot_joins_new_rooms_when_asked() -> None:
    _, hooks = echo_bot(join_new_rooms=True)
    async with running(hooks=hooks) as chat:
        await chat.server.create_room("later")
        await chat.server.hooks_idle()
        alice = await chat.client("1")
        joined = await alice.call("join", room="later")
        assert "9" in [member["id"] for member in joined["members"]]
        await alice.call("send", room="later", text="/echo hi")
        await chat.server.hooks_idle()
        assert [m["text"] for m in alice.events("message")][-1] == "Alice said: hi"
