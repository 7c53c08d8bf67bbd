"""Starlette adapter for chatcore (see docs/starlette.md).

Serve chat on a WebSocket route and run the server in the app's lifespan::

    server = ChatServer()
    app = Starlette(
        routes=[chat_route("/ws", server, authenticate)],
        lifespan=chat_lifespan(server),
    )
"""

from .endpoint import Authenticate as Authenticate
from .endpoint import ChatEndpoint as ChatEndpoint
from .endpoint import chat_route as chat_route
from .lifespan import chat_lifespan as chat_lifespan

__all__ = ("Authenticate", "ChatEndpoint", "chat_lifespan", "chat_route")
