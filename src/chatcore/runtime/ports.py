"""The server as a connection sees it: :class:`Runtime`, the one interface between the two.

:class:`~chatcore.runtime.connection.Connection` and the command handlers (``_handlers``, with the
client checks of ``_checks``) use nothing of :class:`~chatcore.runtime.server.ChatServer` but what is
named here, so the server's other parts can change without them, and a test can put any object
with these members in the server's place. ``ChatServer`` provides it (the type checker holds
it to that where ``connect`` makes a ``Connection``).

The operations here act with full authority, as the application API does: every check on
behalf of a client is made before them, in ``_checks``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

import attrs

from ..backends.presence import MembersPage
from ..backends.store import Appended, Change, HistoryPage
from ..clock import Clock
from ..hooks import Draft
from ..policy import Policy
from ..wire.events import PrivateEvent
from ..wire.limits import Limits
from ..wire.values import Message, Room, User
from ._moderation import Moderation
from .hub import Session

__all__ = ("Joining", "Runtime")


@attrs.frozen
class Joining:
    """What a connection gets when it joins a room."""

    room: Room
    members: list[User]
    history: HistoryPage
    gap: bool
    #: With ``since``: the changes made after it, oldest first (see ``Store.changes``).
    changes: tuple[Change, ...] = ()
    #: The user's read mark in the room; in a direct room, the other user's too.
    read: int = 0
    seen: int | None = None
    #: Users present in the room (``members`` may be only the first page of them), and the
    #: cursor of the next page (None: ``members`` is complete).
    count: int | None = None
    next: str | None = None


class Runtime(Protocol):
    """What a connection and its handlers may use of the server."""

    @property
    def limits(self) -> Limits: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def policy(self) -> Policy: ...

    @property
    def moderation(self) -> Moderation:
        """Ranks, the moderation checks and actions (``_moderation``)."""
        ...

    # the connection's own machinery

    @property
    def pipelines_sends(self) -> bool:
        """Whether ``send`` frames may overlap (see :class:`~chatcore.runtime.connection.Connection`)."""
        ...

    @property
    def spawns_in_order(self) -> bool:
        """Whether tasks from :meth:`spawn` take their first steps in the order started."""
        ...

    def spawn(self, function: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        """Run ``function(*args)`` in a short task that ends with the server."""
        ...

    async def disconnect(self, session: Session) -> None: ...

    # rooms

    async def get_room(self, name: str, user: User | None = None) -> Room: ...

    def auto_creates(self, name: str) -> bool:
        """Whether joining ``name`` creates it when it is missing (``auto_create``)."""
        ...

    async def create_auto_room(self, name: str, creator: User) -> Room | None: ...

    async def create_room(
        self,
        name: str,
        title: str | None = None,
        owner: User | None = None,
        *,
        quota: bool = True,
        private: bool = False,
    ) -> Room: ...

    async def update_room(self, name: str, title: str) -> Room: ...

    async def set_private(self, name: str, private: bool) -> Room: ...

    async def delete_room(self, name: str) -> None: ...

    async def direct_room(self, user: User, other: str | User) -> Room: ...

    async def list_rooms(self, user: User) -> list[dict[str, object]]: ...

    async def room_wire(self, room: Room) -> dict[str, object]: ...

    def watch_rooms(self, session: Session, on: bool) -> None: ...

    # membership and reading

    async def join(self, session: Session, room: Room, since: int | None = None) -> Joining: ...

    async def leave(self, session: Session, name: str) -> None: ...

    async def members(self, room: str) -> list[User]: ...

    async def members_page(
        self,
        room: str,
        after: str | None = None,
        limit: int | None = None,
        query: str | None = None,
    ) -> MembersPage: ...

    async def watch_users(self, session: Session, users: tuple[str, ...]) -> list[str]:
        """``session`` watches ``users`` (instead of those it watched): those online now."""
        ...

    async def history(self, room: str, *, limit: int, before: int | None = None) -> HistoryPage: ...

    # messages

    async def find_user(self, user_id: str) -> User: ...

    async def post(
        self,
        room: str,
        text: str,
        *,
        sender: User,
        client_id: str | None = None,
        reply_to: int | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Appended: ...

    async def get_message(self, room: str, message_id: int) -> Message: ...

    async def edit_message(
        self, room: str, message_id: int, text: str, *, meta: Mapping[str, Any] | None = ...
    ) -> Message: ...

    async def delete_message(self, room: str, message_id: int) -> Message: ...

    async def react(self, room: str, message_id: int, user: User, emoji: str) -> Message: ...

    async def unreact(self, room: str, message_id: int, user: User, emoji: str) -> Message: ...

    async def mark_read(self, room: Room, user: User, message_id: int) -> int: ...

    async def follow_unread(self, session: Session, on: bool) -> None:
        """Whether ``session`` gets the new messages of every room its user belongs to."""
        ...

    async def send_private(
        self, sender: User, to: str | User, text: str, room: str | None = None
    ) -> PrivateEvent: ...

    async def typing(self, session: Session, room: str) -> None: ...

    # hooks

    @property
    def checks_messages(self) -> bool:
        """Whether client messages go through :meth:`check_message` (message hooks added)."""
        ...

    async def check_message(self, draft: Draft) -> Draft: ...
