"""Settings of the chatcore Django target: the in-memory store, Redis broker if ``REDIS_URL``.

Limits are raised so the rate limit never refuses the sender and the outbox holds the
generator's whole window (and the join notices of a room filling up).
"""

from __future__ import annotations

import os

SECRET_KEY = "benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels", "chatcore_django"]
DATABASES: dict[str, object] = {}
USE_TZ = True

CHATCORE = {
    "STORE": "memory",
    "USER": "chatcore_django_app.asgi.bench_user",
    # (connections_per_user: the generator opens many tabs per user, as for the Starlette app.)
    "LIMITS": {
        "rate": 1_000_000,
        "burst": 1_000_000,
        "outbox": 4_096,
        "connections_per_user": 100_000,
    },
    "REDIS_URL": os.environ.get("CHATCORE_REDIS_URL") or None,
    "REDIS_PREFIX": os.environ.get("CHATCORE_REDIS_PREFIX", "bench:"),
    # The bench users are in no user or session table: no login to check again.
    "REVALIDATE": None,
}
