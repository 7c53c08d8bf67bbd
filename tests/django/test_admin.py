"""Rooms in the Django admin: the protocol's rules as form errors, and create, rename and delete
through the chat server, so that connected sockets get the ``room`` events."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from chatcore import Message as ChatMessage
from chatcore import Room as ChatRoom
from chatcore import User
from chatcore.runtime._messages import reacted
from chatcore_django.models import Message, ReadMark, Room
from chatcore_django.store import OrmStore

from .factories import make_user
from .test_consumer import Peer

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("chat_runtime")]

ADD = "/admin/chatcore_django/room/add/"
SENDER = User(id="sender-0", name="Sender")


def admin_client() -> Client:
    username = f"admin{get_user_model().objects.count()}"
    admin = get_user_model().objects.create_superuser(username, password="admin-password-1")
    client = Client()
    client.force_login(admin)
    return client


def errors(response: Any) -> dict[str, list[str]]:
    """The admin form's errors by field (the page is shown again, status 200)."""
    assert response.status_code == 200
    form = response.context["adminform"].form
    return {field: list(messages) for field, messages in form.errors.items()}


async def test_invalid_rooms_are_form_errors_and_leave_no_row() -> None:
    client = await sync_to_async(admin_client)()
    post = sync_to_async(client.post)
    for name, title, field in (
        ("Bad Name!", "fine", "name"),
        ("-starts-badly", "fine", "name"),
        ("x" * 65, "fine", "name"),
        ("dm-mine", "fine", "name"),  # the server's direct rooms
        ("fine-name", "   ", "title"),
        ("fine-name", "t" * 101, "title"),
        ("fine-name", "fine", "owner"),  # no such user
    ):
        owner = "999999" if field == "owner" else ""
        response = await post(ADD, {"name": name, "title": title, "owner": owner})
        assert field in errors(response), (name, title)
    assert not await sync_to_async(Room.objects.filter(title="fine").exists)()


async def test_admin_create_rename_and_delete_reach_connected_sockets() -> None:
    user = await sync_to_async(make_user)("watcher", "Watcher")
    peer = await Peer.open(user)
    await peer.call("rooms", watch=True)
    client = await sync_to_async(admin_client)()
    post = sync_to_async(client.post)
    name = f"admin-{user.pk}"

    created = await post(ADD, {"name": name, "title": "From the admin", "owner": str(user.pk)})
    assert created.status_code == 302, errors(created)
    event = await peer.event("room")
    assert (event["event"], event["room"]["name"], event["room"]["owner"]) == (
        "created",
        name,
        str(user.pk),
    )
    await peer.call("join", room=name)

    pk = (await sync_to_async(Room.objects.get)(name=name)).pk
    renamed = await post(f"/admin/chatcore_django/room/{pk}/change/", {"title": "Renamed"})
    assert renamed.status_code == 302, errors(renamed)
    event = await peer.event("room")
    assert (event["event"], event["room"]["title"]) == ("updated", "Renamed")

    deleted = await post(f"/admin/chatcore_django/room/{pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    event = await peer.event("room")
    assert (event["event"], event["room"]["name"]) == ("deleted", name)
    assert (await peer.call("send", room=name, text="still here?"))["code"] == "no_such_room"
    await peer.ws.disconnect()


async def test_the_admins_bulk_delete_goes_through_the_server() -> None:
    user = await sync_to_async(make_user)()
    peer = await Peer.open(user)
    await peer.call("rooms", watch=True)
    names = [f"bulk-{user.pk}-{n}" for n in range(2)]
    for name in names:
        await peer.call("create_room", room=name)
    client = await sync_to_async(admin_client)()
    pks = await sync_to_async(lambda: [room.pk for room in Room.objects.filter(name__in=names)])()
    response = await sync_to_async(client.post)(
        "/admin/chatcore_django/room/",
        {"action": "delete_selected", "_selected_action": pks, "post": "yes"},
    )
    assert response.status_code == 302
    gone: set[str] = set()
    while len(gone) < 2:
        event = await peer.event("room")
        if event["event"] == "deleted":
            gone.add(event["room"]["name"])
    assert gone == set(names)
    await peer.ws.disconnect()


async def test_a_room_row_written_around_the_checks_does_not_break_the_room_list() -> None:
    user = await sync_to_async(make_user)()
    await sync_to_async(Room.objects.create)(name=f"Broken Row {user.pk}", title="bad")
    peer = await Peer.open(user)
    listed = await peer.call("rooms")
    assert listed["type"] == "ok"
    assert f"Broken Row {user.pk}" not in {room["name"] for room in listed["rooms"]}
    await peer.ws.disconnect()


async def test_messages_show_the_chats_fields_read_only_and_a_correction_keeps_reactions() -> None:
    store = OrmStore()
    name = f"corrected-{secrets.token_hex(4)}"
    await store.create_room(ChatRoom(name=name, title=name))
    await store.append(name, SENDER, "one", 1000)
    message = (await store.append(name, SENDER, "two", 1001, reply_to=1, meta={"k": "ü"})).message
    message = await _react(store, message, "7", "👍")
    client = await sync_to_async(admin_client)()
    row = await sync_to_async(Message.objects.get)(room__name=name, seq=2)
    page = f"/admin/chatcore_django/message/{row.pk}/change/"
    shown = await sync_to_async(client.get)(page)
    assert shown.status_code == 200
    form = shown.context["adminform"].form
    assert "text" in form.fields
    assert not {"reply_to", "meta", "edited", "deleted", "reactions", "version"} & set(form.fields)
    assert "👍 1" in shown.content.decode()
    await _react(store, message, "8", "🎉")  # while the page is open
    data = {key: "" if value is None else value for key, value in form.initial.items()}
    saved = await sync_to_async(client.post)(page, {**data, "text": "two, corrected"})
    assert saved.status_code == 302, errors(saved)
    stored = await store.get_message(name, 2)
    assert stored is not None
    assert (stored.text, stored.reply_to, stored.meta, stored.version) == (
        "two, corrected",
        1,
        {"k": "ü"},
        3,
    )
    assert [reaction.emoji for reaction in stored.reactions] == ["👍", "🎉"]


async def test_read_marks_are_shown_not_changed_and_go_with_their_room() -> None:
    store = OrmStore()
    name = f"marked-{secrets.token_hex(4)}"
    await store.create_room(ChatRoom(name=name, title=name))
    message = (await store.append(name, SENDER, "one", 1000)).message
    await _react(store, message, "7", "👍")
    await store.mark_read(name, "7", 1)
    client = await sync_to_async(admin_client)()
    get = sync_to_async(client.get)
    listed = await get("/admin/chatcore_django/readmark/", {"q": name})
    assert listed.status_code == 200
    assert name in listed.content.decode()
    assert (await get("/admin/chatcore_django/readmark/add/")).status_code == 403
    mark = await sync_to_async(ReadMark.objects.get)(room__name=name)
    change = f"/admin/chatcore_django/readmark/{mark.pk}/change/"
    assert (await get(change)).status_code == 200  # to view
    refused = await sync_to_async(client.post)(change, {"last_read": "0"})
    assert refused.status_code == 403
    room = await sync_to_async(Room.objects.get)(name=name)
    deleted = await sync_to_async(client.post)(
        f"/admin/chatcore_django/room/{room.pk}/delete/", {"post": "yes"}
    )
    assert deleted.status_code == 302  # the mark's permission does not stand in the way
    assert not await sync_to_async(ReadMark.objects.filter(room__name=name).exists)()


async def _react(store: OrmStore, message: ChatMessage, user_id: str, emoji: str) -> ChatMessage:
    new = reacted(message, user_id, emoji, 20)
    assert new is not None
    assert await store.change(message.room, "reactions", new) is not None
    return new


async def test_an_admin_correction_and_deletion_reach_connected_sockets() -> None:
    user = await sync_to_async(make_user)()
    peer = await Peer.open(user)
    name = f"moderated-{user.pk}"
    await peer.call("create_room", room=name)
    await peer.call("join", room=name)
    await peer.call("send", room=name, text="teh typo")
    await peer.call("send", room=name, text="spam")
    client = await sync_to_async(admin_client)()
    rows = await sync_to_async(lambda: list(Message.objects.filter(room__name=name)))()
    first, second = sorted(rows, key=lambda row: row.seq)

    page = f"/admin/chatcore_django/message/{first.pk}/change/"
    refused = await sync_to_async(client.post)(page, {"text": "  \u200b "})
    assert "text" in errors(refused)
    saved = await sync_to_async(client.post)(page, {"text": " the typo "})
    assert saved.status_code == 302, errors(saved)
    event = await peer.event("message_changed")
    assert (event["change"], event["message"]["id"], event["message"]["text"]) == (
        "edited",
        1,
        "the typo",
    )
    assert "edited" in event["message"]

    deleted = await sync_to_async(client.post)(
        f"/admin/chatcore_django/message/{second.pk}/delete/", {"post": "yes"}
    )
    assert deleted.status_code == 302
    event = await peer.event("message_changed")
    assert (event["change"], event["message"]["id"], event["message"]["deleted"]) == (
        "deleted",
        2,
        True,
    )
    row = await sync_to_async(Message.objects.get)(pk=second.pk)  # its place stays
    assert (row.deleted, row.text) == (True, "")
    history = await peer.call("history", room=name)
    assert [m.get("deleted", False) for m in history["messages"]] == [False, True]
    await peer.ws.disconnect()
