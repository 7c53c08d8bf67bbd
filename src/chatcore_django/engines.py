"""The PostgreSQL broker on the site's own database (``CHATCORE['BROKER'] = "postgres"``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from .conf import ChatSettings

if TYPE_CHECKING:
    from chatcore.postgres import PostgresBroker

__all__ = ("conninfo", "database_conninfo", "postgres_broker")

#: Connection options of Django's ``OPTIONS`` that are libpq's too (the others are Django's).
_LIBPQ_OPTIONS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslpassword",
        "service",
        "passfile",
        "options",
        "connect_timeout",
        "target_session_attrs",
        "gssencmode",
        "channel_binding",
    }
)


def database_conninfo(alias: str = "default") -> str:
    """A libpq connection string for the Django database ``alias``, which must be PostgreSQL."""
    return conninfo(connections[alias].settings_dict, alias)


def conninfo(settings: dict[str, Any], alias: str = "default") -> str:
    """A libpq connection string for a ``DATABASES`` entry (PostgreSQL)."""
    from psycopg.conninfo import make_conninfo

    if "postgresql" not in settings["ENGINE"]:
        raise ImproperlyConfigured(
            f"CHATCORE['BROKER'] 'postgres' needs a PostgreSQL database (DATABASES[{alias!r}] "
            "uses another engine), or CHATCORE['POSTGRES_URL']"
        )
    params = {
        "dbname": settings.get("NAME"),
        "user": settings.get("USER"),
        "password": settings.get("PASSWORD"),
        "host": settings.get("HOST"),
        "port": settings.get("PORT"),
    }
    for key, value in (settings.get("OPTIONS") or {}).items():
        if key in _LIBPQ_OPTIONS:
            params[key] = value
    return make_conninfo("", **{key: str(value) for key, value in params.items() if value})


def postgres_broker(config: ChatSettings) -> PostgresBroker:
    """The broker of ``config``: on ``POSTGRES_URL``, else on the site's database."""
    try:
        from chatcore.postgres import PostgresBroker
    except ImportError as error:  # psycopg is missing
        raise ImproperlyConfigured(
            "CHATCORE['BROKER'] 'postgres' needs chatcore[postgres]"
        ) from error
    url = config.postgres_url or database_conninfo()
    return PostgresBroker(url, prefix=config.postgres_prefix)
