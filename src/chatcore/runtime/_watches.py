"""Who watches whose online status (``watch_users``), in one process: pure bookkeeping.

A connection watches a list of user ids; the process subscribes once to each watched user's
status channel (``ToWatchers``), whatever number of its connections watch them, and drops the
channel with the last one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .hub import Session

__all__ = ("UserWatches",)


class UserWatches:
    """The local watchers of each watched user."""

    __slots__ = ("_watchers",)

    def __init__(self) -> None:
        self._watchers: dict[str, set[Session]] = {}

    def watchers(self, user_id: str) -> set[Session]:
        return self._watchers.get(user_id, set())

    def replace(self, session: Session, users: tuple[str, ...]) -> tuple[list[str], list[str]]:
        """``session`` watches ``users`` from now on, instead of those it watched: (users no
        local connection watched before, to subscribe; users none watches now, to unsubscribe)."""
        wanted = set(users)
        gone = self.unwatch(session, session.watching - wanted)
        new: list[str] = []
        for user_id in users:
            if user_id in session.watching:
                continue
            watchers = self._watchers.get(user_id)
            if watchers is None:
                watchers = self._watchers[user_id] = set()
                new.append(user_id)
            watchers.add(session)
            session.watching.add(user_id)
        return new, gone

    def unwatch(self, session: Session, users: set[str] | None = None) -> list[str]:
        """``session`` stops watching ``users`` (None: everyone); the users no local
        connection watches any more."""
        gone: list[str] = []
        for user_id in list(session.watching if users is None else users):
            session.watching.discard(user_id)
            watchers = self._watchers.get(user_id)
            if watchers is None:
                continue
            watchers.discard(session)
            if not watchers:
                del self._watchers[user_id]
                gone.append(user_id)
        return sorted(gone)
