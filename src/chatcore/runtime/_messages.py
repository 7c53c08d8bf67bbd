"""Changes to a room's messages (edits, deletions, reactions) and read marks, for one server.

A change reads the message, works out its new state (pure functions below) and asks the store
to replace it if nobody changed it in between (``Store.change`` compares versions); on a
conflict it reads again and retries, so two reactions at once both count. The ``message_changed``
event goes out as the posting strategy says (``_posting``), in order with the room's messages.
Whether a client may make the change is checked before (``_checks``); values (text, meta,
emoji) and the per-message reaction limit are checked here, for application code too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..backends.broker import Broker
from ..backends.envelope import Envelope, ToUser
from ..backends.store import Store
from ..clock import Clock
from ..wire.errors import NoSuchMessage, QuotaExceeded, Unavailable
from ..wire.events import ReadEvent
from ..wire.limits import Limits
from ..wire.protocol import encode
from ..wire.values import (
    ChangeKind,
    Message,
    Reaction,
    Room,
    check_emoji,
    check_meta,
    check_text,
)
from ._posting import Posting
from ._reaction_batches import ReactionBatches

__all__ = ("KEEP", "Messages", "edited", "reacted", "removed", "unreacted")

#: ``meta`` argument of an edit that keeps the message's meta as it is.
KEEP: Any = object()
# Conflicting changes of one message retried before giving up (``unavailable``).
_ATTEMPTS = 16

_Apply = Callable[[Message], Message | None]


def edited(message: Message, text: str, meta: Mapping[str, Any] | None, now: int) -> Message:
    changes: dict[str, Any] = {"text": text, "edited": now, "version": message.version + 1}
    if meta is not KEEP:
        changes["meta"] = meta
    return attrs.evolve(message, **changes)


def removed(message: Message) -> Message:
    """A deleted message keeps its id, place, sender, time and ``reply_to``; nothing else."""
    return attrs.evolve(
        message, text="", meta=None, reactions=(), deleted=True, version=message.version + 1
    )


def _with_reactions(message: Message, reactions: tuple[Reaction, ...]) -> Message:
    """``message`` with ``reactions``, one version on (as ``attrs.evolve`` would, without its
    field-by-field introspection: a storm of reactions comes this way)."""
    return Message(
        id=message.id,
        room=message.room,
        ts=message.ts,
        sender=message.sender,
        text=message.text,
        client_id=message.client_id,
        reply_to=message.reply_to,
        meta=message.meta,
        edited=message.edited,
        deleted=message.deleted,
        reactions=reactions,
        version=message.version + 1,
    )


def reacted(message: Message, user_id: str, emoji: str, most: int) -> Message | None:
    """``message`` with ``user_id``'s ``emoji`` added; None if it was there."""
    reactions = list(message.reactions)
    for i, reaction in enumerate(reactions):
        if reaction.emoji == emoji:
            if user_id in reaction.users:
                return None
            reactions[i] = Reaction(emoji, (*reaction.users, user_id))
            break
    else:
        if len(reactions) >= most:
            raise QuotaExceeded(
                f"quota reactions_per_message: a message has at most {most} different emoji",
                field="emoji",
            )
        reactions.append(Reaction(emoji, (user_id,)))
    return _with_reactions(message, tuple(reactions))


def unreacted(message: Message, user_id: str, emoji: str) -> Message | None:
    """``message`` without ``user_id``'s ``emoji``; None if it was not there."""
    reactions: list[Reaction] = []
    found = False
    for reaction in message.reactions:
        if reaction.emoji == emoji and user_id in reaction.users:
            found = True
            users = tuple(user for user in reaction.users if user != user_id)
            if users:
                reactions.append(Reaction(emoji, users))
        else:
            reactions.append(reaction)
    if not found:
        return None
    return _with_reactions(message, tuple(reactions))


class Messages:
    """Message changes and read marks of one server."""

    __slots__ = ("_batches", "_broker", "_clock", "_limits", "_posting", "_store")

    def __init__(
        self,
        store: Store,
        broker: Broker,
        posting: Posting,
        limits: Limits,
        clock: Clock,
        spawn: Callable[..., None],
    ) -> None:
        self._store = store
        self._broker = broker
        self._posting = posting
        self._limits = limits
        self._clock = clock
        self._batches = ReactionBatches(limits.reaction_batch, clock, posting.send_later, spawn)

    async def get(self, room: str, message_id: int) -> Message:
        """The message, not deleted; :class:`NoSuchMessage` otherwise."""
        message = await self._store.get_message(room, message_id)
        if message is None or message.deleted:
            raise NoSuchMessage(field="id")
        return message

    async def edit(
        self, room: str, message_id: int, text: str, meta: Mapping[str, Any] | None = KEEP
    ) -> Message:
        text = check_text(text, self._limits.max_text)
        if meta is not KEEP and meta is not None:
            check_meta(meta)
        now = self._clock.now()
        message, _ = await self._change(
            room, message_id, "edited", lambda m: edited(m, text, meta, now)
        )
        return message

    async def delete(self, room: str, message_id: int) -> Message:
        message, _ = await self._change(room, message_id, "deleted", removed)
        return message

    async def react(
        self, room: str, message_id: int, user_id: str, emoji: str
    ) -> tuple[Message, bool]:
        """The message with ``user_id``'s ``emoji`` on it, and whether it was not already."""
        emoji = check_emoji(emoji)
        most = self._limits.reactions_per_message
        return await self._change(
            room, message_id, "reactions", lambda m: reacted(m, user_id, emoji, most)
        )

    async def unreact(
        self, room: str, message_id: int, user_id: str, emoji: str
    ) -> tuple[Message, bool]:
        """The message without ``user_id``'s ``emoji``, and whether it had it."""
        emoji = check_emoji(emoji)
        return await self._change(
            room, message_id, "reactions", lambda m: unreacted(m, user_id, emoji)
        )

    async def _change(
        self, room: str, message_id: int, kind: ChangeKind, apply: _Apply
    ) -> tuple[Message, bool]:
        """The message as changed by ``apply``, and whether ``apply`` changed anything."""
        for _ in range(_ATTEMPTS):
            message = await self.get(room, message_id)
            new = apply(message)
            if new is None:
                return message, False  # nothing to change
            if kind != "reactions":
                change = await self._posting.change(room, kind, new)
                if change is not None:
                    self._batches.superseded(room, message_id)
                    return change.message, True
                continue
            # Reactions go out in batches (``_reaction_batches``); each is stored as it comes.
            now = self._batches.claim(room, message_id)
            change = await self._posting.change(room, kind, new, publish=now)
            if change is not None:
                if not now:
                    self._batches.hold(change)
                return change.message, True
        raise Unavailable("the message is changing too fast; try again")

    async def mark_read(self, room: Room, user_id: str, message_id: int) -> int:
        """Move ``user_id``'s read mark in ``room`` forward; their connections (and in a direct
        room, the other user's) get a ``read`` event when it moved."""
        before = (await self._store.read_marks(room.name)).get(user_id) if room.is_direct else None
        mark = await self._store.mark_read(room.name, user_id, message_id)
        if before is not None and mark == before:
            return mark
        frame = encode(ReadEvent(room=room.name, user=user_id, id=mark))
        await self._broker.publish(Envelope(ToUser(user_id), frame))
        for other in room.users:
            if other != user_id:
                await self._broker.publish(Envelope(ToUser(other), frame))
        return mark
