"""``chatcore serve``'s settings: from flags, the environment (``CHATCORE_...``) and a TOML file.

A flag wins over its environment variable, which wins over the file (``--config``, or
``CHATCORE_CONFIG``), which wins over the default. The file uses the flags' names with
underscores (``jwt_secret = "..."``) and may hold a ``[limits]`` table of
:class:`chatcore.Limits` fields.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from chatcore import Limits

__all__ = ("ConfigError", "Settings", "parser", "settings")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message says which."""


def _words(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(word for word in (w.strip() for w in value.split(",")) if word)
    return tuple(str(word) for word in value)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


@attrs.frozen(kw_only=True)
class Settings:
    """Everything ``chatcore serve`` is told."""

    host: str = "127.0.0.1"
    port: int = attrs.field(default=8080, converter=int)
    #: HS256 secret, or an RS256/ES256 public key (PEM text, or the path of a PEM file).
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_algorithms: tuple[str, ...] = attrs.field(default=(), converter=_words)
    jwt_leeway: float = attrs.field(default=0.0, converter=float)
    #: A socket without a token comes in as a fresh guest user.
    guests: bool = attrs.field(default=False, converter=_flag)
    #: The HTTP API's bearer key; without one the API answers 401 to everything.
    api_key: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "chatcore:"
    redis_expiry: float = attrs.field(default=15.0, converter=float)
    #: Origins that may open sockets (``*``: any; tokens, not cookies, carry the login).
    allowed_origins: tuple[str, ...] = attrs.field(default=("*",), converter=_words)
    #: A folder served at ``/`` (a page using ``/static/chatcore.js``), for demos.
    static: str | None = None
    drain_seconds: float = attrs.field(default=30.0, converter=float)
    drain_batch: int = attrs.field(default=500, converter=int)
    log_format: str = attrs.field(default="json", validator=attrs.validators.in_(("json", "text")))
    log_level: str = "info"
    #: Listener events are POSTed to these URLs (:class:`chatcore.webhooks.Webhooks`).
    webhook_urls: tuple[str, ...] = attrs.field(default=(), converter=_words)
    #: Signs the webhook POSTs and the message proxy's requests (HMAC-SHA256).
    webhook_secret: str | None = None
    webhook_window: int = attrs.field(default=1000, converter=int)
    webhook_attempts: int = attrs.field(default=5, converter=int)
    webhook_kinds: tuple[str, ...] = attrs.field(default=(), converter=_words)
    #: Each client message is POSTed here first (:class:`chatcore.webhooks.HttpMessageHook`).
    message_proxy_url: str | None = None
    message_proxy_timeout: float = attrs.field(default=1.0, converter=float)
    message_proxy_fail: str = attrs.field(
        default="closed", validator=attrs.validators.in_(("closed", "open"))
    )
    limits: Mapping[str, Any] = attrs.field(factory=dict)

    def chat_limits(self) -> Limits:
        """The :class:`chatcore.Limits` of the file's ``[limits]`` table."""
        try:
            return Limits(**self.limits)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"[limits]: {error}") from None

    def public_key(self) -> str | None:
        """The public key's PEM text (read from its file if a path was given)."""
        key = self.jwt_public_key
        if key is None or "-----BEGIN" in key:
            return key
        try:
            return Path(key).read_text()
        except OSError as error:
            raise ConfigError(f"jwt_public_key: cannot read {key}: {error}") from None


#: The options (besides --config), as Settings fields; each is also CHATCORE_<NAME>.
_OPTIONS: dict[str, str] = {
    "host": "address to listen on",
    "port": "port to listen on",
    "jwt_secret": "HS256 secret of the login tokens",
    "jwt_public_key": "RS256/ES256 public key of the login tokens (PEM text or file)",
    "jwt_algorithms": "accepted algorithms, comma-separated (default: HS256 with a secret, RS256 and ES256 with a key)",
    "jwt_leeway": "seconds of clock skew allowed on exp",
    "api_key": "bearer key of the HTTP API",
    "redis_url": "Redis URL: many processes share one chat",
    "redis_prefix": "prefix of the Redis keys",
    "redis_expiry": "seconds a dead process's users stay online in Redis",
    "allowed_origins": "origins that may open sockets, comma-separated (* for any)",
    "static": "a folder to serve at / (demos)",
    "drain_seconds": "on SIGTERM, the longest wait for sockets to go",
    "drain_batch": "on SIGTERM, sockets closed per batch (0.1 s apart)",
    "log_format": "json or text",
    "log_level": "debug, info, warning or error",
    "webhook_urls": "URLs the chat events are POSTed to, comma-separated",
    "webhook_secret": "HMAC secret that signs the webhooks and the message proxy's requests",
    "webhook_window": "milliseconds events are gathered into one webhook POST",
    "webhook_attempts": "tries of a webhook POST before it is dropped (backoff doubling)",
    "webhook_kinds": "event kinds to POST, comma-separated (default: all)",
    "message_proxy_url": "URL each client message is POSTed to before it is stored",
    "message_proxy_timeout": "seconds the message proxy has to answer",
    "message_proxy_fail": "closed (refuse the message) or open (pass it) when the proxy fails",
}


def parser() -> argparse.ArgumentParser:
    """The ``chatcore serve`` flags."""
    parser = argparse.ArgumentParser(prog="chatcore serve", description="Run the chat server.")
    parser.add_argument("--config", help="a TOML file of settings (or CHATCORE_CONFIG)")
    for name, text in _OPTIONS.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, help=text)
    parser.add_argument(
        "--guests",
        action="store_true",
        default=None,
        help="let sockets without a token in as guests",
    )
    return parser


def settings(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of ``chatcore serve ARGV`` in ``environ`` (default: the process's)."""
    environ = os.environ if environ is None else environ
    flags = vars(parser().parse_args(argv))
    path = flags.pop("config") or environ.get("CHATCORE_CONFIG")
    values: dict[str, Any] = {}
    if path:
        try:
            values.update(tomllib.loads(Path(path).read_text()))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"--config {path}: {error}") from None
    fields = attrs.fields_dict(Settings)
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
    for name in fields:
        variable = environ.get(f"CHATCORE_{name.upper()}")
        if variable is not None and name != "limits":
            values[name] = variable
        if flags.get(name) is not None:
            values[name] = flags[name]
    try:
        return Settings(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(str(error)) from None
