"""ChatBoard's chat hooks (``CHATCORE["HOOKS"]``; docs/hooks.md): an email to offline users about
direct messages and mentions, and the dice bot that answers ``/roll``."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.urls import reverse

from chatcore import Message, User
from chatcore.bots import Bot
from chatcore.hooks import Hooks, Notice

from .chat import chat_user
from .models import profile_of

#: The dice bot's account (created on first start; it cannot log in).
BOT_USERNAME = "dice"
#: Milliseconds a user's notices are gathered into one email.
NOTIFY_WINDOW = 60_000
_DICE = re.compile(r"^(\d{0,2})d(\d{1,3})$")


def install(hooks: Hooks) -> None:
    hooks.notify_offline(
        email_offline_user,
        window=getattr(settings, "CHATBOARD_NOTIFY_WINDOW", NOTIFY_WINDOW),
        mentions=find_mentioned,
    )
    # The bot answers /roll in any group room, and joins a room the first time it answers there;
    # its account is made then (on first use), not when the server starts.
    dice = Bot(lambda: sync_to_async(bot_user)(), answer_everywhere=True)
    dice.command("roll")(roll)
    dice.install(hooks)


def bot_user() -> User:
    """The dice bot's account (made on first use; it cannot log in), as the chat shows it."""
    model = get_user_model()
    account, created = model.objects.get_or_create(username=BOT_USERNAME)
    if created:
        account.set_unusable_password()
        account.save()
        profile = profile_of(account)
        profile.display_name = "Dice"
        profile.save()
    return chat_user(account)


async def roll(args: str, message: Message) -> str | None:
    """``/roll``, ``/roll d20``, ``/roll 3d6``: dice, summed."""
    found = _DICE.match(args or "d6")
    if found is None:
        return "Roll like this: /roll, /roll d20 or /roll 3d6"
    count, sides = int(found.group(1) or 1), int(found.group(2))
    if not (1 <= count <= 20 and 2 <= sides <= 100):
        return "Up to 20 dice of 2 to 100 sides."
    rolls = [random.randint(1, sides) for _ in range(count)]
    shown = " + ".join(map(str, rolls)) + (f" = {sum(rolls)}" if count > 1 else "")
    return f"{message.sender.name} rolled {count}d{sides}: {shown}"


async def find_mentioned(name: str) -> User | None:
    """``@username`` (the chat shows every name with its username)."""
    return await sync_to_async(_find_mentioned)(name)


def _find_mentioned(name: str) -> User | None:
    account = get_user_model().objects.filter(username__iexact=name, is_active=True).first()
    return chat_user(account) if account is not None else None


async def email_offline_user(recipient: User, notices: Sequence[Notice]) -> None:
    await sync_to_async(_email)(recipient, list(notices))


def _email(recipient: User, notices: list[Notice]) -> None:
    account = get_user_model().objects.filter(pk=recipient.id, is_active=True).first()
    if account is None or not account.email or not profile_of(account).email_notifications:
        return
    site = getattr(settings, "CHATBOARD_URL", "http://127.0.0.1:8000").rstrip("/")
    lines = []
    for notice in notices:
        where = "you directly" if notice.kind == "direct" else f"you in #{notice.room.name}"
        link = site + reverse("room", kwargs={"name": notice.room.name})
        lines.append(
            f"{notice.message.sender.name} wrote to {where}:\n  {notice.message.text}\n  {link}\n"
        )
    count = len(notices)
    subject = f"ChatBoard: {count} new message{'s' if count > 1 else ''} for you"
    body = (
        "\n".join(lines) + f"\nTurn these emails off on your profile: {site}{reverse('profile')}\n"
    )
    send_mail(subject, body, None, [account.email])
