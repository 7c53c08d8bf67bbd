"""Chat metrics for Prometheus: one registry, read from counters the runtime keeps anyway.

The runtime counts with plain integers (a fan-out adds its number of recipients once, not one
per recipient) and the gauges are read from the running servers when Prometheus scrapes: the
chat's hot path pays no metrics library call. ``prometheus-client`` (the ``server`` extra) turns
them into the exposition format; without it chatcore works the same and :func:`render` says
the library is missing.

========================================  =======================================================
metric                                    what
========================================  =======================================================
``chatcore_connections``                  open connections (gauge)
``chatcore_rooms``                        rooms with a connection in this process (gauge)
``chatcore_frames_in_total``              frames received from clients
``chatcore_frames_out_total``             frames queued for clients: replies, errors, events
``chatcore_deliveries_total``             event frames fanned out to connections (one per
                                          recipient)
``chatcore_dropped_total``                ephemeral frames (typing) dropped for slow clients
``chatcore_closes_total{code}``           connections ended, by close code (1000: the client
                                          left; 1013: a slow consumer, ...)
``chatcore_broker_publish_seconds``       how long ``Broker.publish`` takes (histogram; the
                                          Redis broker's: see :func:`timed_publish`)
========================================  =======================================================

Every figure is this process's: add them up across processes in Prometheus.
"""

from __future__ import annotations

import bisect
import functools
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

__all__ = (
    "CONTENT_TYPE",
    "COUNTS",
    "PUBLISH_BUCKETS",
    "REGISTRY",
    "Counts",
    "Gauges",
    "observe_publish",
    "register",
    "render",
    "timed_publish",
    "track",
    "untrack",
)

_clock = time.perf_counter

#: The exposition format's content type (Prometheus text format 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Upper bounds (seconds) of the publish latency buckets: an in-memory publish takes
#: microseconds, a Redis one a network round trip.
PUBLISH_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


class Counts:
    """The process's counters, as plain integers the runtime adds to."""

    __slots__ = ("closes", "deliveries", "dropped", "frames_in", "frames_out", "publish")

    def __init__(self) -> None:
        self.frames_in = 0
        self.frames_out = 0  # frames a connection queued itself (replies, errors, welcome)
        self.deliveries = 0  # frames fan-out queued (also frames out)
        self.dropped = 0  # of connections that ended (the open ones keep their own)
        self.closes: dict[int, int] = {}
        # Count per bucket (the last one: past every bound), then the sum of the seconds.
        self.publish: list[float] = [0.0] * (len(PUBLISH_BUCKETS) + 2)

    def closed(self, code: int, dropped: int) -> None:
        """A connection ended with ``code``, having dropped ``dropped`` ephemeral frames."""
        self.closes[code] = self.closes.get(code, 0) + 1
        self.dropped += dropped


#: The one set of counters of this process.
COUNTS = Counts()


def observe_publish(seconds: float) -> None:
    """Count one ``Broker.publish`` that took ``seconds``."""
    publish = COUNTS.publish
    publish[bisect.bisect_left(PUBLISH_BUCKETS, seconds)] += 1
    publish[-1] += seconds


_Publish = TypeVar("_Publish", bound=Callable[..., Awaitable[None]])


def timed_publish(publish: _Publish) -> _Publish:
    """Decorates a broker's ``async def publish(self, envelope)``: each call is timed into
    ``chatcore_broker_publish_seconds``. For brokers that talk to a server (the Redis broker
    does): timing costs about a microsecond, nothing beside a network round trip, but as much
    as an in-memory publish itself, which is left untimed."""

    @functools.wraps(publish)
    async def timed(*args: Any, **kwargs: Any) -> None:
        start = _clock()
        try:
            await publish(*args, **kwargs)
        finally:
            observe_publish(_clock() - start)

    return cast(_Publish, timed)


@attrs.frozen
class Gauges:
    """What a running server has now: open connections, rooms with a connection here, and
    ephemeral frames its open connections dropped so far."""

    connections: int
    rooms: int
    dropped: int


_sources: dict[int, Callable[[], Gauges]] = {}


def track(owner: object, gauges: Callable[[], Gauges]) -> None:
    """Read ``gauges`` at every scrape until :func:`untrack` (a server does, while it runs)."""
    _sources[id(owner)] = gauges


def untrack(owner: object) -> None:
    _sources.pop(id(owner), None)


def _families() -> Iterator[Metric]:
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    now = [source() for source in list(_sources.values())]
    counts = COUNTS
    yield GaugeMetricFamily(
        "chatcore_connections", "Open connections.", sum(g.connections for g in now)
    )
    yield GaugeMetricFamily(
        "chatcore_rooms", "Rooms with a connection in this process.", sum(g.rooms for g in now)
    )
    yield CounterMetricFamily(
        "chatcore_frames_in", "Frames received from clients.", counts.frames_in
    )
    yield CounterMetricFamily(
        "chatcore_frames_out",
        "Frames queued for clients: replies, errors and events.",
        counts.frames_out + counts.deliveries,
    )
    yield CounterMetricFamily(
        "chatcore_deliveries",
        "Event frames fanned out to connections, one per recipient.",
        counts.deliveries,
    )
    yield CounterMetricFamily(
        "chatcore_dropped",
        "Ephemeral frames (typing) dropped for slow clients.",
        counts.dropped + sum(g.dropped for g in now),
    )
    closes = CounterMetricFamily(
        "chatcore_closes", "Connections ended, by WebSocket close code.", labels=["code"]
    )
    # (Copies, taken whole: a scrape may run in another thread, as Django's sync view does.)
    for code, closed in sorted(counts.closes.copy().items()):
        closes.add_metric([str(code)], closed)
    yield closes
    publish = list(counts.publish)
    cumulative, buckets = 0.0, []
    for bound, in_bucket in zip((*PUBLISH_BUCKETS, float("inf")), publish[:-1], strict=True):
        cumulative += in_bucket
        buckets.append((_bound(bound), cumulative))
    yield HistogramMetricFamily(
        "chatcore_broker_publish_seconds",
        "Time of each Broker.publish call (brokers that talk to a server).",
        buckets=buckets,
        sum_value=publish[-1],
    )


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)


class _Collector:
    def collect(self) -> Iterator[Metric]:
        return _families()


def _registry() -> CollectorRegistry | None:
    try:
        from prometheus_client import CollectorRegistry
    except ImportError:
        return None
    registry = CollectorRegistry()
    registry.register(_Collector())
    return registry


#: chatcore's own registry (None without prometheus-client); :func:`render` writes it.
REGISTRY: Any = _registry()


def register(registry: CollectorRegistry) -> None:
    """Add chatcore's metrics to another registry too, e.g. ``prometheus_client.REGISTRY``
    (the one ``prometheus_client.start_http_server`` and its ASGI app serve)."""
    registry.register(_Collector())


def render() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, and their content type."""
    if REGISTRY is None:
        return b"# chatcore metrics need prometheus-client (pip install chatcore[server])\n", (
            CONTENT_TYPE
        )
    from prometheus_client import generate_latest

    return generate_latest(REGISTRY), CONTENT_TYPE
