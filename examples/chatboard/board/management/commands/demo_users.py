"""Create (or reset) the demo accounts named in docs/chatboard.md."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from board.models import profile_of

DEMO = (("alice", "Alice"), ("bob", "Bob"))
PASSWORD = "chatboard-demo"


class Command(BaseCommand):
    help = "Create the demo users alice and bob (password: chatboard-demo)."

    def handle(self, *args: Any, **options: Any) -> None:
        for username, name in DEMO:
            user, created = get_user_model().objects.get_or_create(username=username)
            user.set_password(PASSWORD)
            user.save()
            profile = profile_of(user)
            if not profile.display_name:
                profile.display_name = name
                profile.save()
            verb = "created" if created else "reset"
            self.stdout.write(f"{verb} {username} (password {PASSWORD})")
