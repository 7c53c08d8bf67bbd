"""Moderation on the Django adapter: the staff policy, and bans, mutes and moderators given in
the admin going through the chat server (connected sockets are kicked and silenced at once),
with the admin user in the audit trail."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from chatcore_django.models import AuditEntry, Moderator, Room, Sanction

from .factories import make_user
from .test_admin import admin_client
from .test_consumer import Peer

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("chat_runtime")]


async def test_staff_moderate_every_room() -> None:
    owner = await sync_to_async(make_user)("owner-m", "Owner")
    member = await sync_to_async(make_user)("member-m", "Member")
    staff = await sync_to_async(make_user)("staff-m", "Staff")
    staff.is_staff = True
    await sync_to_async(staff.save)()
    peers = [await Peer.open(user) for user in (owner, member, staff)]
    await peers[0].call("create_room", room="staffed")
    for peer in peers:
        assert (await peer.call("join", room="staffed"))["type"] == "ok"
    joined = await peers[2].call("join", room="staffed")
    assert joined["role"] == "staff"
    assert (await peers[1].call("kick", room="staffed", user=str(owner.pk)))["code"] == "forbidden"
    assert (await peers[2].call("kick", room="staffed", user=str(owner.pk)))["code"] == "forbidden"
    assert (await peers[2].call("mute", room="staffed", user=str(member.pk)))["type"] == "ok"
    assert (await peers[1].call("send", room="staffed", text="hi"))["code"] == "muted"


async def test_admin_bans_mutes_and_moderators_go_through_the_chat() -> None:
    owner = await sync_to_async(make_user)("owner-a", "Owner")
    member = await sync_to_async(make_user)("member-a", "Member")
    alice, bob = await Peer.open(owner), await Peer.open(member)
    await alice.call("create_room", room="admined")
    await alice.call("join", room="admined")
    await bob.call("join", room="admined")
    client = await sync_to_async(admin_client)()
    post = sync_to_async(client.post)
    room_pk = (await sync_to_async(Room.objects.get)(name="admined")).pk
    added = await post(
        "/admin/chatcore_django/sanction/add/",
        {"room": room_pk, "user_id": str(member.pk), "kind": "mute", "reason": "calm down"},
    )
    assert added.status_code == 302
    event = await bob.event("moderation")
    assert (event["action"], event["reason"]) == ("mute", "calm down")
    assert (await bob.call("send", room="admined", text="hi"))["code"] == "muted"
    mute = await sync_to_async(Sanction.objects.get)(user_id=str(member.pk), kind="mute")
    deleted = await post(f"/admin/chatcore_django/sanction/{mute.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert (await bob.call("send", room="admined", text="thanks"))["type"] == "ok"

    banned = await post(
        "/admin/chatcore_django/sanction/add/",
        {"room": room_pk, "user_id": str(member.pk), "kind": "ban", "reason": "spam"},
    )
    assert banned.status_code == 302
    kicked = await bob.event("kicked")
    assert (kicked["room"], kicked["reason"]) == ("admined", "spam")
    assert (await bob.call("join", room="admined"))["code"] == "banned"

    appointed = await post(
        "/admin/chatcore_django/moderator/add/", {"room": room_pk, "user_id": str(owner.pk)}
    )
    assert appointed.status_code == 302
    assert await sync_to_async(Moderator.objects.filter(user_id=str(owner.pk)).exists)()
    actions = await sync_to_async(
        lambda: list(AuditEntry.objects.filter(room__name="admined").values_list("action", "by"))
    )()
    admin_id = str(await sync_to_async(lambda: client.session["_auth_user_id"])())
    assert actions == [
        ("set_role", admin_id),
        ("ban", admin_id),
        ("unmute", admin_id),
        ("mute", admin_id),
    ]
    listed = await sync_to_async(client.get)("/admin/chatcore_django/auditentry/")
    assert listed.status_code == 200


async def test_the_admin_makes_a_room_private_through_the_chat() -> None:
    owner = await sync_to_async(make_user)("owner-p", "Owner")
    other = await sync_to_async(make_user)("other-p", "Other")
    alice, bob = await Peer.open(owner), await Peer.open(other)
    await alice.call("create_room", room="hideaway")
    await alice.call("join", room="hideaway")
    client = await sync_to_async(admin_client)()
    room_pk = (await sync_to_async(Room.objects.get)(name="hideaway")).pk
    page = f"/admin/chatcore_django/room/{room_pk}/change/"
    changed = await sync_to_async(client.post)(page, {"title": "hideaway", "private": "on"})
    assert changed.status_code == 302
    event = await alice.event("room")
    assert (event["event"], event["room"]["private"]) == ("updated", True)
    assert (await bob.call("join", room="hideaway"))["code"] == "no_such_room"
    row = await sync_to_async(Room.objects.get)(name="hideaway")
    assert (row.private, row.invited) == (True, [str(owner.pk)])
