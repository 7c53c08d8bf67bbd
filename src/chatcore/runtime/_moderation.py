"""Moderation for one server: ranks, kicks, timed bans and mutes, invitations, blocks, the audit
log (docs/protocol.md, "Moderation").

Theory of operation
-------------------
Everything a moderator decides is stored first (``Store``: roles, sanctions, the log), then
told to the user concerned through the broker, on their user channel, which every process
holding one of their connections hears, as private messages are:

==========  ===================================================================
action      what the user's processes do (effect :class:`Moderated`)
==========  ===================================================================
kick, ban   the ``kicked`` frame is queued, then the user's local connections
            leave the room at once (no frame of the room reaches them after it);
            the broker's presence and the ``leave`` notice follow
mute        each local connection of the user notes the room and the mute's end
unmute      the note is dropped
==========  ===================================================================

So a mute costs ``send``, ``typing``, ``edit`` and ``react`` a look-up in the connection's own
notes, not a store read. A connection reads its mute from the store when it joins
(:meth:`Moderation.admit`, which also refuses a ban); a mute told while that read was in flight
wins over it. Bans and mutes end at their ``until``, compared with the server's clock
whenever they matter: nothing needs waking when one runs out.

The ``moderation`` event goes to the room's owner and moderators and to the user concerned,
each on their user channel. Whether a client may act is checked here too
(:meth:`Moderation.authorize`), so the handlers stay one line each; the application API acts
with full authority.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable

import attrs

from ..backends.broker import Broker
from ..backends.envelope import Envelope, Moderated, ToRoom, ToUser
from ..backends.store import Store
from ..clock import Clock
from ..policy import Policy
from ..wire.errors import (
    Banned,
    ChatError,
    Forbidden,
    InvalidField,
    Muted,
    NoSuchUser,
    QuotaExceeded,
)
from ..wire.events import KickedEvent, ModerationEvent, RoomEvent
from ..wire.limits import Limits
from ..wire.moderation import (
    Action,
    AuditEntry,
    AuditPage,
    Rank,
    Sanction,
    SanctionKind,
    Standing,
    check_reason,
    check_until,
)
from ..wire.protocol import encode
from ..wire.values import Room, User
from .hub import Departure, Hub, Session

__all__ = ("Admission", "Moderation")


@attrs.frozen
class Admission:
    """What a joining connection learns of the room's moderation."""

    rank: Rank
    moderators: tuple[str, ...]
    #: The connection's count of moderation effects when its standing was read.
    seen: int = 0

    def to_wire(self) -> dict[str, object]:
        return {"role": self.rank.role, "moderators": list(self.moderators)}


_NO_ADMISSION = Admission(Rank.MEMBER, ())


class Moderation:
    """The moderation of one server (see the module's doc)."""

    __slots__ = (
        "_broker",
        "_clock",
        "_depart",
        "_find_user",
        "_limits",
        "_policy",
        "_recorded",
        "_store",
    )

    def __init__(
        self,
        store: Store,
        broker: Broker,
        policy: Policy,
        clock: Clock,
        limits: Limits,
        find_user: Callable[[str], Awaitable[User]],
        depart: Callable[[Departure], Awaitable[None]],
        recorded: Callable[[AuditEntry], Awaitable[None]] | None = None,
    ) -> None:
        self._store = store
        self._broker = broker
        self._policy = policy
        self._clock = clock
        self._limits = limits
        self._find_user = find_user
        self._depart = depart
        #: Told of each action logged (the ``moderation`` listener event, docs/hooks.md).
        self._recorded = recorded

    # ranks and the checks made for clients

    async def rank(self, user: User, room: Room, standing: Standing | None = None) -> Rank:
        """Where ``user`` stands in ``room``."""
        if room.owner is not None and room.owner == user.id:
            return Rank.OWNER
        if room.is_direct:
            return Rank.MEMBER
        if await self._policy.can_moderate(user, room):
            return Rank.STAFF
        if standing is None:
            standing = await self._store.standing(room.name, user.id)
        return Rank.MODERATOR if standing.moderator else Rank.MEMBER

    async def may_moderate(self, user: User, room: Room) -> bool:
        """Whether ``user`` may delete others' messages in ``room``: the policy's
        ``can_moderate`` (by default its owner) or a moderator of the room."""
        if await self._policy.can_moderate(user, room):
            return True
        return not room.is_direct and (await self._store.standing(room.name, user.id)).moderator

    async def rank_of(self, user_id: str, room: Room) -> Rank:
        """The rank of user ``user_id``, who may be unknown to the directory (then the policy
        is not asked)."""
        try:
            user = await self._find_user(user_id)
        except NoSuchUser:
            user = User(id=user_id, name=user_id)
        return await self.rank(user, room)

    async def authorize(
        self, actor: User, room: Room, target: str | None, need: Rank = Rank.MODERATOR
    ) -> None:
        """``actor`` may act in ``room`` (at rank ``need`` or above) on user ``target``
        (None: on nobody, as for ``audit``); :class:`Forbidden` otherwise."""
        if room.is_direct:
            raise Forbidden("a direct room has no moderation", field="room")
        rank = await self.rank(actor, room)
        if rank < need:
            raise Forbidden("you may not moderate this room", field="room")
        if target is None:
            return
        if target == actor.id or not rank.acts_on(await self.rank_of(target, room)):
            raise Forbidden("you may not act on this user", field="user")

    async def admit(self, session: Session, room: Room) -> Admission:
        """Check a ``join``: not banned (:class:`Banned`), room for one more user
        (``members_per_room``); note the user's mute in ``session``."""
        if room.is_direct:
            return _NO_ADMISSION
        user = session.user
        seen = session.moderated
        standing = await self._store.standing(room.name, user.id)
        now = self._clock.now()
        if standing.ban is not None and standing.ban.active(now):
            raise Banned(_until("you are banned from this room", standing.ban), field="room")
        if room.name not in session.rooms:
            await self._check_room_size(room.name, user.id)
        if session.moderated == seen:  # no mute told meanwhile: the read is the newest
            mute = standing.mute
            if mute is not None and mute.active(now):
                session.mutes[room.name] = mute.until
            else:
                session.mutes.pop(room.name, None)
        rank = await self.rank(user, room, standing)
        return Admission(rank, tuple(await self._store.moderators(room.name)), seen)

    async def confirm(self, session: Session, room: Room, admission: Admission) -> None:
        """After the join: if a kick or ban reached the connection while it joined (it may not
        have been in the room yet), :class:`Banned` or :class:`Forbidden`; the caller then
        takes the connection out again."""
        if session.moderated == admission.seen or room.is_direct:
            return
        ban = (await self._store.standing(room.name, session.user.id)).ban
        if ban is not None and ban.active(self._clock.now()):
            raise Banned(_until("you are banned from this room", ban), field="room")
        if room.name not in session.rooms:
            raise Forbidden("you were removed from this room", field="room")

    async def _check_room_size(self, room: str, user_id: str) -> None:
        limit = self._limits.members_per_room
        counts = await self._broker.counts([room])
        if counts.get(room, 0) < limit:
            return
        if any(member.id == user_id for member in await self._broker.members(room)):
            return
        raise QuotaExceeded(
            f"quota members_per_room: the room has {limit} members, the most allowed",
            field="room",
        )

    def check_not_muted(self, session: Session, room: str) -> None:
        """:class:`Muted` while ``session``'s user is muted in ``room``."""
        if room in session.mutes:
            until = session.mutes[room]
            if until is None or self._clock.now() < until:
                raise Muted(field="room")
            del session.mutes[room]

    async def check_not_blocked(self, sender: User, recipient: str) -> None:
        """:class:`Forbidden` when ``recipient`` blocks ``sender`` (told as any refusal is)."""
        if sender.id in await self._store.blocked(recipient):
            raise Forbidden("you may not message this user", field="to")

    async def check_send(self, session: Session, room: Room) -> None:
        """A ``send``: not muted; in a direct room, not blocked by the other user."""
        self.check_not_muted(session, room.name)
        if room.is_direct:
            other = next((user for user in room.users if user != session.user.id), None)
            if other is not None and session.user.id in await self._store.blocked(other):
                raise Forbidden("you may not write in this room", field="room")

    # actions (full authority; ``by`` is who acts)

    async def set_role(self, room: Room, user_id: str, role: str, by: str) -> None:
        if role not in ("moderator", "member"):
            raise InvalidField("'role' is 'moderator' or 'member'", field="role")
        await self._store.set_moderator(room.name, user_id, role == "moderator")
        await self._record(room, "set_role", user_id, by, role=role)

    async def kick(self, room: Room, user_id: str, by: str, reason: str | None = None) -> None:
        reason = None if reason is None else check_reason(reason)
        await self._put_out(room, "kick", user_id, by, reason)
        await self._record(room, "kick", user_id, by, reason=reason)

    async def ban(
        self,
        room: Room,
        user_id: str,
        by: str,
        until: int | None = None,
        reason: str | None = None,
    ) -> None:
        await self._sanction(room, "ban", user_id, by, until, reason)
        await self._put_out(room, "ban", user_id, by, reason)
        await self._record(room, "ban", user_id, by, until=until, reason=reason)

    async def unban(self, room: Room, user_id: str, by: str) -> None:
        await self._store.sanction(room.name, "ban", user_id, None)
        await self._record(room, "unban", user_id, by)

    async def mute(
        self,
        room: Room,
        user_id: str,
        by: str,
        until: int | None = None,
        reason: str | None = None,
    ) -> None:
        await self._sanction(room, "mute", user_id, by, until, reason)
        effect = Moderated(room.name, "mute", until)
        await self._record(room, "mute", user_id, by, until=until, reason=reason, effect=effect)

    async def unmute(self, room: Room, user_id: str, by: str) -> None:
        await self._store.sanction(room.name, "mute", user_id, None)
        await self._record(room, "unmute", user_id, by, effect=Moderated(room.name, "unmute"))

    async def invite(self, room: Room, user_id: str, by: str) -> Room:
        if not room.private:
            raise InvalidField("only a private room takes invitations", field="room")
        room = await self._store.update_access(room.name, invite=(user_id,))
        await self._record(room, "invite", user_id, by)
        counts = await self._broker.counts([room.name])
        frame = encode(RoomEvent(event="created", room=room, members=counts.get(room.name, 0)))
        await self._broker.publish(Envelope(ToUser(user_id), frame))
        return room

    async def set_private(self, room: Room, private: bool) -> Room:
        """Make ``room`` private (inviting its owner and the users present now) or public."""
        invite: tuple[str, ...] = ()
        if private:
            present = [user.id for user in await self._broker.members(room.name)]
            invite = tuple(user for user in (room.owner, *present) if user is not None)
        return await self._store.update_access(room.name, private=private, invite=invite)

    async def audit_log(self, room: str, *, limit: int, before: int | None = None) -> AuditPage:
        return await self._store.audit_log(room, limit=limit, before=before)

    async def block(self, user_id: str, other: str, on: bool) -> list[str]:
        """``user_id`` blocks ``other`` or no longer does; whom they block now."""
        if other == user_id:
            raise InvalidField("you cannot block yourself", field="user")
        await self._store.block(user_id, other, on)
        return await self._store.blocked(user_id)

    async def blocked(self, user_id: str) -> list[str]:
        return await self._store.blocked(user_id)

    async def _sanction(
        self,
        room: Room,
        kind: SanctionKind,
        user_id: str,
        by: str,
        until: int | None,
        reason: str | None,
    ) -> None:
        now = self._clock.now()
        sanction = Sanction(
            by=by,
            at=now,
            until=check_until(until, now),
            reason=None if reason is None else check_reason(reason),
        )
        await self._store.sanction(room.name, kind, user_id, sanction)

    async def _put_out(
        self, room: Room, action: Action, user_id: str, by: str, reason: str | None
    ) -> None:
        """Send ``kicked`` to the user, whose connections leave the room where it arrives."""
        assert action in ("kick", "ban")
        frame = encode(KickedEvent(room=room.name, by=by, reason=reason))
        effect = Moderated(room.name, "kick" if action == "kick" else "ban")
        await self._broker.publish(Envelope(ToUser(user_id), frame, effect=effect))

    async def _record(
        self,
        room: Room,
        action: Action,
        user_id: str,
        by: str,
        *,
        until: int | None = None,
        reason: str | None = None,
        role: str | None = None,
        effect: Moderated | None = None,
    ) -> None:
        """Log the action and send the ``moderation`` event (with ``effect`` for the user)."""
        entry = AuditEntry(
            id=0,
            room=room.name,
            action=action,
            user=user_id,
            by=by,
            ts=self._clock.now(),
            until=until,
            reason=reason,
            role=role,
        )
        entry = await self._store.audit(entry)
        if self._recorded is not None:
            await self._recorded(entry)
        frame = encode(ModerationEvent(entry=entry))
        told = {user_id}
        await self._broker.publish(Envelope(ToUser(user_id), frame, effect=effect))
        for staff in (room.owner, *await self._store.moderators(room.name)):
            if staff is not None and staff not in told:
                told.add(staff)
                await self._broker.publish(Envelope(ToUser(staff), frame))

    # effects, in every process that holds a connection of the user

    def apply(self, hub: Hub, user_id: str, effect: Moderated) -> list[tuple[Session, bool, bool]]:
        """Apply ``effect`` to ``user_id``'s local connections: for a kick or ban, take them
        out of the room now and return (session, departed, room empty) for each, for
        :meth:`after_removal`."""
        removed: list[tuple[Session, bool, bool]] = []
        room = effect.room
        for session in list(hub.user_conns(user_id)):
            session.moderated += 1
            if effect.action == "mute":
                session.mutes[room] = effect.until
            elif effect.action == "unmute":
                session.mutes.pop(room, None)
            else:
                hub.unfollow(session, room)
                if room in session.rooms:
                    left = hub.leave(session, room)
                    removed.append((session, left.departed, left.room_empty))
        return removed

    async def after_removal(
        self, hub: Hub, room: str, removed: list[tuple[Session, bool, bool]]
    ) -> None:
        """The broker's part of a kick, after :meth:`apply`: presence and subscriptions."""
        try:
            for session, departed, _ in removed:
                if departed:
                    await self._depart(Departure(room, session.user))
            if any(empty for *_, empty in removed) and not hub.has_local(room):
                await self._broker.unsubscribe(ToRoom(room).channel)
        except ChatError:
            pass  # the broker is down: presence entries expire with the process's


def _until(text: str, sanction: Sanction) -> str:
    if sanction.until is None:
        return text
    when = datetime.datetime.fromtimestamp(sanction.until / 1000, datetime.UTC)
    return f"{text} until {when.strftime('%Y-%m-%dT%H:%M:%SZ')}"
