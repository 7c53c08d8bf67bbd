"""ChatBoard's page URLs. Room names use the same slug rule as the chat protocol."""

from __future__ import annotations

from django.contrib.auth import views as auth
from django.urls import path, re_path

from chatcore.wire.values import ROOM_NAME_PATTERN

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    re_path(rf"^rooms/(?P<name>{ROOM_NAME_PATTERN})/$", views.room, name="room"),
    path("people/", views.people, name="people"),
    path("people/<int:user_id>/direct/", views.direct, name="direct"),
    path("users/<str:username>/", views.user_profile, name="user"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/profile/", views.profile, name="profile"),
    path("accounts/login/", auth.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth.PasswordChangeView.as_view(success_url="/accounts/password/done/"),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]
