"""``chatcore serve`` run by a program with hooks of its own (``main(argv, hooks=...)``), for
tests/server/test_hooks.py: a message hook makes ``whisper`` loud, a listener and the offline
notifier (``@name`` mentions, window 100 ms) write JSON lines to ``$HOOKS_LOG``, and a bot
``dice`` answers ``/roll`` in every new room.

Run: ``python tests/server/hooks_serve.py serve [chatcore serve options]``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chatcore import Message, User
from chatcore.bots import Bot
from chatcore.hooks import ChatEvent, Draft, Hooks, Notice
from chatcore_server.cli import main

hooks = Hooks()


def record(line: dict[str, Any]) -> None:
    with Path(os.environ["HOOKS_LOG"]).open("a") as log:
        log.write(json.dumps(line) + "\n")


@hooks.message()
async def loud(draft: Draft) -> Draft | None:
    return draft.evolve(text=draft.text.upper()) if "whisper" in draft.text else None


@hooks.listen("message_posted")
async def posted(event: ChatEvent) -> None:
    assert event.message is not None
    record({"kind": event.kind, "room": event.room, "text": event.message.text})


async def notify(recipient: User, notices: Sequence[Notice]) -> None:
    record({"kind": "notify", "to": recipient.id, "texts": [n.message.text for n in notices]})


async def mentions(name: str) -> User | None:
    return User(id=name.casefold(), name=name)


hooks.notify_offline(notify, window=100, mentions=mentions)
dice = Bot(User(id="dice", name="Dice"), join_new_rooms=True)


@dice.command("roll")
async def roll(args: str, message: Message) -> str | None:
    return f"{message.sender.name} rolled 4"


dice.install(hooks)

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], hooks=hooks))
