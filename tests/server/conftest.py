"""The servers the real-socket HTTP API and metrics tests run against: the Starlette app of
tests/server/starlette_app on uvicorn (the API mounted in a route), and ``chatcore serve`` (the
native adapter). Both take the same API key; :meth:`user_url` opens a socket as a named user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from tests.starlette.example_server import ExampleServer

from .serve_process import Serve

#: The API key the servers are started with.
API_KEY = "uvicorn-test-key"
#: The HS256 secret of ``chatcore serve``'s login tokens.
JWT_SECRET = "serve-test-secret-of-32-bytes-or-more"


class ApiServer(ExampleServer):
    """The Starlette app on uvicorn: a socket's user is its ``?user=``."""

    app_dir = Path(__file__).parent / "starlette_app"

    def user_url(self, user: str) -> str:
        return f"{self.ws_url}?user={user}"


class ServeApi(Serve):
    """``chatcore serve`` with the API key and JWT logins: a socket's user is its token's."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        super().__init__("--jwt-secret", JWT_SECRET, *args, env=env)
        self.env["CHATCORE_API_KEY"] = API_KEY

    def user_url(self, user: str) -> str:
        claims = {"sub": user, "name": user.title()}
        return f"{self.ws_url}?token={jwt.encode(claims, JWT_SECRET, algorithm='HS256')}"


@pytest.fixture(scope="module")
def starlette_server() -> Iterator[ApiServer]:
    server = ApiServer()
    server.env["CHATCORE_API_KEY"] = API_KEY
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def serve_server() -> Iterator[ServeApi]:
    server = ServeApi()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", params=["starlette", "serve"])
def app_server(request: pytest.FixtureRequest) -> ApiServer | ServeApi:
    """Each of the two servers in turn."""
    server: ApiServer | ServeApi = request.getfixturevalue(f"{request.param}_server")
    return server
