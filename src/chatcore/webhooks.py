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
import attrs
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
    When the server stops, what is left (the batch under way, again, then the events still
    queued) is sent at once, one attempt a batch, within the stop's time (``Hooks.stop_wait``);
    what does not go out then is logged and dropped.
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
        self._senders: dict[str, _Sender] = {}  # the running server's, by URL

    def install(self, hooks: Hooks) -> None:
        """Send the events of the server that runs ``hooks``."""
        hooks.add_listener(self, *self.kinds)
        hooks.on_start(self.start)
        hooks.on_stop(self.stop)

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

    async def stop(self, server: Any) -> None:
        """The server stops: end the senders, then send what they left, one attempt a batch
        (the batch under way again: it may have arrived, and has the same id)."""
        senders = [self._senders.pop(url, None) for url in self.urls]
        for sender in senders:
            if sender is not None:
                sender.scope.cancel()
                await sender.done.wait()
        async with (
            httpx.AsyncClient(timeout=self.timeout) as client,
            anyio.create_task_group() as tg,
        ):
            for url, sender in zip(self.urls, senders, strict=True):
                under_way = sender.under_way if sender is not None else None
                tg.start_soon(self._send_left, client, url, under_way)

    async def _send_forever(self, url: str, clock: Clock) -> None:
        queue = self._queues[url]
        sender = self._senders[url] = _Sender(anyio.CancelScope(), anyio.Event())
        try:
            with sender.scope:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    while True:
                        if not queue:
                            wake = self._wake[url] = anyio.Event()
                            await wake.wait()
                        await clock.sleep_until(clock.now() + self.window)
                        while queue:
                            sender.under_way = self._batch(queue)
                            await self._post(client, url, sender.under_way, self.attempts)
                            sender.under_way = None
        finally:
            sender.done.set()

    def _batch(self, queue: deque[dict[str, Any]]) -> _Batch:
        events = [queue.popleft() for _ in range(min(self.max_batch, len(queue)))]
        return _Batch(f"{self._prefix}-{next(self._batch_ids)}", events)

    async def _send_left(
        self, client: httpx.AsyncClient, url: str, under_way: _Batch | None
    ) -> None:
        """The batch under way, then the queued events, one attempt a batch; what is still left
        when the stop's time is up is logged as dropped."""
        queue = self._queues[url]
        left = [under_way] if under_way is not None else []
        try:
            while left or queue:
                batch = left.pop() if left else self._batch(queue)
                left.append(batch)  # until its attempt has ended
                await self._post(client, url, batch, batch.attempt + 1)
                left.pop()
        finally:
            dropped = sum(len(batch.events) for batch in left) + len(queue)
            queue.clear()
            if dropped:
                log.error("webhook %s dropped %d events as the server stopped", url, dropped)

    async def _post(
        self, client: httpx.AsyncClient, url: str, batch: _Batch, attempts: int
    ) -> None:
        """Try ``batch`` until it goes through or it has had ``attempts`` attempts in all."""
        body = _encode({"events": batch.events})
        delay = self.backoff
        while batch.attempt < attempts:
            batch.attempt += 1
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature(self.secret, body),
                "X-Chatcore-Batch": batch.id,
                "X-Chatcore-Attempt": str(batch.attempt),
            }
            try:
                response = await client.post(url, content=body, headers=headers)
                if response.is_success:
                    return
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {error}"
            if batch.attempt == attempts:
                break
            log.warning("webhook %s failed (%s); retrying in %.1f s", url, problem, delay)
            await anyio.sleep(delay)
            delay *= 2
        log.error(
            "webhook %s dropped %d events after %d attempts", url, len(batch.events), attempts
        )


@attrs.define
class _Sender:
    """A running sender of one URL: its scope (cancelled at the stop), set done when it ended,
    and the batch it is sending or retrying (None between batches)."""

    scope: anyio.CancelScope
    done: anyio.Event
    under_way: _Batch | None = None


@attrs.define
class _Batch:
    """Events sent in one request: its id (the same on every attempt), and attempts so far."""

    id: str
    events: list[dict[str, Any]]
    attempt: int = 0


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
