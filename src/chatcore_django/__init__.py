"""Django Channels adapter for chatcore (see docs/django.md).

Add ``"chatcore_django"`` to ``INSTALLED_APPS``, route ``chatcore_django.routing`` for the
``websocket`` protocol, and configure it with one ``CHATCORE`` dict in the settings. Models,
routing and the consumer need the app registry, so import them from their modules.
"""

from pathlib import Path

import chatcore

from .conf import ChatSettings as ChatSettings
from .conf import chat_settings as chat_settings
from .runtime import build_server as build_server
from .runtime import get_server as get_server
from .runtime import lifespan as lifespan
from .runtime import running_server as running_server
from .runtime import stop_server as stop_server
from .users import DjangoDirectory as DjangoDirectory
from .users import chat_user as chat_user
from .users import default_chat_user as default_chat_user

#: A ``STATICFILES_DIRS`` entry serving ``chatcore.js`` at ``<STATIC_URL>chatcore/chatcore.js``.
STATIC_DIR = ("chatcore", str(Path(chatcore.__file__).parent / "static"))

__all__ = (
    "STATIC_DIR",
    "ChatSettings",
    "DjangoDirectory",
    "build_server",
    "chat_settings",
    "chat_user",
    "default_chat_user",
    "get_server",
    "lifespan",
    "running_server",
    "stop_server",
)
