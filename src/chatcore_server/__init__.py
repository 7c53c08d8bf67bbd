"""The native adapter and the standalone chat server (``chatcore serve``; see docs/server.md).

:class:`ChatApp` serves chat over WebSockets itself, on asyncio (uvloop when installed), with
fan-out frames built once as bytes for every recipient::

    async with ChatServer() as server:
        app = ChatApp(server, authenticate)
        await app.listen("127.0.0.1", 8080)
"""

from ._http import Request as Request
from ._http import Response as Response
from .app import ChatApp as ChatApp
from .app import HttpHandler as HttpHandler
from .login import Authenticate as Authenticate
from .login import Login as Login
from .login import LoginRefused as LoginRefused
from .login import TokenLogin as TokenLogin

__all__ = (
    "Authenticate",
    "ChatApp",
    "HttpHandler",
    "Login",
    "LoginRefused",
    "Request",
    "Response",
    "TokenLogin",
)
