"""``chatcore serve``'s hooks from its settings: webhooks and the message proxy (docs/hooks.md)."""

from __future__ import annotations

from typing import cast

from chatcore.hooks import EVENT_KINDS, EventKind, FailMode, Hooks
from chatcore.webhooks import HttpMessageHook, Webhooks

from .config import ConfigError, Settings

__all__ = ("settings_hooks",)


def settings_hooks(
    settings: Settings, hooks: Hooks | None = None
) -> tuple[Hooks | None, HttpMessageHook | None]:
    """``hooks`` (the application's, or None) with the settings' webhooks and message proxy
    added after what it holds; the proxy, to close when the server stops."""
    if not settings.webhook_urls and settings.message_proxy_url is None:
        return hooks, None
    secret = settings.webhook_secret
    if not secret:
        raise ConfigError("webhook_urls and message_proxy_url need a webhook_secret to sign with")
    unknown = set(settings.webhook_kinds) - set(EVENT_KINDS)
    if unknown:
        raise ConfigError(f"webhook_kinds: unknown event kinds: {', '.join(sorted(unknown))}")
    hooks = hooks if hooks is not None else Hooks()
    if settings.webhook_urls:
        try:
            webhooks = Webhooks(
                settings.webhook_urls,
                secret,
                window=settings.webhook_window,
                attempts=settings.webhook_attempts,
                kinds=cast(tuple[EventKind, ...], settings.webhook_kinds),
            )
        except ValueError as error:
            raise ConfigError(f"webhooks: {error}") from None
        webhooks.install(hooks)
    proxy = None
    if settings.message_proxy_url is not None:
        if settings.message_proxy_timeout <= 0:
            raise ConfigError("message_proxy_timeout is a positive number of seconds")
        proxy = HttpMessageHook(
            settings.message_proxy_url,
            secret,
            timeout=settings.message_proxy_timeout,
            fail=cast(FailMode, settings.message_proxy_fail),
        )
        proxy.install(hooks)
    return hooks, proxy
