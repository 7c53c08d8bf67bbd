"""The chatcore user hook: how a ChatBoard user appears in the chat.

A display name is free text, so two people may choose the same one. The chat name therefore
ends with the username, which is unique: ``"Ann @ann2"``. The pages show the part after the last
``" @"`` as a muted handle (a username has no spaces, so that part is always the username, and a
display name may not contain ``@``). The wire ``User`` keeps its three fields.
"""

from __future__ import annotations

from typing import Any

from chatcore import User

from .models import profile_of


def chat_name(display_name: str, username: str) -> str:
    """The name the chat shows: the display name (or the username), then ``@username``."""
    return f"{display_name or username} @{username}"


def chat_user(user: Any) -> User:
    profile = profile_of(user)
    return User(
        id=str(user.pk),
        name=chat_name(profile.display_name, user.get_username()),
        avatar=profile.avatar_url,
    )
