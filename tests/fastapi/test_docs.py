"""docs/fastapi.md shows the example's real code and lists the example's routes."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Mount

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "fastapi.md").read_text()
APP = ROOT / "examples" / "fastapi_chat" / "app.py"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
ROW = re.compile(r"^\| `(?:([A-Z]+) )?(/[^`]*)` \|", re.MULTILINE)
#: FastAPI's own pages, not the example's.
FASTAPI_PAGES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_chat_app", APP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_code_block_is_the_examples_code() -> None:
    blocks = BLOCK.findall(PAGE)
    assert len(blocks) >= 4
    code = APP.read_text()
    for block in blocks:
        assert block in code, f"docs/fastapi.md shows code app.py does not have:\n{block}"


def test_the_route_table_lists_the_examples_routes() -> None:
    routes = set()
    for route in load_example().app.routes:
        if isinstance(route, APIRoute):
            routes |= {f"{method} {route.path}" for method in route.methods or ()}
        elif isinstance(route, APIWebSocketRoute):
            routes.add(route.path)
        elif isinstance(route, Mount):
            routes.add(f"{route.path}/chatcore.js")
        elif getattr(route, "path", None) not in FASTAPI_PAGES:
            raise AssertionError(f"unexpected route {route!r}")
    documented = {f"{method} {path}" if method else path for method, path in ROW.findall(PAGE)}
    assert documented == routes
