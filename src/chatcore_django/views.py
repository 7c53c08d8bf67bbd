"""The chat's Prometheus metrics (:mod:`chatcore.metrics`) as a Django view.

Route it in the site's URLs (``path("metrics", chatcore_django.views.metrics)``). Staff users may
read it, and so may a scraper that sends ``Authorization: Bearer <token>`` with the token of
``CHATCORE["METRICS_TOKEN"]``; anyone else gets 403. The figures are those of the process that
answers: serve the view from the ASGI process that runs the chat.
"""

from __future__ import annotations

import hmac

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from chatcore import metrics as chat_metrics

from .conf import chat_settings

__all__ = ("metrics",)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The metrics in Prometheus text format, for staff or the metrics token."""
    if not _allowed(request):
        return HttpResponseForbidden("staff or the metrics token only")
    body, content_type = chat_metrics.render()
    return HttpResponse(body, content_type=content_type)


def _allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    token = chat_settings().metrics_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return (
        token is not None
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )
