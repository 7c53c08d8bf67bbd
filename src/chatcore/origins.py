"""Which web pages may open a chat socket: the origin check both adapters make at the handshake.

A browser page may open a WebSocket to any site, and the browser sends that site's cookies with
it, so a socket opened from another page could act as the logged-in user. The handshake's
``Origin`` must be the origin of the site the socket was opened at: the same scheme (an ``http``
page for ``ws``, ``https`` for ``wss``), host and port as the handshake's ``Host``; or one of
the origins the site allows (``"*"``: any). A handshake without ``Origin`` was not made by a
browser page (a bot, a test client), and no other site's cookies reach it: it passes, and the
adapter still asks for a logged-in user.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

__all__ = ("AllowedOrigins", "normalize_origin", "socket_origin")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(origin: str) -> str | None:
    """``scheme://host:port`` in lower case with the port always given; None if ``origin`` is
    not an http(s) origin (``"null"``, a path, another scheme)."""
    try:
        parts = urlsplit(origin.strip().rstrip("/").lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path or parts.query:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port or _DEFAULT_PORTS[parts.scheme]}"


def socket_origin(scheme: str, host: str) -> str | None:
    """The origin of a page of the site a socket was opened at: its scheme (``ws``/``wss``,
    or ``http``/``https``) and its ``Host`` header."""
    page_scheme = "https" if scheme in ("wss", "https") else "http"
    return normalize_origin(f"{page_scheme}://{host}")


class AllowedOrigins:
    """The origins that may open sockets besides the site's own: ``origins`` as a site lists
    them (``"*"`` allows any)."""

    __slots__ = ("any", "origins")

    def __init__(self, origins: Collection[str] = ()) -> None:
        self.any = "*" in origins
        self.origins = frozenset(
            found for found in map(normalize_origin, origins) if found is not None
        )

    def allow(self, origin: str | None, own: str | None) -> bool:
        """Whether a handshake with ``origin`` (None: no header) may open a socket whose own
        site origin is ``own`` (None: unknown, so only the listed origins pass)."""
        if origin is None or self.any:
            return True
        normal = normalize_origin(origin)
        if normal is None:
            return False
        return normal in self.origins or (own is not None and normal == own)
