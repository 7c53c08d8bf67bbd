"""Rooms and their messages, in the site's database (used by :mod:`chatcore_django.store`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from chatcore.wire import values
from chatcore.wire.errors import InvalidField
from chatcore.wire.values import DIRECT_PREFIX, check_room_name, check_title

__all__ = (
    "DIRECT_PREFIX",
    "AuditEntry",
    "Block",
    "Change",
    "Message",
    "Moderator",
    "ReadMark",
    "Room",
    "Sanction",
    "validate_room_name",
    "validate_title",
)


def validate_room_name(value: str) -> None:
    """A Django validator: the protocol's room name rule (1-64 of ``a-z 0-9 _ - .``)."""
    try:
        check_room_name(value)
    except InvalidField as error:
        raise ValidationError(error.message, code="invalid") from error


def validate_title(value: str) -> None:
    """A Django validator: the protocol's title rule (1-100 characters once trimmed)."""
    try:
        check_title(value)
    except InvalidField as error:
        raise ValidationError(error.message, code="invalid") from error


class Room(models.Model):
    """A chat room; ``last_id`` is the id of its newest message (0 when empty), ``change_seq``
    the number of its newest change, ``dropped_after`` the ``after`` of the newest change no
    longer kept (-1 while none was dropped)."""

    class Kind(models.TextChoices):
        GROUP = "group", "group"
        DIRECT = "direct", "direct"

    name = models.CharField(max_length=64, unique=True, validators=[validate_room_name])
    title = models.CharField(max_length=100, validators=[validate_title])
    owner = models.CharField(max_length=64, blank=True, default="", help_text="owner's user id")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.GROUP)
    user_a = models.CharField(max_length=64, blank=True, default="", db_index=True)
    user_b = models.CharField(max_length=64, blank=True, default="", db_index=True)
    auto = models.BooleanField(default=False)
    private = models.BooleanField(
        default=False, help_text="seen by its owner and the invited users only"
    )
    invited = models.JSONField(
        default=list, blank=True, help_text="a private room's users (ids), its owner first"
    )
    audit_seq = models.BigIntegerField(default=0)
    last_id = models.BigIntegerField(default=0)
    change_seq = models.BigIntegerField(default=0)
    dropped_after = models.BigIntegerField(default=-1)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return str(self.name)

    def chat_room(self) -> values.Room:
        """This room as the chat server sees it."""
        return values.Room(
            name=self.name,
            title=self.title,
            owner=self.owner or None,
            kind=values.RoomKind(self.kind),
            users=tuple(self.invited)
            if self.private
            else tuple(user for user in (self.user_a, self.user_b) if user),
            auto=self.auto,
            private=self.private,
        )

    def clean(self) -> None:
        if self.kind == self.Kind.GROUP and str(self.name).startswith(DIRECT_PREFIX):
            raise ValidationError(
                {"name": f"room names starting with {DIRECT_PREFIX!r} are reserved"}
            )


class Message(models.Model):
    """A message in its current state; ``seq`` is its id in its room. The sender's name and
    avatar are as sent. ``reactions`` is a list of ``[emoji, [user id, ...]]``, in the order
    they came; ``version`` counts the changes made to the message."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.BigIntegerField()
    ts = models.BigIntegerField(help_text="milliseconds since the epoch")
    sender_id = models.CharField(max_length=64)
    sender_name = models.CharField(max_length=200)
    sender_avatar = models.CharField(max_length=500, blank=True, default="")
    text = models.TextField()
    client_id = models.CharField(max_length=100, null=True, blank=True)
    reply_to = models.BigIntegerField(null=True, blank=True)
    meta = models.JSONField(null=True, blank=True)
    edited = models.BigIntegerField(
        null=True, blank=True, help_text="when the text last changed, in ms since the epoch"
    )
    deleted = models.BooleanField(default=False)
    reactions = models.JSONField(default=list, blank=True)
    version = models.IntegerField(default=0)

    class Meta:
        ordering = ("room", "seq")
        constraints = (
            models.UniqueConstraint(fields=("room", "seq"), name="chatcore_message_room_seq"),
            models.UniqueConstraint(
                fields=("room", "sender_id", "client_id"),
                condition=models.Q(client_id__isnull=False),
                name="chatcore_message_client_id",
            ),
        )

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq}"


class Change(models.Model):
    """One change (an edit, a deletion, new reactions) in a room's log, numbered by ``seq``.

    ``after`` is the room's newest message id when it was made. ``state`` is message
    ``message_seq`` as it was after the change, whole, so the change can be replayed after the
    message itself was pruned: ``text``, ``meta``, ``edited``, ``deleted``, ``reactions`` (as
    :attr:`Message.reactions`), ``version``, and the fields that never change: ``ts``,
    ``sender`` (``[id, name, avatar]`` as stored with the message), ``reply_to``, ``client_id``.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="changes")
    seq = models.BigIntegerField()
    after = models.BigIntegerField()
    kind = models.CharField(max_length=16)
    message_seq = models.BigIntegerField()
    state = models.JSONField()

    class Meta:
        ordering = ("room", "seq")
        constraints = (
            models.UniqueConstraint(fields=("room", "seq"), name="chatcore_change_room_seq"),
        )

    def __str__(self) -> str:
        return f"{self.room_id}@{self.seq}"


class ReadMark(models.Model):
    """How far ``user_id`` has read ``room``: the id of the last message they read."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="read_marks")
    user_id = models.CharField(max_length=64, db_index=True)
    last_read = models.BigIntegerField(default=0)

    class Meta:
        ordering = ("room", "user_id")
        constraints = (
            models.UniqueConstraint(fields=("room", "user_id"), name="chatcore_readmark_room_user"),
        )

    def __str__(self) -> str:
        return f"{self.user_id} in {self.room_id}: {self.last_read}"


class Moderator(models.Model):
    """``user_id`` moderates ``room``."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="moderators")
    user_id = models.CharField(max_length=64)

    class Meta:
        ordering = ("room", "user_id")
        constraints = (
            models.UniqueConstraint(
                fields=("room", "user_id"), name="chatcore_moderator_room_user"
            ),
        )

    def __str__(self) -> str:
        return f"{self.user_id} moderates {self.room_id}"


class Sanction(models.Model):
    """A ban or a mute of ``user_id`` in ``room``, given by ``by`` at ``at`` (ms), until
    ``until`` (ms; empty: for ever). The server decides whether it is still active."""

    class Kind(models.TextChoices):
        BAN = "ban", "ban"
        MUTE = "mute", "mute"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="sanctions")
    user_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    by = models.CharField(max_length=64)
    at = models.BigIntegerField(help_text="ms since the epoch")
    until = models.BigIntegerField(null=True, blank=True, help_text="ms since the epoch")
    reason = models.TextField(null=True, blank=True)

    class Meta:
        ordering = ("room", "user_id", "kind")
        constraints = (
            models.UniqueConstraint(
                fields=("room", "user_id", "kind"), name="chatcore_sanction_room_user_kind"
            ),
        )

    def __str__(self) -> str:
        return f"{self.kind} of {self.user_id} in {self.room_id}"


class AuditEntry(models.Model):
    """One moderation action in ``room`` (the audit trail); ``seq`` is its id in the room."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="audit")
    seq = models.BigIntegerField()
    action = models.CharField(max_length=16)
    user_id = models.CharField(max_length=64, help_text="whom it concerned")
    by = models.CharField(max_length=64, help_text="who acted")
    ts = models.BigIntegerField(help_text="ms since the epoch")
    until = models.BigIntegerField(null=True, blank=True, help_text="ms since the epoch")
    reason = models.TextField(null=True, blank=True)
    role = models.CharField(max_length=16, null=True, blank=True)

    class Meta:
        ordering = ("room", "-seq")
        verbose_name_plural = "audit entries"
        constraints = (
            models.UniqueConstraint(fields=("room", "seq"), name="chatcore_audit_room_seq"),
        )

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq}: {self.action} {self.user_id}"


class Block(models.Model):
    """``user_id`` refuses private and direct messages from ``blocked``."""

    user_id = models.CharField(max_length=64, db_index=True)
    blocked = models.CharField(max_length=64)

    class Meta:
        ordering = ("user_id", "blocked")
        constraints = (
            models.UniqueConstraint(fields=("user_id", "blocked"), name="chatcore_block_pair"),
        )

    def __str__(self) -> str:
        return f"{self.user_id} blocks {self.blocked}"
