"""ChatBoard's pages. Chat itself happens over the WebSocket; these serve pages and forms."""

from __future__ import annotations

import secrets
import time
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from chatcore.wire.errors import ChatError
from chatcore_django import sync
from chatcore_django.models import Room, Sanction
from chatcore_django.users import chat_users

from .forms import ProfileForm, SignupForm
from .models import Profile, profile_of


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        profile_of(user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("profile")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "board/home.html")


@login_required
def room(request: HttpRequest, name: str) -> HttpResponse:
    found = Room.objects.filter(name=name).first()
    user_id = str(request.user.pk)
    if found is None or not found.chat_room().visible_to(user_id):
        raise Http404("no such room")
    other = None
    if found.kind == Room.Kind.DIRECT:
        other_id = found.user_b if found.user_a == user_id else found.user_a
        other = get_user_model().objects.filter(pk=other_id).first()
    people: list[dict[str, str]] = []
    if found.private:  # for the invite box (shown to the room's moderators)
        users = get_user_model().objects.filter(is_active=True).exclude(pk=request.user.pk)
        people = [
            {"id": str(user.pk), "username": user.get_username()}
            for user in users.order_by("username")
        ]
    # Who is banned here, for the room's moderators (None: not one, or a direct room).
    bans = _bans(found) if _moderates(request.user, found) else None
    return render(
        request,
        "board/room.html",
        {"room": found, "other": other and profile_of(other), "people": people, "bans": bans},
    )


def _moderates(user: Any, room: Room) -> bool:
    """Whether ``user`` moderates the group room ``room`` (as StaffPolicy and the roles say)."""
    if room.kind != Room.Kind.GROUP:
        return False
    user_id = str(user.pk)
    return bool(
        user.is_staff or room.owner == user_id or room.moderators.filter(user_id=user_id).exists()
    )


def _bans(room: Room) -> list[dict[str, Any]]:
    """The room's bans still running: the user's id and chat name, and until when (ms; None:
    for ever), oldest first."""
    now = int(time.time() * 1000)
    running = room.sanctions.filter(kind=Sanction.Kind.BAN).filter(
        Q(until__isnull=True) | Q(until__gt=now)
    )
    sanctions = list(running.order_by("at"))
    users = chat_users([sanction.user_id for sanction in sanctions])
    return [
        {
            "id": sanction.user_id,
            "name": users[sanction.user_id].name if sanction.user_id in users else sanction.user_id,
            "until": sanction.until,
        }
        for sanction in sanctions
    ]


@login_required
def people(request: HttpRequest) -> HttpResponse:
    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .exclude(pk=request.user.pk)
        .select_related("profile")
        .order_by("username")
    )
    return render(request, "board/people.html", {"people": [profile_of(user) for user in users]})


@login_required
@require_POST
def direct(request: HttpRequest, user_id: int) -> HttpResponse:
    other = get_object_or_404(get_user_model(), pk=user_id, is_active=True)
    try:
        found = sync.direct_room(request.user, other)
    except ChatError as error:
        messages.error(request, str(error))
        return redirect("people")
    return redirect("room", name=found.name)


@login_required
def user_profile(request: HttpRequest, username: str) -> HttpResponse:
    user = get_object_or_404(get_user_model(), username=username, is_active=True)
    return render(
        request, "board/user.html", {"person": profile_of(user), "me": user == request.user}
    )


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    mine = profile_of(user)
    if request.method == "POST":
        form = ProfileForm(request.POST, request.FILES)
        if form.is_valid():
            _save_profile(mine, form.cleaned_data)
            sync.update_user(user)
            messages.success(request, "Profile saved.")
            return redirect("profile")
    else:
        form = ProfileForm(
            initial={
                "display_name": mine.display_name,
                "email": user.email,
                "about": mine.about,
                "email_notifications": mine.email_notifications,
            }
        )
    return render(request, "board/profile.html", {"form": form, "person": mine})


def _save_profile(mine: Profile, data: dict[str, Any]) -> None:
    old = mine.avatar.name if mine.avatar else None
    with transaction.atomic():
        mine.display_name = str(data["display_name"] or "")
        mine.about = str(data["about"] or "")
        mine.email_notifications = bool(data.get("email_notifications"))
        avatar = data.get("avatar")
        if isinstance(avatar, bytes):
            name = f"{mine.user.pk}-{secrets.token_hex(6)}.png"
            mine.avatar.save(name, ContentFile(avatar), save=False)
        elif data.get("remove_avatar"):
            mine.avatar = ""
        mine.save()
        mine.user.email = str(data["email"] or "")
        mine.user.save(update_fields=["email"])
    if old and old != (mine.avatar.name or None):
        # The new file is in place and saved: now the old one can go.
        mine.avatar.storage.delete(old)
