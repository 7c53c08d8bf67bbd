"""docs/django.md as a new user follows it: a fresh ``startproject``, the page's settings,
``asgi.py`` and user hook, served by uvicorn; chatcore.js is served, the first room is made with
the sync helper, a message is posted from Django code, and the bot example connects with the
session the page shows how to make."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from chatcore.client import ChatClient

from .conftest import ROOT, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.network]

BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def block(first_line: str = "", holding: str = "") -> str:
    """The page's first python block that starts with ``first_line`` and holds ``holding``."""
    blocks: list[str] = BLOCK.findall((ROOT / "docs" / "django.md").read_text())
    return next(code for code in blocks if code.startswith(first_line) and holding in code)


def run(project: Path, *args: str, stdin: str | None = None, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=project,
        input=stdin,
        text=True,
        capture_output=True,
        env={**_env(), **env},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.pop("DATABASE_URL", None)  # the new project's own SQLite database
    env["DJANGO_SUPERUSER_PASSWORD"] = "docs-admin-password-7"
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """The project of the page, migrated, with an admin user, under uvicorn on a free port."""
    base = tmp_path_factory.mktemp("docs-project")
    run(base, "-m", "django", "startproject", "mysite")
    project = base / "mysite"
    settings = project / "mysite" / "settings.py"
    settings.write_text(
        settings.read_text()
        + block("# mysite/settings.py (added at the end)")
        + block("# mysite/settings.py\n")
    )
    (project / "mysite" / "asgi.py").write_text(
        block("# mysite/asgi.py (in place of the generated one)")
    )
    (project / "mysite" / "chat.py").write_text(block("# mysite/chat.py"))
    run(project, "manage.py", "migrate", "-v0")
    run(
        project,
        "manage.py",
        "createsuperuser",
        "--noinput",
        "--username",
        "admin",
        "--email",
        "a@example.com",
    )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "mysite.asgi:application", "--port", str(port)],
        cwd=project,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, "uvicorn did not start"
                assert time.monotonic() < deadline, "uvicorn did not answer in 30 s"
                time.sleep(0.1)  # polling a starting subprocess: there is no event to wait for
        yield project, port
    finally:
        server.terminate()
        server.wait(10)


async def test_the_pages_project_serves_chatcore_js(project: tuple[Path, int]) -> None:
    _, port = project
    async with httpx.AsyncClient() as http:
        script = await http.get(f"http://127.0.0.1:{port}/static/chatcore/chatcore.js")
    assert script.status_code == 200
    assert "ChatClient" in script.text


async def test_the_first_room_a_post_and_the_bot(project: tuple[Path, int]) -> None:
    path, port = project

    def shell(code: str) -> str:
        return run(path, "manage.py", "shell", stdin=code)

    await anyio.to_thread.run_sync(shell, block(holding="sync.create_room("))
    await anyio.to_thread.run_sync(shell, block("# a management command or a task"))
    printed = await anyio.to_thread.run_sync(shell, block("# python manage.py shell"))
    session = printed.strip().splitlines()[-1]
    bot = block(holding="ChatClient(").replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    await anyio.to_thread.run_sync(lambda: run(path, "-c", bot, BOT_SESSION=session))
    async with ChatClient(f"ws://127.0.0.1:{port}/ws/", cookies={"sessionid": session}) as client:
        assert client.user["name"] == "bot @bot"  # the page's user hook
        joined = await client.join("lobby")
    assert [(m["from"]["name"], m["text"]) for m in joined["history"]] == [
        ("admin @admin", "The site restarts at 23:00 UTC."),
        ("bot @bot", "hello from a bot"),
    ]
    assert "edited" in joined["history"][0]
