"""The origin check at the socket's handshake: the site's own origin, and the listed ones.

A browser page may open a WebSocket to any site and the browser sends the site's cookies with
it, so a socket from another page could act as the logged-in user. The handshake's ``Origin``
must therefore be the origin the socket itself was opened at: the same scheme (``ws`` for a page
on ``http``, ``wss`` for ``https``), host (one of ``ALLOWED_HOSTS``) and port as the handshake's
``Host``; or one of ``CHATCORE['ALLOWED_ORIGINS']`` (``"*"``: any). Channels' own
``AllowedHostsOriginValidator`` compares the host only, so a page on another port or scheme of the
same host got in. A socket without an ``Origin`` header was not opened by a browser page (a bot, a
test client), and cookies do not leak to it from another site: it is let through, and the
consumer still asks for a logged-in session. Refused handshakes get HTTP 403.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from chatcore.origins import AllowedOrigins, socket_origin

__all__ = ("SameOriginValidator", "own_origin")


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin1"))
    return None


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:  # as Django itself does for HTTP requests
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def own_origin(scope: dict[str, Any]) -> str | None:
    """The origin of a page on the site the socket was opened at (from its ``Host``), if that
    host is one of ``ALLOWED_HOSTS``."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host.lower())
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    return socket_origin(str(scope.get("scheme", "ws")), host)


class SameOriginValidator:
    """ASGI middleware: lets a WebSocket handshake through only from the site's own origin or one
    of ``allowed_origins`` (``"*"`` allows any); a handshake without ``Origin`` passes."""

    def __init__(self, application: Any, allowed_origins: Collection[str] = ()) -> None:
        self.application = application
        self.allowed_origins = AllowedOrigins(allowed_origins)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not self.allows(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)

    def allows(self, scope: dict[str, Any]) -> bool:
        """Whether the handshake's ``Origin`` (if any) may open a socket."""
        # (A listed origin adds to the site's own; "null", a sandboxed page, is refused.)
        return self.allowed_origins.allow(_header(scope, b"origin"), own_origin(scope))
