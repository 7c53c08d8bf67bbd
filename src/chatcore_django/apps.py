"""The Django app: models, admin, and the logout signal that closes a user's sockets."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_out

__all__ = ("ChatcoreConfig",)


class ChatcoreConfig(AppConfig):
    name = "chatcore_django"
    label = "chatcore_django"
    verbose_name = "Chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        user_logged_out.connect(_close_sockets, dispatch_uid="chatcore_django.logout")


def _close_sockets(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """A logged-out user keeps no open chat socket, in any tab or process."""
    if user is not None and user.pk is not None:
        from .sync import disconnect_user

        disconnect_user(user)
