"""The adapter's settings: one ``CHATCORE`` dict in the Django settings, read into one value.

Keys (all optional)::

    CHATCORE = {
        "LIMITS": {"presence_grace": 5_000, "rate": 10, ...},  # any chatcore.Limits field
        "USER": "myapp.chat.chat_user",    # Django user -> chatcore.User (see docs/django.md)
        "POLICY": "myapp.chat.SitePolicy",  # a chatcore.Policy subclass
        "STORE": "orm",                     # "orm" (the site's database) or "memory"
        "HISTORY_SIZE": None,               # messages kept per room by the ORM store; None: all
                                            # (the memory store keeps LIMITS["history_size"])
        "AUTO_CREATE": False,               # rooms that exist while someone is in them
        "REDIS_URL": None,                  # a Redis broker, for several server processes
        "REDIS_PREFIX": "chatcore:",        # its keys and channels start with this
        "BROKER": None,                     # "memory", "redis" or "postgres"; None: "redis"
                                            # with a REDIS_URL, else "memory"
        "POSTGRES_URL": None,               # the PostgreSQL broker's database; None: the
                                            # site's "default" database (PostgreSQL)
        "POSTGRES_PREFIX": "chatcore_",     # its tables, functions and channels start with this
        "REVALIDATE": 60,                   # seconds between checks of each socket's login; None: never
        "ALLOWED_ORIGINS": [],              # page origins allowed besides the site's own; "*": any
        "METRICS_TOKEN": None,              # lets Prometheus read chatcore_django.views.metrics
        "HOOKS": None,                      # "myapp.chat.install_hooks": called with the
                                            # chatcore.hooks.Hooks when the server is built
    }
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from chatcore import Limits, Policy, User

__all__ = ("ChatSettings", "chat_settings")

_KEYS = frozenset(
    {
        "LIMITS",
        "USER",
        "POLICY",
        "STORE",
        "HISTORY_SIZE",
        "AUTO_CREATE",
        "REDIS_URL",
        "REDIS_PREFIX",
        "BROKER",
        "POSTGRES_URL",
        "POSTGRES_PREFIX",
        "REVALIDATE",
        "ALLOWED_ORIGINS",
        "METRICS_TOKEN",
        "HOOKS",
    }
)
_DEFAULT_USER_HOOK = "chatcore_django.users.default_chat_user"


@attrs.frozen(kw_only=True)
class ChatSettings:
    """The ``CHATCORE`` settings, checked."""

    limits: Limits
    user_hook: Callable[[Any], User]
    policy: Policy
    store: str
    history_size: int | None
    auto_create: bool
    redis_url: str | None
    redis_prefix: str
    broker: str
    postgres_url: str | None
    postgres_prefix: str
    revalidate: float | None
    allowed_origins: frozenset[str]
    metrics_token: str | None = None
    #: Adds the application's hooks to a new server's ``Hooks`` (docs/hooks.md).
    hooks: Callable[[Any], None] | None = None


def chat_settings() -> ChatSettings:
    """Read and check ``settings.CHATCORE``; :class:`ImproperlyConfigured` names what is wrong."""
    raw: dict[str, Any] = dict(getattr(django_settings, "CHATCORE", None) or {})
    unknown = set(raw) - _KEYS
    if unknown:
        raise ImproperlyConfigured(f"CHATCORE has unknown keys: {', '.join(sorted(unknown))}")
    try:
        limits = Limits(**raw.get("LIMITS", {}))
    except (TypeError, ValueError) as error:
        raise ImproperlyConfigured(f"CHATCORE['LIMITS'] is invalid: {error}") from error
    store = raw.get("STORE", "orm")
    if store not in ("orm", "memory"):
        raise ImproperlyConfigured("CHATCORE['STORE'] is 'orm' or 'memory'")
    history_size = raw.get("HISTORY_SIZE")
    if history_size is not None and (not isinstance(history_size, int) or history_size < 1):
        raise ImproperlyConfigured("CHATCORE['HISTORY_SIZE'] is a positive int or None")
    revalidate = raw.get("REVALIDATE", 60)
    if revalidate is not None and (
        isinstance(revalidate, bool) or not isinstance(revalidate, int | float) or revalidate <= 0
    ):
        raise ImproperlyConfigured("CHATCORE['REVALIDATE'] is a positive number of seconds or None")
    origins = raw.get("ALLOWED_ORIGINS", ())
    if isinstance(origins, str) or not all(isinstance(origin, str) for origin in origins):
        raise ImproperlyConfigured("CHATCORE['ALLOWED_ORIGINS'] is a list of origins (or '*')")
    from chatcore.origins import normalize_origin

    for origin in origins:
        if origin != "*" and normalize_origin(origin) is None:
            raise ImproperlyConfigured(
                f"CHATCORE['ALLOWED_ORIGINS']: {origin!r} is not an origin like 'https://example.com'"
            )
    redis_url = raw.get("REDIS_URL") or None
    broker = raw.get("BROKER") or ("redis" if redis_url else "memory")
    if broker not in ("memory", "redis", "postgres"):
        raise ImproperlyConfigured("CHATCORE['BROKER'] is 'memory', 'redis' or 'postgres'")
    if broker == "redis" and not redis_url:
        raise ImproperlyConfigured("CHATCORE['BROKER'] 'redis' needs CHATCORE['REDIS_URL']")
    policy_path = raw.get("POLICY")
    policy = import_string(policy_path)() if policy_path else Policy()
    return ChatSettings(
        limits=limits,
        user_hook=import_string(raw.get("USER") or _DEFAULT_USER_HOOK),
        policy=policy,
        store=store,
        history_size=history_size,
        auto_create=bool(raw.get("AUTO_CREATE", False)),
        redis_url=redis_url,
        redis_prefix=str(raw.get("REDIS_PREFIX") or "chatcore:"),
        broker=broker,
        postgres_url=raw.get("POSTGRES_URL") or None,
        postgres_prefix=str(raw.get("POSTGRES_PREFIX") or "chatcore_"),
        revalidate=None if revalidate is None else float(revalidate),
        allowed_origins=frozenset(origins),
        metrics_token=_metrics_token(raw.get("METRICS_TOKEN")),
        hooks=import_string(raw["HOOKS"]) if raw.get("HOOKS") else None,
    )


def _metrics_token(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) < 16):
        raise ImproperlyConfigured("CHATCORE['METRICS_TOKEN'] is a string of 16 or more characters")
    return value or None
