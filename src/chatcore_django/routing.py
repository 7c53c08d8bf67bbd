"""URL routing for the chat socket, and the ASGI wrapping it needs."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from django.urls import path

from .conf import chat_settings
from .consumer import ChatConsumer
from .origin import SameOriginValidator

__all__ = ("websocket_application", "websocket_urlpatterns")

websocket_urlpatterns = [path("ws/", ChatConsumer.as_asgi())]


def websocket_application(patterns: list[Any] | None = None) -> Any:
    """The ``websocket`` app for ``ProtocolTypeRouter``: origin check (the site's own origin and
    ``CHATCORE['ALLOWED_ORIGINS']``), session user, routes."""
    from channels.routing import URLRouter

    return SameOriginValidator(
        AuthMiddlewareStack(URLRouter(patterns or websocket_urlpatterns)),
        chat_settings().allowed_origins,
    )
