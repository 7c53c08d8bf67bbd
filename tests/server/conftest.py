"""The Starlette app of tests/server/starlette_app served by uvicorn for the module's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.starlette.example_server import ExampleServer

#: The API key the app is started with.
API_KEY = "uvicorn-test-key"


class ApiServer(ExampleServer):
    app_dir = Path(__file__).parent / "starlette_app"


@pytest.fixture(scope="module")
def app_server() -> Iterator[ApiServer]:
    server = ApiServer()
    server.env["CHATCORE_API_KEY"] = API_KEY
    server.start()
    try:
        yield server
    finally:
        server.stop()
