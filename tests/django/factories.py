"""Users and sessions for the Django tests (each test makes its own, uniquely named)."""

from __future__ import annotations

import itertools
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

_serial = itertools.count(1)
PASSWORD = "a-long-test-password-42"


def make_user(prefix: str = "user", display_name: str = "") -> Any:
    """A new user with a unique username, a profile and :data:`PASSWORD`."""
    from board.models import profile_of  # type: ignore[import-not-found]

    username = f"{prefix}{next(_serial)}{secrets.token_hex(3)}"
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    profile = profile_of(user)
    if display_name:
        profile.display_name = display_name
        profile.save()
    return user


def session_cookie(user: Any) -> str:
    """A ``Cookie`` header value for a logged-in session of ``user``."""
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
