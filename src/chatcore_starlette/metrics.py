"""The chat's Prometheus metrics (:mod:`chatcore.metrics`) on a Starlette route."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from chatcore import metrics

__all__ = ("metrics_endpoint", "metrics_route")


async def metrics_endpoint(request: Request) -> Response:
    """``GET``: the metrics in Prometheus text format."""
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


def metrics_route(
    path: str = "/metrics", *, allow: Callable[[Request], bool] | None = None
) -> Route:
    """A route serving the metrics at ``path``; ``allow(request)``, when given, must say yes
    (a token, the client's address...), else the answer is 403."""
    if allow is None:
        return Route(path, metrics_endpoint, methods=["GET"])
    check = allow

    async def guarded(request: Request) -> Response:
        if not check(request):
            return PlainTextResponse("forbidden", status_code=403)
        return await metrics_endpoint(request)

    return Route(path, guarded, methods=["GET"])
