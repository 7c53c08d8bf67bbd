"""A profile per user: display name, about text and avatar."""

from __future__ import annotations

from django.conf import settings
from django.db import models

MAX_ABOUT = 500
MAX_DISPLAY_NAME = 50


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    display_name = models.CharField(max_length=MAX_DISPLAY_NAME, blank=True)
    about = models.TextField(max_length=MAX_ABOUT, blank=True)
    # Only ever written by the profile form, after the image was checked and re-encoded.
    avatar = models.FileField(upload_to="avatars/", blank=True)
    #: Email me when I am offline and get a direct message or a mention (board/hooks.py).
    email_notifications = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.display_name or self.user.get_username()

    @property
    def avatar_url(self) -> str | None:
        return self.avatar.url if self.avatar else None


def profile_of(user: object) -> Profile:
    """The user's profile, created empty on first use (never fails for a missing file)."""
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile
