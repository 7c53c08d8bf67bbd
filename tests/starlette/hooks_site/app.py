"""The Starlette example's login and socket on a server with hooks, for tests/starlette/test_hooks.py.

A message hook masks ``darn`` and refuses ``spam`` (reason ``spam``); a hook that fails closed
hangs on ``slow``; a listener keeps every event for ``GET /events``; the offline notifier keeps
its calls for ``GET /notices`` (window ``HOOKS_WINDOW_MS``); a bot ``dice`` answers ``/roll``;
with ``HOOKS_WEBHOOK_URL``, the events are POSTed there too (secret ``webhook-secret``).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatcore import ChatServer, Limits, Message, User
from chatcore.bots import Bot
from chatcore.hooks import ChatEvent, Draft, Hooks, MessageRejected, Notice
from chatcore.webhooks import Webhooks
from chatcore_starlette import chat_lifespan, chat_route

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "starlette_chat" / "app.py"
_spec = importlib.util.spec_from_file_location("starlette_chat_example", EXAMPLE)
assert _spec is not None
assert _spec.loader is not None
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)

hooks = Hooks()
events: list[dict[str, object]] = []
notices: list[dict[str, object]] = []


@hooks.message()
async def words(draft: Draft) -> Draft | None:
    if "spam" in draft.text:
        raise MessageRejected("no spam here, please", reason="spam")
    if "darn" in draft.text:
        return draft.evolve(text=draft.text.replace("darn", "d**n"), meta={"masked": True})
    return None


@hooks.message(timeout=0.2, fail="closed")
async def slow(draft: Draft) -> Draft | None:
    if draft.text == "slow":
        await anyio.sleep_forever()
    return None


@hooks.listen()
async def record(event: ChatEvent) -> None:
    events.append(event.to_wire())


async def notify(recipient: User, batch: Sequence[Notice]) -> None:
    notices.append(
        {"to": recipient.id, "notices": [[n.kind, n.room.name, n.message.text] for n in batch]}
    )


async def mentions(name: str) -> User | None:
    return User(id=name.casefold(), name=name)  # in this demo, every name is a user


hooks.notify_offline(
    notify, window=int(os.environ.get("HOOKS_WINDOW_MS", "300")), mentions=mentions
)

dice = Bot(User(id="dice", name="Dice"), join_new_rooms=True)


@dice.command("roll")
async def roll(args: str, message: Message) -> str | None:
    return f"{message.sender.name} rolled 4"  # chosen by a fair dice roll


dice.install(hooks)

if os.environ.get("HOOKS_WEBHOOK_URL"):  # listener events to a receiver, signed
    Webhooks([os.environ["HOOKS_WEBHOOK_URL"]], "webhook-secret", window=100).install(hooks)

server = ChatServer(
    limits=Limits(presence_grace=300), directory=example.NameDirectory(), hooks=hooks
)


async def get_events(request: Request) -> Response:
    await server.hooks_idle()
    return JSONResponse(events)


async def get_notices(request: Request) -> Response:
    return JSONResponse(notices)


app = Starlette(
    routes=[
        Route("/login", example.login, methods=["POST"]),
        Route("/events", get_events),
        Route("/notices", get_notices),
        chat_route("/ws", server, example.session_user),
    ],
    middleware=[Middleware(SessionMiddleware, secret_key="test-secret-key", same_site="lax")],
    lifespan=chat_lifespan(server),
)
