"""A small chat on FastAPI with chatcore's Starlette adapter, with a demo login (no passwords).

One page (``GET /``), the chat socket (``/ws``), and HTTP endpoints that post into a room and read
its history. Run it with ``make fastapi-demo``, or::

    uvicorn --app-dir examples/fastapi_chat app:app --host 127.0.0.1 --port 8002

``CHATCORE_SECRET_KEY`` signs the session cookie (a random key per process if unset, so a
restart logs everybody out); ``CHATCORE_PRESENCE_GRACE_MS`` sets how long a user stays in a
room after their last tab closes.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, field_validator
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection

from chatcore import ChatServer, ClientError, ErrorCode, Forbidden, Limits, User
from chatcore_starlette import ChatSockets

HERE = Path(__file__).parent
LOBBY = "lobby"

server = ChatServer(
    limits=Limits(presence_grace=int(os.environ.get("CHATCORE_PRESENCE_GRACE_MS", "5000")))
)
sockets = ChatSockets(server)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs the chat server for as long as the app runs, with one room to start in."""
    async with server:
        await server.create_room(LOBBY, "Lobby")
        yield


app = FastAPI(title="chatcore on FastAPI", lifespan=lifespan)
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ.get("CHATCORE_SECRET_KEY") or secrets.token_urlsafe(32),
    same_site="lax",
)
app.mount("/chatcore", StaticFiles(packages=[("chatcore", "static")]), name="chatcore")


def current_user(connection: HTTPConnection) -> User | None:
    """The logged-in user of a request or a socket, from the signed session cookie."""
    name = connection.session.get("name")
    return user_named(name) if isinstance(name, str) and name else None


def user_named(name: str) -> User:
    """A demo: the id is derived from the name, so the same name is the same person."""
    return User(id=name.casefold(), name=name)


def logged_in(user: Annotated[User | None, Depends(current_user)]) -> User:
    """The user of an HTTP request, or 401."""
    if user is None:
        raise HTTPException(status_code=401, detail="log in first")
    return user


@app.websocket("/ws")
async def chat_socket(
    websocket: WebSocket, user: Annotated[User | None, Depends(current_user)]
) -> None:
    """The chat socket; without a user (or from a foreign origin) it is refused with 403."""
    await sockets.serve(websocket, user)


class NewMessage(BaseModel):
    """The body of ``POST /rooms/{room}/messages``."""

    text: str = Field(min_length=1)
    reply_to: int | None = None
    meta: dict[str, Any] | None = None


@app.post("/rooms/{room}/messages", status_code=201)
async def post_message(
    room: str, body: NewMessage, user: Annotated[User, Depends(logged_in)]
) -> dict[str, Any]:
    """Posts into ``room`` as the logged-in user; every socket in the room gets it."""
    if not await server.policy.can_send(user, await server.get_room(room, user)):
        raise Forbidden("you may not write in this room")
    appended = await server.post(
        room, body.text, sender=user, reply_to=body.reply_to, meta=body.meta
    )
    return appended.message.to_wire()


@app.get("/rooms/{room}/messages")
async def read_history(
    room: str,
    user: Annotated[User, Depends(logged_in)],
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    before: int | None = None,
) -> dict[str, Any]:
    """Up to ``limit`` of the room's newest messages (older than id ``before``)."""
    if not await server.policy.can_join(user, await server.get_room(room, user)):
        raise Forbidden("you may not read this room")
    page = await server.history(room, limit=limit, before=before)
    return {"messages": [message.to_wire() for message in page.messages], "more": page.more}


#: The HTTP status of each chatcore refusal (400 for the others).
STATUS = {
    ErrorCode.INVALID_FIELD: 422,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.NO_SUCH_ROOM: 404,
    ErrorCode.NO_SUCH_MESSAGE: 404,
    ErrorCode.NO_SUCH_USER: 404,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.UNAVAILABLE: 503,
}


@app.exception_handler(ClientError)
async def chat_refused(request: Request, error: ClientError) -> JSONResponse:
    """A chatcore refusal as JSON: its message, the wire's code and the field it concerns."""
    return JSONResponse(
        {"detail": error.message, "code": error.code, "field": error.field},
        status_code=STATUS.get(error.code, 400),
    )


class Login(BaseModel):
    """The body of ``POST /login``: a name is all the demo asks."""

    name: str = Field(min_length=1, max_length=40)

    @field_validator("name")
    @classmethod
    def printable(cls, name: str) -> str:
        name = " ".join(name.split())
        if not name or not name.isprintable():
            raise ValueError("a name has printable characters, not only spaces")
        return name


@app.post("/login")
async def login(body: Login, request: Request) -> dict[str, Any]:
    """Logs ``name`` in: the session cookie now carries it."""
    request.session["name"] = body.name
    return {"user": user_named(body.name).to_wire()}


@app.post("/logout", status_code=204)
async def logout(request: Request, user: Annotated[User, Depends(logged_in)]) -> None:
    """Ends the session and closes the user's sockets (4401)."""
    request.session.clear()
    await server.disconnect_user(user.id)


@app.get("/me")
async def me(user: Annotated[User, Depends(logged_in)]) -> dict[str, Any]:
    return {"user": user.to_wire()}


@app.get("/", include_in_schema=False)
async def home() -> FileResponse:
    return FileResponse(HERE / "index.html", media_type="text/html")
