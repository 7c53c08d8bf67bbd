"""Webhooks and the HTTP proxy for message hooks: the hooks handed to another service over HTTP.

- :class:`Webhooks` POSTs listener events as JSON, in batches, signed with an HMAC header,
  retried with backoff (one batch in flight per URL, so each URL gets the events in order);
- :class:`HttpMessageHook` is a message hook that asks a backend whether to pass, change or
  refuse each message (the model is Centrifugo's publish proxy).

Both sign the body: ``X-Chatcore-Signature: sha256=<hex HMAC-SHA256 of the body>``
(:func:`signature`; a receiver checks it with :func:`verify`). Needs the ``webhooks`` extra
(httpx). See docs/hooks.md.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import secrets
from collections import deque
from collections.abc import Sequence
from typing import Any

import anyio
import httpx

from .clock import Clock
from .hooks import ChatEvent, Draft, EventKind, FailMode, Hooks
from .wire.errors import MessageRejected

__all__ = ("SIGNATURE_HEADER", "HttpMessageHook", "Webhooks", "signature", "verify")

log = logging.getLogger("chatcore.webhooks")

#: The header that carries a body's signature.
SIGNATURE_HEADER = "X-Chatcore-Signature"
_KEEP: Any = object()


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def signature(secret: str | bytes, body: bytes) -> str:
    """The signature header's value for ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


def verify(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is ``body``'s signature with ``secret`` (in constant time)."""
    return header is not None and hmac.compare_digest(signature(secret, body), header)


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class Webhooks:
    """POST listener events to ``urls``: ``{"events": [...]}``, gathered for ``window`` ms, at
    most ``max_batch`` a request, each request tried ``attempts`` times in all (``backoff``
    seconds after the first failure, doubling). ``kinds`` limits the events sent (none: all).

    Each request carries ``X-Chatcore-Signature`` and ``X-Chatcore-Batch`` (the same on a
    retry, so a receiver can drop a batch it has seen) and ``X-Chatcore-Attempt`` (1, 2, ...).
    Events still queued when the server stops are not sent.
    """

    def __init__(
        self,
        urls: Sequence[str],
        secret: str | bytes,
        *,
        window: int = 1000,
        max_batch: int = 100,
        attempts: int = 5,
        backoff: float = 0.5,
        timeout: float = 5.0,
        kinds: Sequence[EventKind] = (),
    ) -> None:
        if not urls or attempts < 1 or max_batch < 1 or window < 0:
            raise ValueError("webhooks need URLs, attempts >= 1, max_batch >= 1, window >= 0")
        self.urls = tuple(urls)
        self.secret = secret
        self.window = window
        self.max_batch = max_batch
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.kinds = tuple(kinds)
        self._queues: dict[str, deque[dict[str, Any]]] = {url: deque() for url in self.urls}
        self._wake: dict[str, anyio.Event] = {}
        self._batch_ids = itertools.count(1)
        self._prefix = secrets.token_hex(4)

    def install(self, hooks: Hooks) -> None:
        """Send the events of the server that runs ``hooks``."""
        hooks.add_listener(self, *self.kinds)
        hooks.on_start(self.start)

    async def start(self, server: Any) -> None:
        """Start one sender per URL in ``server`` (a :class:`~chatcore.ChatServer`)."""
        for url in self.urls:
            server.spawn(self._send_forever, url, server.clock)

    async def __call__(self, event: ChatEvent) -> None:
        """The listener: queue ``event`` for every URL (never waits for the network)."""
        wire = event.to_wire()
        for url in self.urls:
            self._queues[url].append(wire)
            wake = self._wake.pop(url, None)
            if wake is not None:
                wake.set()

    async def _send_forever(self, url: str, clock: Clock) -> None:
        queue = self._queues[url]
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while True:
                if not queue:
                    wake = self._wake[url] = anyio.Event()
                    await wake.wait()
                await clock.sleep_until(clock.now() + self.window)
                while queue:
                    batch = [queue.popleft() for _ in range(min(self.max_batch, len(queue)))]
                    await self._post(client, url, batch)

    async def _post(self, client: httpx.AsyncClient, url: str, batch: list[dict[str, Any]]) -> None:
        body = _encode({"events": batch})
        batch_id = f"{self._prefix}-{next(self._batch_ids)}"
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature(self.secret, body),
                "X-Chatcore-Batch": batch_id,
                "X-Chatcore-Attempt": str(attempt),
            }
            try:
                response = await client.post(url, content=body, headers=headers)
                if response.is_success:
                    return
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {error}"
            if attempt == self.attempts:
                break
            log.warning("webhook %s failed (%s); retrying in %.1f s", url, problem, delay)
            await anyio.sleep(delay)
            delay *= 2
        log.error("webhook %s dropped %d events after %d attempts", url, len(batch), self.attempts)


class HttpMessageHook:
    """A message hook that POSTs each :class:`~chatcore.hooks.Draft` (its ``to_wire``, signed)
    to ``url`` and does what the answer says: ``{}`` passes it,
    ``{"result": {"text": ..., "meta": ...}}`` changes it (either key may be left out),
    ``{"error": {"message": ..., "reason": ...}}`` refuses it (``rejected``). Any other answer,
    an error status or no answer within ``timeout`` seconds fails as ``fail`` says."""

    def __init__(
        self, url: str, secret: str | bytes, *, timeout: float = 1.0, fail: FailMode = "closed"
    ) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.fail = fail
        self._client: httpx.AsyncClient | None = None

    def install(self, hooks: Hooks) -> None:
        """Add this proxy to ``hooks``' message hooks (after those added before)."""
        hooks.add_message_hook(self, timeout=self.timeout, fail=self.fail)

    async def __call__(self, draft: Draft) -> Draft | None:
        if self._client is None:
            # The hook's time budget bounds the request; httpx's own timeout is a backstop.
            self._client = httpx.AsyncClient(timeout=self.timeout + 1)
        body = _encode(draft.to_wire())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self.secret, body),
        }
        response = await self._client.post(self.url, content=body, headers=headers)
        response.raise_for_status()
        answer = response.json()
        if not isinstance(answer, dict):
            raise ValueError(f"the proxy answered {answer!r}")
        error = answer.get("error")
        if isinstance(error, dict):
            reason = error.get("reason")
            raise MessageRejected(
                str(error.get("message") or "the message was refused"),
                reason=str(reason) if reason is not None else None,
            )
        result = answer.get("result")
        if result is None:
            return None
        if not isinstance(result, dict):
            raise ValueError(f"the proxy's result is {result!r}")
        text = result.get("text", _KEEP)
        if text is not _KEEP and not isinstance(text, str):
            raise ValueError("the proxy's text is not a string")
        return draft.evolve(text=text, meta=result.get("meta", _KEEP))

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
