"""Rooms and messages in the Django admin."""

from __future__ import annotations

from django.contrib import admin

from .models import Message, Room

__all__ = ("MessageAdmin", "RoomAdmin")


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("name", "title", "kind", "owner", "last_id", "created")
    list_filter = ("kind",)
    search_fields = ("name", "title")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("room", "seq", "sender_name", "text", "ts")
    list_select_related = ("room",)
    search_fields = ("text", "sender_name", "room__name")
    raw_id_fields = ("room",)
