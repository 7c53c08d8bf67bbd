"""Starlette adapter for chatcore (see docs/starlette.md).

Serve chat on a WebSocket route and run the server in the app's lifespan::

    server = ChatServer()
    app = Starlette(
        routes=[chat_route("/ws", server, authenticate)],
        lifespan=chat_lifespan(server),
    )

The chat's Prometheus metrics: ``metrics_route("/metrics")`` (docs/metrics.md).

Where the framework finds the user (a FastAPI dependency), :class:`ChatSockets` serves a socket
with a known user: ``await sockets.serve(websocket, user)``.
"""

from .endpoint import Authenticate as Authenticate
from .endpoint import ChatEndpoint as ChatEndpoint
from .endpoint import ChatSockets as ChatSockets
from .endpoint import chat_route as chat_route
from .lifespan import chat_lifespan as chat_lifespan
from .metrics import metrics_endpoint as metrics_endpoint
from .metrics import metrics_route as metrics_route

__all__ = (
    "Authenticate",
    "ChatEndpoint",
    "ChatSockets",
    "chat_lifespan",
    "chat_route",
    "metrics_endpoint",
    "metrics_route",
)
