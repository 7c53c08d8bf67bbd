"""ChatBoard's ASGI application: pages, static files and avatars over HTTP, chat at /ws/."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatboard.settings")
django_asgi = get_asgi_application()  # sets Django up before the imports below

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

import chatcore_django  # noqa: E402
from chatcore_django.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The site serves its own scripts and styles (no CDN), under any ASGI server.
        "http": ASGIStaticFilesHandler(django_asgi),
        "websocket": websocket_application(),
        "lifespan": chatcore_django.lifespan,
    }
)
