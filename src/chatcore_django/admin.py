"""Rooms and messages in the Django admin.

Rooms are validated by the protocol's rules (a form error, never a row that breaks the room
list), and created, renamed (a new title) and deleted through the chat server, so connected
clients get the ``room`` events and a deleted room's members are removed from it. A room's name,
kind, owner and direct-room users cannot change once it exists: they are read-only there.

Moderation goes through the chat server too: a ban or mute added there (``Sanction``) kicks or
silences the user's open connections at once, deleting it lifts it; a ``Moderator`` added or
deleted appoints or removes one; each is logged in the audit trail (``AuditEntry``, read-only)
with the admin user as who acted.

A message's text can be corrected there and a message deleted, both through the chat server
(``sync.edit_message``, ``sync.delete_message``): the change is logged in the room's history
and connected clients get ``message_changed``; a deleted message keeps its row, id and place.
Everything else about a message is shown read-only, and so are read marks, which the chat
moves. (They may be deleted: deleting a room in the admin deletes its marks, which needs that
permission.)
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from chatcore.wire.errors import ClientError, InvalidField
from chatcore.wire.values import check_text
from django import forms

from . import sync
from .conf import chat_settings
from .models import AuditEntry, Message, Moderator, ReadMark, Room, Sanction
from .users import _pk

__all__ = (
    "AuditEntryAdmin",
    "MessageAdmin",
    "MessageForm",
    "ModeratorAdmin",
    "ReadMarkAdmin",
    "RoomAdmin",
    "RoomForm",
    "SanctionAdmin",
    "SanctionForm",
)


class _ThroughTheChat(admin.ModelAdmin):
    """An admin whose saves and deletions go through the chat server.

    The admin runs a form's save in one transaction, but the chat server writes through
    Channels' ``database_sync_to_async``, which closes a connection left in a transaction; each
    of the server's writes is atomic on its own, so these views run without one."""

    @csrf_protect_m
    def changeform_view(
        self, request: Any, object_id: Any = None, form_url: str = "", extra_context: Any = None
    ) -> Any:
        return self._changeform_view(request, object_id, form_url, extra_context)

    @csrf_protect_m
    def delete_view(self, request: Any, object_id: Any, extra_context: Any = None) -> Any:
        return self._delete_view(request, object_id, extra_context)


class RoomForm(forms.ModelForm):
    """A new group room: name, title and an optional owner (a user id)."""

    class Meta:
        model = Room
        fields = ("name", "title", "owner")

    def clean_owner(self) -> str:
        owner = str(self.cleaned_data.get("owner") or "")
        pk = _pk(owner) if owner else None
        if owner and (pk is None or not get_user_model()._default_manager.filter(pk=pk).exists()):
            raise forms.ValidationError("no user has this id")
        return owner


@admin.register(Room)
class RoomAdmin(_ThroughTheChat):
    list_display = ("name", "title", "kind", "owner", "last_id", "created")
    list_filter = ("kind",)
    search_fields = ("name", "title")
    form = RoomForm

    def get_readonly_fields(self, request: Any, obj: Room | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return (
            "name",
            "kind",
            "owner",
            "user_a",
            "user_b",
            "auto",
            "invited",
            "last_id",
            "created",
        )

    def get_fields(self, request: Any, obj: Room | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("name", "title", "owner")
        fields: tuple[str, ...] = (
            "name",
            "title",
            "kind",
            "owner",
            "user_a",
            "user_b",
            "auto",
            "last_id",
        )
        if obj.kind == Room.Kind.GROUP:
            fields += ("private", "invited")
        return (*fields, "created")

    def get_form(self, request: Any, obj: Room | None = None, **kwargs: Any) -> Any:
        if obj is not None:  # a group room may be made private or public (through the chat)
            kwargs["fields"] = ("title", "private") if obj.kind == Room.Kind.GROUP else ("title",)
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request: Any, obj: Room, form: Any, change: bool) -> None:
        if chat_settings().store != "orm":  # the chat does not use these rows
            super().save_model(request, obj, form, change)
        elif change:
            if "title" in form.changed_data:
                sync.update_room(obj.name, obj.title)
            if "private" in form.changed_data:
                sync.set_private(obj.name, obj.private)
        else:
            owner = None
            if obj.owner:
                owner = get_user_model()._default_manager.get(pk=_pk(obj.owner))
            sync.create_room(obj.name, obj.title, owner=owner)
            obj.pk = Room.objects.get(name=obj.name).pk  # the admin links to the new row
        if obj.pk is not None:
            obj.refresh_from_db()

    def delete_model(self, request: Any, obj: Room) -> None:
        if chat_settings().store != "orm":
            super().delete_model(request, obj)
        else:
            sync.delete_room(obj.name)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for room in queryset:
            self.delete_model(request, room)


class MessageForm(forms.ModelForm):
    """A message's text, by the protocol's rule for text (trimmed; 1-4000 characters)."""

    class Meta:
        model = Message
        fields = ("text",)

    def clean_text(self) -> str:
        try:
            return check_text(self.cleaned_data["text"])
        except InvalidField as error:
            raise ValidationError(error.message) from error


@admin.register(Message)
class MessageAdmin(_ThroughTheChat):
    list_display = ("room", "seq", "sender_name", "text", "ts", "deleted", "reaction_summary")
    list_filter = ("deleted",)
    list_select_related = ("room",)
    search_fields = ("text", "sender_name", "room__name")
    form = MessageForm
    readonly_fields = (
        "room",
        "seq",
        "ts",
        "sender_id",
        "sender_name",
        "sender_avatar",
        "client_id",
        "reply_to",
        "meta",
        "edited",
        "deleted",
        "reaction_summary",
        "version",
    )

    def has_add_permission(self, request: Any) -> bool:
        return False  # messages come from the chat (``sync.post``)

    @admin.display(description="reactions")
    def reaction_summary(self, obj: Message) -> str:
        """``👍 3, 🎉 1``: each emoji and how many reacted with it."""
        return ", ".join(f"{emoji} {len(users)}" for emoji, users in obj.reactions or ())

    def save_model(self, request: Any, obj: Message, form: Any, change: bool) -> None:
        if "text" in form.changed_data:
            try:
                sync.edit_message(obj.room.name, obj.seq, obj.text)
            except ClientError as error:  # deleted, or no longer in the chat's history
                self.message_user(request, f"not changed: {error.message}", messages.ERROR)
        obj.refresh_from_db()

    def delete_model(self, request: Any, obj: Message) -> None:
        if obj.deleted:
            return
        try:
            sync.delete_message(obj.room.name, obj.seq)
        except ClientError as error:
            self.message_user(request, f"#{obj.seq} not deleted: {error.message}", messages.ERROR)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for message in queryset.select_related("room"):
            self.delete_model(request, message)


@admin.register(ReadMark)
class ReadMarkAdmin(admin.ModelAdmin):
    """Read marks, to look at: the chat moves them (``read``, a first ``join``)."""

    list_display = ("room", "user_id", "last_read")
    list_select_related = ("room",)
    search_fields = ("user_id", "room__name")

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: ReadMark | None = None) -> bool:
        return False


class SanctionForm(forms.ModelForm):
    """A ban or mute: the room, the user's id, until when (empty: for ever) and why."""

    until_time = forms.DateTimeField(
        required=False, label="until", help_text="empty: for ever (the site's time zone)"
    )

    class Meta:
        model = Sanction
        fields = ("room", "user_id", "kind", "reason")

    def clean_user_id(self) -> str:
        user_id = str(self.cleaned_data.get("user_id") or "")
        pk = _pk(user_id)
        if pk is None or not get_user_model()._default_manager.filter(pk=pk).exists():
            raise forms.ValidationError("no user has this id")
        return user_id


@admin.register(Sanction)
class SanctionAdmin(_ThroughTheChat):
    """Bans and mutes, given and lifted through the chat server."""

    list_display = ("room", "user_id", "kind", "by", "until", "reason")
    list_filter = ("kind",)
    list_select_related = ("room",)
    search_fields = ("user_id", "room__name")
    form = SanctionForm

    def has_change_permission(self, request: Any, obj: Sanction | None = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request: Any, obj: Sanction, form: Any, change: bool) -> None:
        until = form.cleaned_data.get("until_time")
        until_ms = None if until is None else int(until.timestamp() * 1000)
        act = sync.ban if obj.kind == Sanction.Kind.BAN else sync.mute
        try:
            act(obj.room.name, obj.user_id, request.user, until=until_ms, reason=obj.reason or None)
        except ClientError as error:
            self.message_user(request, f"not done: {error.message}", messages.ERROR)
            return
        found = Sanction.objects.filter(room=obj.room, user_id=obj.user_id, kind=obj.kind).first()
        if found is not None:
            obj.pk = found.pk

    def delete_model(self, request: Any, obj: Sanction) -> None:
        lift = sync.unban if obj.kind == Sanction.Kind.BAN else sync.unmute
        lift(obj.room.name, obj.user_id, request.user)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for sanction in queryset.select_related("room"):
            self.delete_model(request, sanction)


@admin.register(Moderator)
class ModeratorAdmin(_ThroughTheChat):
    """A room's moderators, appointed and removed through the chat server."""

    list_display = ("room", "user_id")
    list_select_related = ("room",)
    search_fields = ("user_id", "room__name")
    fields = ("room", "user_id")

    def has_change_permission(self, request: Any, obj: Moderator | None = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request: Any, obj: Moderator, form: Any, change: bool) -> None:
        sync.set_role(obj.room.name, obj.user_id, "moderator", request.user)
        found = Moderator.objects.filter(room=obj.room, user_id=obj.user_id).first()
        if found is not None:
            obj.pk = found.pk

    def delete_model(self, request: Any, obj: Moderator) -> None:
        sync.set_role(obj.room.name, obj.user_id, "member", request.user)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for moderator in queryset.select_related("room"):
            self.delete_model(request, moderator)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit trail: every moderation action, to read (the chat writes it)."""

    list_display = ("room", "seq", "action", "user_id", "by", "ts", "until", "reason", "role")
    list_filter = ("action",)
    list_select_related = ("room",)
    search_fields = ("user_id", "by", "room__name", "reason")

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: AuditEntry | None = None) -> bool:
        return False
