"""Run the FastAPI example app in a real uvicorn process, on a free port."""

from __future__ import annotations

import httpx

from tests.starlette.example_server import ROOT, ExampleServer


class FastAPIServer(ExampleServer):
    """``uvicorn app:app`` for examples/fastapi_chat, whose login takes a JSON body."""

    app_dir = ROOT / "examples" / "fastapi_chat"

    def login(self, name: str) -> dict[str, str]:
        """Log ``name`` in through ``POST /login``; the session cookie to send."""
        response = httpx.post(f"{self.url}/login", json={"name": name}, timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.cookies)
