"""The JSON of the history a reply holds, made once per page of messages.

A reconnect wave sends many identical ``join since`` and ``history`` requests, and the shared
reads (``_shared_reads``) hand each of them the same page object. Each reply holds the newest
of the page's messages that fit in a quarter of the outbox's byte budget; this module encodes
them once per page and budget and keeps the result for the last few pages, by identity (a kept
page cannot be freed and its id reused), so the wave costs one encoding, not one per client.
"""

from __future__ import annotations

from ..wire._json import RawJSON, dumps
from ..wire.protocol import frame_size
from ..wire.values import Message

__all__ = ("newest_fitting",)

#: Pages kept at most (each holds at most a quarter of an outbox's bytes of text).
KEPT = 16

_kept: dict[int, tuple[tuple[Message, ...], int, RawJSON, bool]] = {}


def newest_fitting(messages: tuple[Message, ...], budget: int) -> tuple[RawJSON, bool]:
    """The JSON list of the newest ``messages`` whose texts fit in ``budget`` bytes (each with
    a comma), and whether older ones were left out."""
    key = id(messages)
    found = _kept.get(key)
    if found is not None and found[0] is messages and found[1] == budget:
        return found[2], found[3]
    texts = [dumps(message.to_wire()) for message in messages]
    room, first = budget, 0
    for index in range(len(texts) - 1, -1, -1):
        room -= frame_size(texts[index]) + 1
        if room < 0:
            first = index + 1
            break
    made = RawJSON(f"[{','.join(texts[first:])}]"), first > 0
    if len(_kept) >= KEPT:
        _kept.clear()  # (a wave reads few pages: the newest are soon kept again)
    _kept[key] = (messages, budget, *made)
    return made
