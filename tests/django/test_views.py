"""ChatBoard's pages and forms through Django's test client: accounts, profiles, avatars."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from .factories import PASSWORD, make_user


def image_bytes(fmt: str, size: tuple[int, int] = (600, 400), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "teal" if mode == "RGB" else (0, 128, 128, 100)).save(out, fmt)
    return out.getvalue()


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def avatars_of(user: Any) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / "avatars"
    return sorted(folder.glob(f"{user.pk}-*")) if folder.exists() else []


def upload(client: Client, data: bytes, name: str = "me.png", **fields: str) -> Any:
    form = {"display_name": "", "email": "", "about": "", **fields}
    return client.post(
        "/accounts/profile/", {**form, "avatar": SimpleUploadedFile(name, data, "image/png")}
    )


def test_sign_up_log_out_with_post_and_log_in_again() -> None:
    client = Client()
    username = f"newcomer{make_user().pk}"
    page = client.get("/accounts/signup/")
    assert b'name="password2"' in page.content
    assert b"csrfmiddlewaretoken" in page.content
    mismatch = client.post(
        "/accounts/signup/",
        {"username": username, "password1": PASSWORD, "password2": PASSWORD + "x"},
    )
    assert mismatch.status_code == 200
    assert not get_user_model().objects.filter(username=username)
    done = client.post(
        "/accounts/signup/", {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert done.status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/accounts/logout/").status_code == 405  # logging out is a POST
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302  # back to the login page
    wrong = client.post("/accounts/login/", {"username": username, "password": "nope"})
    assert wrong.status_code == 200
    assert b"correct username and password" in wrong.content
    right = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert right.status_code == 302
    assert client.get("/people/").status_code == 200


def test_csrf_is_enforced_on_forms() -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403


def test_password_change() -> None:
    user = make_user()
    client = logged_in(user)
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "another-long-pass-77",
            "new_password2": "another-long-pass-77",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("another-long-pass-77")


def test_profile_edit_and_other_users_profiles() -> None:
    user = make_user()
    client = logged_in(user)
    response = client.post(
        "/accounts/profile/",
        {
            "display_name": "<script>x()</script>",
            "email": "a@example.com",
            "about": "Hi <b>there</b>",
        },
    )
    assert response.status_code == 302
    profile = user.profile
    profile.refresh_from_db()
    user.refresh_from_db()
    assert (profile.display_name, profile.about, user.email) == (
        "<script>x()</script>",
        "Hi <b>there</b>",
        "a@example.com",
    )
    too_long = client.post("/accounts/profile/", {"display_name": "x", "about": "a" * 501})
    assert too_long.status_code == 200
    assert "about" in too_long.context["form"].errors
    # The chat shows "name @username": a display name cannot pass for a username.
    posing = client.post("/accounts/profile/", {"display_name": "Bob @bob", "about": ""})
    assert posing.status_code == 200
    assert "display_name" in posing.context["form"].errors
    other = logged_in(make_user()).get(f"/users/{user.username}/")
    assert other.status_code == 200
    assert b"&lt;script&gt;x()&lt;/script&gt;" in other.content
    assert b"<script>x()" not in other.content
    assert b"Hi &lt;b&gt;there&lt;/b&gt;" in other.content


@pytest.mark.parametrize(
    ("fmt", "mode"), [("PNG", "RGBA"), ("JPEG", "RGB"), ("GIF", "P"), ("WEBP", "RGB")]
)
def test_a_good_avatar_is_resized_stored_and_replaces_the_old_file(fmt: str, mode: str) -> None:
    user = make_user()
    client = logged_in(user)
    data = image_bytes(fmt, (600, 400), "RGBA" if mode == "RGBA" else "RGB")
    assert upload(client, data, name="me.jpg").status_code == 302  # the name does not matter
    [first] = avatars_of(user)
    with Image.open(first) as stored:
        assert stored.format == "PNG"
        assert max(stored.size) == 256
    assert upload(client, image_bytes("PNG", (100, 300))).status_code == 302
    [second] = avatars_of(user)
    assert second != first
    assert not first.exists()
    user.profile.refresh_from_db()
    assert user.profile.avatar.name == f"avatars/{second.name}"


def test_removing_the_avatar_deletes_its_file() -> None:
    user = make_user()
    client = logged_in(user)
    assert upload(client, image_bytes("JPEG")).status_code == 302
    [stored] = avatars_of(user)
    form = {"display_name": "", "email": "", "about": "", "remove_avatar": "on"}
    assert client.post("/accounts/profile/", form).status_code == 302
    assert not stored.exists()
    user.profile.refresh_from_db()
    assert user.profile.avatar.name == ""


def _bomb() -> bytes:
    """A small PNG whose header claims 30000 x 30000 pixels (900 Mpx)."""
    data = bytearray(image_bytes("PNG", (8, 8)))
    header = b"IHDR" + struct.pack(">II", 30_000, 30_000) + bytes(data[24:29])
    data[12:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)


def _truncated() -> bytes:
    data = image_bytes("PNG", (300, 300))
    return data[: len(data) // 2]


def _big() -> bytes:
    return image_bytes("PNG", (64, 64)) + b"\x00" * (2 * 1024 * 1024)


BAD_AVATARS: dict[str, tuple[Callable[[], bytes], str]] = {
    "not an image": (lambda: b"just some text, no picture", "not an image"),
    "a BMP": (lambda: image_bytes("BMP"), "Only JPEG, PNG, GIF and WebP"),
    "a TIFF": (lambda: image_bytes("TIFF"), "Only JPEG, PNG, GIF and WebP"),
    "too big": (_big, "larger than 2 MB"),
    "too many pixels": (lambda: image_bytes("PNG", (4097, 10)), "larger than 4096x4096"),
    "a decompression bomb": (_bomb, "too many pixels"),
    "truncated": (_truncated, "damaged or truncated"),
}


@pytest.mark.parametrize("kind", sorted(BAD_AVATARS))
def test_a_bad_avatar_is_refused_and_nothing_is_stored(kind: str) -> None:
    make, error = BAD_AVATARS[kind]
    user = make_user()
    client = logged_in(user)
    response = upload(client, make(), display_name="Kept out")
    assert response.status_code == 200
    assert error in " ".join(response.context["form"].errors["avatar"])
    assert avatars_of(user) == []
    user.profile.refresh_from_db()
    assert (user.profile.avatar.name, user.profile.display_name) == ("", "")


def test_pages_need_a_login_and_unknown_rooms_are_404() -> None:
    anonymous = Client()
    for path in ("/", "/people/", "/accounts/profile/", "/rooms/lobby/"):
        response = anonymous.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    client = logged_in(make_user())
    assert client.get("/rooms/no-such-room-here/").status_code == 404
    assert client.get("/rooms/Not_A_Slug/").status_code == 404


def test_people_lists_other_users_and_opens_a_direct_room() -> None:
    me, other = make_user(display_name="Me Myself"), make_user(display_name="Someone <i>Else</i>")
    client = logged_in(me)
    page = client.get("/people/")
    assert b"Someone &lt;i&gt;Else&lt;/i&gt;" in page.content
    assert f'data-user="{other.pk}"'.encode() in page.content
    assert f'data-user="{me.pk}"'.encode() not in page.content
    response = client.post(f"/people/{other.pk}/direct/")
    assert response.status_code == 302
    assert response["Location"].startswith("/rooms/dm-")
    room = client.get(response["Location"])
    assert room.status_code == 200
    assert b"Someone &lt;i&gt;Else&lt;/i&gt;" in room.content
    stranger = logged_in(make_user())
    assert stranger.get(response["Location"]).status_code == 404
    assert client.get(f"/people/{other.pk}/direct/").status_code == 405


def test_the_sync_helper_stores_a_direct_message_outside_any_server() -> None:
    """A management command has no running chat server: the message still waits in the room."""
    from asgiref.sync import async_to_sync

    from chatcore_django import sync
    from chatcore_django.store import OrmStore

    sender, recipient = make_user(display_name="Sender"), make_user()
    message = sync.post_direct(sender, recipient, "see you tomorrow")
    assert sync.direct_room(recipient, sender).name == message.room
    page = async_to_sync(OrmStore().history)(message.room, limit=10)
    assert [(m.id, m.text, m.sender.name) for m in page.messages] == [
        (1, "see you tomorrow", f"Sender @{sender.username}")
    ]


def test_a_room_page_lists_its_running_bans_to_its_moderators_only() -> None:
    import json
    import re
    import time

    from chatcore_django import sync
    from chatcore_django.models import Room, Sanction

    owner, member = make_user(), make_user()
    forever, hour, over = (
        make_user(display_name="Forever"),
        make_user(display_name="An Hour"),
        make_user(),
    )
    name = f"bans-{owner.pk}"
    sync.create_room(name, "Bans", owner=owner)
    in_an_hour = int(time.time() * 1000) + 3_600_000
    sync.ban(name, forever, by=owner)
    sync.ban(name, hour, by=owner, until=in_an_hour)
    room = Room.objects.get(name=name)
    Sanction.objects.create(  # a ban that has run out (one cannot be given in the past)
        room=room, user_id=str(over.pk), kind="ban", by=str(owner.pk), at=1, until=2
    )

    def bans(user: Any) -> list[dict[str, Any]] | None:
        page = logged_in(user).get(f"/rooms/{name}/")
        assert page.status_code == 200
        found = re.search(
            rb'<script id="bans-data" type="application/json">(.*?)</script>', page.content
        )
        return None if found is None else json.loads(found.group(1))

    assert bans(owner) == [
        {"id": str(forever.pk), "name": f"Forever @{forever.username}", "until": None},
        {"id": str(hour.pk), "name": f"An Hour @{hour.username}", "until": in_an_hour},
    ]
    assert bans(member) is None  # not a moderator: the page does not say who is banned
    staff, moderator = make_user(), make_user()
    staff.is_staff = True
    staff.save()
    sync.set_role(name, moderator, "moderator", by=owner)
    assert bans(staff) == bans(moderator) == bans(owner)
    sync.unban(name, forever, by=owner)
    assert [ban["id"] for ban in bans(owner) or []] == [str(hour.pk)]
