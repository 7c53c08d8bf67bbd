"""URL routing for the chat socket, and the ASGI wrapping it needs."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from .consumer import ChatConsumer

__all__ = ("websocket_application", "websocket_urlpatterns")

websocket_urlpatterns = [path("ws/", ChatConsumer.as_asgi())]


def websocket_application(patterns: list[Any] | None = None) -> Any:
    """The ``websocket`` app for ``ProtocolTypeRouter``: origin check, session user, routes."""
    from channels.routing import URLRouter

    return AllowedHostsOriginValidator(
        AuthMiddlewareStack(URLRouter(patterns or websocket_urlpatterns))
    )
