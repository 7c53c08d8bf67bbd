"""The chatcore user hook: how a ChatBoard user appears in the chat."""

from __future__ import annotations

from typing import Any

from chatcore import User

from .models import profile_of


def chat_user(user: Any) -> User:
    profile = profile_of(user)
    return User(id=str(user.pk), name=profile.name, avatar=profile.avatar_url)
