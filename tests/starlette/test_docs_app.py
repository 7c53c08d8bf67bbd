"""docs/starlette.md's complete ``app.py``, run as written in a real uvicorn process: it serves
``chatcore.js``, keeps the token out of the log, and the page's claims about paths hold."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.helpers import port_open
from tests.starlette.example_server import HOST, ROOT, free_port

pytestmark = [pytest.mark.network]

BLOCK = re.compile(r"^```python\n(# app\.py\n.*?)^```", re.MULTILINE | re.DOTALL)
# Not in the page's app: a Mount of the endpoint, to check what the page says of one.
MOUNTED = """
from starlette.routing import Mount as _Mount
from chatcore_starlette import ChatEndpoint as _ChatEndpoint
app.routes.append(_Mount("/chat", _ChatEndpoint(server, authenticate)))
"""


class DocsApp:
    def __init__(self, directory: Path) -> None:
        (code,) = BLOCK.findall((ROOT / "docs" / "starlette.md").read_text())
        (directory / "app.py").write_text(code + MOUNTED)
        self.port = free_port()
        self.log = directory / "uvicorn.log"
        command = [sys.executable, "-m", "uvicorn", "--app-dir", str(directory), "app:app"]
        command += ["--host", HOST, "--port", str(self.port)]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not port_open(HOST, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn did not start:\n{self.log.read_text()}")
            time.sleep(0.05)  # polling a real process: there is no event to wait on

    def stop(self) -> str:
        """Stop uvicorn; its log."""
        self.process.terminate()
        self.process.wait(timeout=10)
        return self.log.read_text()

    async def welcome(self, path: str) -> str | int:
        """The first frame on a socket to ``path``, or the HTTP status that refused it."""
        try:
            async with connect(f"ws://{HOST}:{self.port}{path}") as websocket:
                return str(await websocket.recv())
        except InvalidStatus as refused:
            return refused.response.status_code


@pytest.fixture
def docs_app(tmp_path: Path) -> Iterator[DocsApp]:
    app = DocsApp(tmp_path)
    try:
        yield app
    finally:
        if app.process.poll() is None:
            app.stop()


@pytest.mark.anyio
async def test_the_documented_app_serves_chat_and_chatcore_js(docs_app: DocsApp) -> None:
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{docs_app.port}") as http:
        script = await http.get("/chatcore/chatcore.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "export class ChatClient" in script.text
    welcome = await docs_app.welcome("/ws?token=alice-token")
    assert isinstance(welcome, str)
    assert welcome.startswith('{"type":"welcome","user":{"id":"1","name":"Alice"')
    assert await docs_app.welcome("/ws?token=wrong") == 403
    # What the page says of paths: exact for a route, slashed and below for a Mount.
    assert await docs_app.welcome("/ws/?token=alice-token") == 403
    for path in ("/chat/", "/chat/below"):
        assert str(await docs_app.welcome(f"{path}?token=alice-token")).startswith('{"type":')
    assert await docs_app.welcome("/chat?token=alice-token") == 403
    log = docs_app.stop()
    # Every handshake is in the log, and no token.
    assert '"WebSocket /ws" [accepted]' in log
    assert '"WebSocket /chat" 403' in log
    assert "token" not in log
