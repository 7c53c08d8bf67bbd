"""The HTTP API: backends in any language publish, create rooms and disconnect users (docs/server-api.md).

:class:`Api` is sans-I/O: the server's HTTP layer parses a request into an :class:`HttpRequest`,
awaits the API and writes the :class:`HttpResponse` (adding ``content-length``). Each endpoint is
one call of the application API (``ChatServer.post``, ``create_room``...); its fields are read by
the protocol's own decoder (a ``POST /api/publish`` body is checked as a ``send`` frame is), so
the API admits exactly what the WebSocket protocol admits and answers with the same error codes,
under an HTTP status that fits (:data:`STATUS`).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote

import attrs

from chatcore import ChatServer, User
from chatcore.wire import commands as c
from chatcore.wire.errors import (
    BadFrame,
    ClientError,
    ErrorCode,
    InvalidField,
    NoSuchUser,
)
from chatcore.wire.protocol import Rejected, decode
from chatcore.wire.values import check_room_name

__all__ = ("SERVER_USER", "STATUS", "Api", "HttpRequest", "HttpResponse")

log = logging.getLogger(__name__)

#: Who a message or private message without ``from`` comes from.
SERVER_USER = User(id="server", name="Server")

#: The HTTP status of each protocol error code.
STATUS: Mapping[str, int] = {
    ErrorCode.BAD_FRAME: 400,
    ErrorCode.UNKNOWN_TYPE: 400,
    ErrorCode.INVALID_FIELD: 400,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.NO_SUCH_ROOM: 404,
    ErrorCode.ROOM_EXISTS: 409,
    ErrorCode.NOT_MEMBER: 409,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NO_SUCH_USER: 404,
    ErrorCode.RECIPIENT_UNAVAILABLE: 409,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.NO_SUCH_MESSAGE: 404,
    # The HTTP API's own, for what has no frame: a request without the key, a path or a method
    # the API does not have.
    "unauthorized": 401,
    "not_found": 404,
    "method_not_allowed": 405,
}

_C = TypeVar("_C", bound=c.Command)
_JSON = (("content-type", "application/json"), ("cache-control", "no-store"))
_MAX_USER_ID = 256


@attrs.frozen(kw_only=True)
class HttpRequest:
    """One HTTP request: ``headers`` with lower-case names, ``query`` without the ``?``."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""


@attrs.frozen(kw_only=True)
class HttpResponse:
    """The answer to write (the HTTP layer adds ``content-length``)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def json(self) -> Any:
        """The body, read as JSON (for tests and tools)."""
        return json.loads(self.body)


class _HttpError(Exception):
    def __init__(self, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers


_Handler = Callable[["Api", HttpRequest, str], Awaitable[HttpResponse]]
_ROUTES: dict[str, dict[str, _Handler]] = {}
_PATHS = re.compile(
    r"/api/(?:(publish|private|disconnect|rooms)|rooms/([^/]+)(?:/(members|history))?)"
)


def _route(kind: str, method: str) -> Callable[[_Handler], _Handler]:
    def register(handler: _Handler) -> _Handler:
        _ROUTES.setdefault(kind, {})[method] = handler
        return handler

    return register


class Api:
    """The HTTP API of ``server``, for requests that carry ``Authorization: Bearer <api_key>``.
    Without an ``api_key`` every request is refused (401): the API is off."""

    def __init__(self, server: ChatServer, *, api_key: str | None) -> None:
        self.server = server
        self._key = api_key.encode() if api_key else None

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            kind, room = self._resolve(request.path)
            handlers = _ROUTES[kind]
            handler = handlers.get(request.method.upper())
            if handler is None:
                allow = ", ".join(sorted(handlers))
                raise _HttpError(
                    "method_not_allowed", f"{request.path} takes {allow}", (("allow", allow),)
                )
            self._authorize(request)
            if len(request.body) > self.server.limits.hard_frame_cap:
                limit = self.server.limits.hard_frame_cap
                return _error(ErrorCode.TOO_LARGE, f"a request body is at most {limit} bytes")
            return await handler(self, request, room)
        except _HttpError as error:
            return _error(error.code, error.message, headers=error.headers)
        except ClientError as error:
            return _error(error.code, error.message, error.field)
        except Exception:  # a bug, or a backend's own failure: the client gets 500, not a crash
            log.exception("HTTP API %s %s failed", request.method, request.path)
            return _error(ErrorCode.INTERNAL, "internal error")

    def _resolve(self, path: str) -> tuple[str, str]:
        match = _PATHS.fullmatch(path)
        if match is None:
            raise _HttpError("not_found", f"no API at {path[:100]}")
        fixed, room, sub = match.groups()
        if fixed is not None:
            return fixed, ""
        return sub or "room", unquote(room)

    def _authorize(self, request: HttpRequest) -> None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if (
            self._key is None
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(given.strip().encode(), self._key)
        ):
            raise _HttpError(
                "unauthorized",
                "send the API key: Authorization: Bearer <key>",
                (("www-authenticate", 'Bearer realm="chatcore"'),),
            )

    # endpoints

    @_route("publish", "POST")
    async def _publish(self, request: HttpRequest, _: str) -> HttpResponse:
        body = _body(request)
        send = _command(c.Send, body, "send", ("room", "text", "client_id", "reply_to", "meta"))
        appended = await self.server.post(
            send.room,
            send.text,
            sender=await self._sender(body),
            client_id=send.client_id,
            reply_to=send.reply_to,
            meta=send.meta,
        )
        return _ok({"message": appended.message.to_wire(), "created": appended.created})

    @_route("private", "POST")
    async def _private(self, request: HttpRequest, _: str) -> HttpResponse:
        body = _body(request)
        private = _command(c.SendPrivate, body, "send_private", ("to", "text", "room"))
        event = await self.server.send_private(
            await self._sender(body), private.to, private.text, private.room
        )
        wire = event.to_wire()
        del wire["type"]
        return _ok({"private": wire})

    @_route("rooms", "POST")
    async def _create_room(self, request: HttpRequest, _: str) -> HttpResponse:
        body = _body(request)
        create = _command(c.CreateRoom, body, "create_room", ("room", "title", "private"))
        owner = body.get("owner")
        room = await self.server.create_room(
            create.room,
            create.title,
            None if owner is None else _user(owner, "owner"),
            quota=False,
            private=bool(create.private),
        )
        return _ok({"room": await self.server.room_wire(room)}, status=201)

    @_route("room", "PATCH")
    async def _update_room(self, request: HttpRequest, name: str) -> HttpResponse:
        body = {**_body(request), "room": name}
        update = _command(c.UpdateRoom, body, "update_room", ("room", "title", "private"))
        room = await self.server.get_room(update.room)
        if update.title is not None:
            room = await self.server.update_room(update.room, update.title)
        if update.private is not None:
            room = await self.server.set_private(update.room, update.private)
        return _ok({"room": await self.server.room_wire(room)})

    @_route("room", "DELETE")
    async def _delete_room(self, _: HttpRequest, name: str) -> HttpResponse:
        await self.server.delete_room(check_room_name(name))
        return HttpResponse(status=204, headers=_JSON[1:])

    @_route("room", "GET")
    async def _get_room(self, _: HttpRequest, name: str) -> HttpResponse:
        room = await self.server.get_room(check_room_name(name))
        return _ok({"room": await self.server.room_wire(room)})

    @_route("members", "GET")
    async def _members(self, _: HttpRequest, name: str) -> HttpResponse:
        room = await self.server.get_room(check_room_name(name))
        members = await self.server.members(room.name)
        return _ok({"members": [user.to_wire() for user in members]})

    @_route("history", "GET")
    async def _history(self, request: HttpRequest, name: str) -> HttpResponse:
        fields: dict[str, Any] = {"room": name}
        for key, values in parse_qs(request.query, keep_blank_values=True).items():
            if key in ("before", "limit"):
                fields[key] = _integer(values[-1], key)
        history = _command(c.History, fields, "history", ("room", "before", "limit"))
        page_size = self.server.limits.history_page
        limit = page_size if history.limit is None else history.limit
        if not 1 <= limit <= page_size:
            raise InvalidField(f"'limit' is 1-{page_size}", field="limit")
        room = await self.server.get_room(history.room)
        page = await self.server.history(room.name, limit=limit, before=history.before)
        return _ok({"messages": [m.to_wire() for m in page.messages], "more": page.more})

    @_route("disconnect", "POST")
    async def _disconnect(self, request: HttpRequest, _: str) -> HttpResponse:
        user_id = _user_id(_body(request).get("user"), "user")
        await self.server.disconnect_user(user_id)
        return _ok({})

    async def _sender(self, body: Mapping[str, Any]) -> User:
        """``from``: a user object, a known user's id, or (left out) :data:`SERVER_USER`."""
        value = body.get("from")
        if value is None:
            return SERVER_USER
        if isinstance(value, str):
            user_id = _user_id(value, "from")
            user = await self.server.directory.get_user(user_id)
            if user is None:
                raise NoSuchUser(
                    "'from' is not a known user id; send a user object {id, name, avatar?}",
                    field="from",
                )
            return user
        return _user(value, "from")


def _body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object; ``bad_frame`` for anything else."""
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):
        raise BadFrame("the request body must be valid JSON (UTF-8)") from None
    if not isinstance(body, dict):
        raise BadFrame("the request body must be a JSON object")
    return body


def _command(
    kind: type[_C], body: Mapping[str, Any], frame_type: str, fields: tuple[str, ...]
) -> _C:
    """``fields`` of ``body`` read as the protocol reads a ``frame_type`` frame."""
    frame = {name: body[name] for name in fields if name in body}
    frame["type"] = frame_type
    try:
        text = json.dumps(frame, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise InvalidField("numbers must be finite (no NaN or infinity)") from None
    except RecursionError:
        raise BadFrame("the request body nests too deeply") from None
    command = decode(text, max_size=2**31)
    if isinstance(command, Rejected):
        raise command.error
    assert isinstance(command, kind)
    return command


def _integer(value: str, field: str) -> int:
    if not value.isdigit():
        raise InvalidField(f"'{field}' must be a non-negative integer", field=field)
    return int(value)


def _user_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_USER_ID or "\x00" in value:
        raise InvalidField(
            f"'{field}' must be a user id (1-{_MAX_USER_ID} characters)", field=field
        )
    return value


def _user(value: object, field: str) -> User:
    """A user object ``{id, name, avatar?}``, or a bare id (then named by it)."""
    if isinstance(value, str):
        user_id = _user_id(value, field)
        return User(id=user_id, name=user_id)
    if not isinstance(value, dict):
        raise InvalidField(f"'{field}' must be a user object {{id, name, avatar?}}", field=field)
    user_id = _user_id(value.get("id"), field)
    name, avatar = value.get("name", user_id), value.get("avatar")
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_USER_ID:
        raise InvalidField(f"'{field}' needs a name (1-{_MAX_USER_ID} characters)", field=field)
    if avatar is not None and not isinstance(avatar, str):
        raise InvalidField(f"'{field}' avatar must be a string (a URL)", field=field)
    return User(id=user_id, name=name, avatar=avatar)


def _ok(value: Mapping[str, Any], status: int = 200) -> HttpResponse:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return HttpResponse(status=status, headers=_JSON, body=body)


def _error(
    code: str, message: str, field: str | None = None, headers: tuple[tuple[str, str], ...] = ()
) -> HttpResponse:
    error: dict[str, Any] = {"code": str(code), "message": message}
    if field is not None:
        error["field"] = field
    response = _ok(error, status=STATUS.get(code, 500))
    return attrs.evolve(response, headers=response.headers + headers)
