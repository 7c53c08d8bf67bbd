"""The moderation commands' handlers (docs/protocol.md, "Moderation"), registered in
:data:`~chatcore.runtime._handlers.HANDLERS`: each checks who may act (``Moderation.authorize``),
then acts through the server with full authority."""

from __future__ import annotations

from ..wire import commands as c
from ..wire.errors import InvalidField, NoSuchUser
from ..wire.moderation import Rank
from ..wire.values import Room
from . import _checks as check
from ._handlers import Result, _handles
from .hub import Session
from .ports import Runtime

__all__ = ()


async def _room(runtime: Runtime, session: Session, name: str, user: str | None) -> Room:
    room = await check.visible_room(runtime, session.user, name)
    await runtime.moderation.authorize(session.user, room, user)
    return room


async def _known(runtime: Runtime, user_id: str) -> None:
    """:class:`NoSuchUser` (``field: "user"``) for a user the directory does not know."""
    try:
        await runtime.find_user(user_id)
    except NoSuchUser:
        raise NoSuchUser(field="user") from None


@_handles(c.SetRole)
async def _set_role(runtime: Runtime, session: Session, cmd: c.SetRole) -> Result:
    room = await check.visible_room(runtime, session.user, cmd.room)
    await runtime.moderation.authorize(session.user, room, cmd.user, need=Rank.STAFF)
    await runtime.moderation.set_role(room, cmd.user, cmd.role, session.user.id)
    return {}


@_handles(c.Kick)
async def _kick(runtime: Runtime, session: Session, cmd: c.Kick) -> Result:
    room = await _room(runtime, session, cmd.room, cmd.user)
    await runtime.moderation.kick(room, cmd.user, session.user.id, cmd.reason)
    return {}


@_handles(c.Ban)
async def _ban(runtime: Runtime, session: Session, cmd: c.Ban) -> Result:
    room = await _room(runtime, session, cmd.room, cmd.user)
    await runtime.moderation.ban(room, cmd.user, session.user.id, cmd.until, cmd.reason)
    return {}


@_handles(c.Unban)
async def _unban(runtime: Runtime, session: Session, cmd: c.Unban) -> Result:
    room = await _room(runtime, session, cmd.room, cmd.user)
    await runtime.moderation.unban(room, cmd.user, session.user.id)
    return {}


@_handles(c.Mute)
async def _mute(runtime: Runtime, session: Session, cmd: c.Mute) -> Result:
    room = await _room(runtime, session, cmd.room, cmd.user)
    await runtime.moderation.mute(room, cmd.user, session.user.id, cmd.until, cmd.reason)
    return {}


@_handles(c.Unmute)
async def _unmute(runtime: Runtime, session: Session, cmd: c.Unmute) -> Result:
    room = await _room(runtime, session, cmd.room, cmd.user)
    await runtime.moderation.unmute(room, cmd.user, session.user.id)
    return {}


@_handles(c.Invite)
async def _invite(runtime: Runtime, session: Session, cmd: c.Invite) -> Result:
    room = await _room(runtime, session, cmd.room, None)
    if cmd.user == session.user.id:
        raise InvalidField("you cannot invite yourself", field="user")
    await _known(runtime, cmd.user)
    await runtime.moderation.invite(room, cmd.user, session.user.id)
    return {}


@_handles(c.Audit)
async def _audit(runtime: Runtime, session: Session, cmd: c.Audit) -> Result:
    page_size = runtime.limits.history_page
    limit = page_size if cmd.limit is None else cmd.limit
    if not 1 <= limit <= page_size:
        raise InvalidField(f"'limit' is 1-{page_size}", field="limit")
    room = await _room(runtime, session, cmd.room, None)
    page = await runtime.moderation.audit_log(room.name, limit=limit, before=cmd.before)
    return {"entries": [entry.to_wire() for entry in page.entries], "more": page.more}


@_handles(c.Block)
async def _block(runtime: Runtime, session: Session, cmd: c.Block) -> Result:
    await _known(runtime, cmd.user)
    return {"blocked": await runtime.moderation.block(session.user.id, cmd.user, True)}


@_handles(c.Unblock)
async def _unblock(runtime: Runtime, session: Session, cmd: c.Unblock) -> Result:
    return {"blocked": await runtime.moderation.block(session.user.id, cmd.user, False)}


@_handles(c.Blocks)
async def _blocks(runtime: Runtime, session: Session, cmd: c.Blocks) -> Result:
    return {"blocked": await runtime.moderation.blocked(session.user.id)}
