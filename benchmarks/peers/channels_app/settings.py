"""Settings of the Channels peer: no database, no auth; the layer from ``CHANNEL_LAYER``.

``CHANNEL_LAYER=memory`` (default) or ``redis``; ``REDIS_URL`` for the latter.
"""

from __future__ import annotations

import os

SECRET_KEY = "benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
DATABASES: dict[str, object] = {}
ASGI_APPLICATION = "channels_app.asgi.application"
USE_TZ = True

if os.environ.get("CHANNEL_LAYER", "memory") == "redis":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 caps a pool at 100 connections by default, fewer than a hundred
            # sockets joining at once need (each group_add borrows one).
            "CONFIG": {
                "prefix": os.environ.get("CHANNELS_REDIS_PREFIX", "asgi"),
                "hosts": [
                    {
                        "address": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                        "max_connections": 1_000,
                    }
                ],
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
