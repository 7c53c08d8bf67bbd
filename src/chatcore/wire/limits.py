"""Limits and timings of a chat server, in one frozen value."""

from __future__ import annotations

from typing import Any

import attrs

from .values import MAX_TEXT

__all__ = ("Limits",)


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{attribute.name} must be a non-negative int, not {value!r}")


@attrs.frozen(kw_only=True)
class Limits:
    """What one connection may do, and how long the server waits for what.

    Sizes are in bytes of UTF-8, times in milliseconds, rates per second.
    """

    #: A frame larger than this gets a ``too_large`` error; the connection stays open.
    max_frame: int = attrs.field(default=16_384, validator=_positive)
    #: A frame larger than this closes the connection with 1009.
    hard_frame_cap: int = attrs.field(default=65_536, validator=_positive)
    #: Longest message text, in characters after trimming.
    max_text: int = attrs.field(default=MAX_TEXT, validator=_positive)
    #: Sustained frames per second per connection, and the burst allowed above it.
    rate: int = attrs.field(default=10, validator=_positive)
    burst: int = attrs.field(default=30, validator=_positive)
    #: Client errors allowed per ``abuse_window``; one more closes the connection with 1008.
    abuse_errors: int = attrs.field(default=30, validator=_positive)
    abuse_window: int = attrs.field(default=10_000, validator=_positive)
    #: Frames queued for a connection before the slow-consumer policy applies.
    outbox: int = attrs.field(default=512, validator=_positive)
    #: Bytes of frames the server holds for one connection (queued, or handed to a send that
    #: waits for the socket) before the slow-consumer policy applies. Replies that carry
    #: messages (``join``, ``history``) are cut to a quarter of it; the client pages for more.
    outbox_bytes: int = attrs.field(default=1_048_576, validator=_positive)
    #: Messages kept per room by the in-memory store.
    history_size: int = attrs.field(default=1_000, validator=_positive)
    #: Messages a ``join`` without ``since`` returns; most a ``join`` with ``since`` returns.
    join_history: int = attrs.field(default=50, validator=_positive)
    resume_limit: int = attrs.field(default=500, validator=_positive)
    #: Largest ``limit`` of a ``history`` request.
    history_page: int = attrs.field(default=100, validator=_positive)
    #: A user's ``typing`` notices in one room are passed on at most once per interval.
    typing_interval: int = attrs.field(default=2_000, validator=_positive)
    #: How long a user stays a member after their last connection in a room closes.
    presence_grace: int = attrs.field(default=5_000, validator=_positive)
    #: How long a socket may take to send its close frame once the server closed its
    #: connection; then the adapter ends it anyway (a client that stopped reading cannot take it).
    close_linger: int = attrs.field(default=5_000, validator=_positive)
    #: Rooms one connection may be in at once.
    rooms_per_connection: int = attrs.field(default=100, validator=_positive)
    #: Different emoji one message may carry; one more gets ``quota_exceeded``.
    reactions_per_message: int = attrs.field(default=20, validator=_positive)
    #: ``react``/``unreact`` per second per connection, and the burst allowed above it (on
    #: top of ``rate``): a reaction costs a fan-out to the whole room, as a message does.
    reaction_rate: int = attrs.field(default=5, validator=_positive)
    reaction_burst: int = attrs.field(default=10, validator=_positive)
    #: A message's reactions reach its room at most once per this many ms: the first at
    #: once, then the newest state at the end of each window (0: each one as it comes).
    reaction_batch: int = attrs.field(default=100, validator=_positive)

    #: Open connections of this process, all users together; one more is closed at once with
    #: 1013 (the server is full: try again, perhaps on another process). The ASGI server's own
    #: connection limit does not count WebSockets (uvicorn's ``--limit-concurrency`` does not).
    max_connections: int = attrs.field(default=20_000, validator=_positive)

    # Large rooms and online status (docs/protocol.md, "Large rooms and online status").
    #: Present members above which a room is large: no per-user ``presence`` join/leave
    #: events, an ``occupancy`` count instead, and members in pages.
    presence_limit: int = attrs.field(default=200, validator=_positive)
    #: A large room's ``occupancy`` is sent at most once per this many ms (across processes).
    occupancy_interval: int = attrs.field(default=1_000, validator=_positive)
    #: ... and less often in a room of more members than this: every ``count / scale``
    #: intervals (10 s in a room of 20,000), so counts cost a room at most about this many
    #: deliveries per interval, however large (0: every interval).
    occupancy_scale: int = attrs.field(default=2_000, validator=_positive)
    #: Members in a ``join`` reply of a large room, and the largest ``members`` ``limit``.
    members_page: int = attrs.field(default=100, validator=_positive)
    #: Members in the ``join`` reply of a large room (its first page; ``members`` pages on).
    join_members: int = attrs.field(default=20, validator=_positive)
    #: Users one connection may watch with ``watch_users``.
    watch_users: int = attrs.field(default=500, validator=_positive)

    # Per-user quotas: past one, the client gets ``quota_exceeded`` (see docs/protocol.md).
    #: Open connections of one user in this process; one more is closed at once with 4429.
    connections_per_user: int = attrs.field(default=20, validator=_positive)
    #: Group rooms one user may own (created with ``create_room`` and not deleted).
    rooms_per_user: int = attrs.field(default=50, validator=_positive)
    #: Rooms one user may create per hour in this process (``create_room``, and ``join`` of a
    #: missing room with ``auto_create``): a token bucket that holds this many and refills at
    #: this rate, so a user may create them all at once, then one every ``3600 / n`` seconds.
    rooms_per_hour: int = attrs.field(default=20, validator=_positive)
    #: Users present in one room at once (in every process); one more gets ``quota_exceeded``
    #: on ``join``.
    members_per_room: int = attrs.field(default=10_000, validator=_positive)
    #: Bytes of history the in-memory store keeps across all rooms (message text and client
    #: ids, plus a fixed overhead per message); past it, the oldest messages go first.
    history_bytes: int = attrs.field(default=64 * 1024 * 1024, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.hard_frame_cap < self.max_frame:
            raise ValueError("hard_frame_cap must be at least max_frame")
        for name in (
            "burst",
            "reaction_burst",
            "outbox",
            "max_connections",
            "connections_per_user",
            "rooms_per_user",
            "rooms_per_hour",
            "members_per_room",
            "members_page",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.outbox_bytes < self.hard_frame_cap:
            raise ValueError("outbox_bytes must be at least hard_frame_cap")

    def to_wire(self) -> dict[str, int]:
        """The limits a client needs to know, as sent in ``welcome``."""
        return {
            "max_frame": self.max_frame,
            "max_text": self.max_text,
            "rate": self.rate,
            "burst": self.burst,
            "history_page": self.history_page,
            "typing_interval": self.typing_interval,
            "presence_limit": self.presence_limit,
        }
