"""``CHATCORE["HOOKS"]`` for the Django hook tests: ChatBoard's hooks (emails, the dice bot) and a
message hook that masks ``darn`` and refuses ``spam``."""

from __future__ import annotations

import json
import os
from typing import Any

from board.hooks import install as install_chatboard  # type: ignore[import-not-found]

from chatcore.hooks import ChatEvent, Draft, Hooks, MessageRejected
from chatcore.webhooks import Webhooks
from chatcore_django import signals


async def words(draft: Draft) -> Draft | None:
    if "spam" in draft.text:
        raise MessageRejected("no spam here, please", reason="spam")
    if "darn" in draft.text:
        return draft.evolve(text=draft.text.replace("darn", "d**n"))
    return None


def record(sender: Any, event: ChatEvent, **kwargs: Any) -> None:
    """A signal receiver: one JSON line per event in ``HOOKS_EVENTS_FILE``, with the ORM's
    answer (it runs in a worker thread, where the ORM may be used)."""
    from django.contrib.auth import get_user_model

    line = {**event.to_wire(), "users": get_user_model().objects.count()}
    with open(os.environ["HOOKS_EVENTS_FILE"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def install(hooks: Hooks) -> None:
    install_chatboard(hooks)
    hooks.add_message_hook(words)
    if os.environ.get("HOOKS_EVENTS_FILE"):
        signals.chat_event.connect(record)
    if os.environ.get("HOOKS_WEBHOOK_URL"):  # the events to a receiver, signed
        Webhooks([os.environ["HOOKS_WEBHOOK_URL"]], "webhook-secret", window=100).install(hooks)
