"""ChatBoard's URLs."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

from chatcore_django.views import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    # The chat's Prometheus metrics: staff, or CHATCORE_METRICS_TOKEN as a Bearer token.
    path("metrics", metrics, name="metrics"),
    path("", include("board.urls")),
    # Avatars are served by the site itself; a production proxy may serve MEDIA_ROOT instead.
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
