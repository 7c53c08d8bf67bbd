"""A tiny Starlette app for tests/server: the chat at /ws (the user named by ``?user=``),
chatcore_server's HTTP API mounted at /api and the metrics at /metrics, served by uvicorn
(tests/server/test_api_uvicorn.py, tests/server/test_metrics_uvicorn.py)."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.websockets import WebSocket

from chatcore import ChatServer, User
from chatcore_server.api import Api, HttpRequest
from chatcore_starlette import chat_lifespan, chat_route, metrics_route

server = ChatServer()
api = Api(server, api_key=os.environ["CHATCORE_API_KEY"])


def authenticate(websocket: WebSocket) -> User | None:
    user = websocket.query_params.get("user")
    return User(id=user, name=user.title()) if user else None


async def serve_api(request: Request) -> Response:
    answer = await api(
        HttpRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=await request.body(),
        )
    )
    return Response(answer.body, status_code=answer.status, headers=dict(answer.headers))


METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT"]
app = Starlette(
    routes=[
        chat_route("/ws", server, authenticate),
        Route("/api/{rest:path}", serve_api, methods=METHODS),
        metrics_route("/metrics"),
        metrics_route("/private-metrics", allow=lambda request: "token" in request.query_params),
    ],
    lifespan=chat_lifespan(server),
)
