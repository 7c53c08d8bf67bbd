"""Django settings for these tests: ChatBoard's settings, a throwaway database and media dir.

The database is the one ``DATABASE_URL`` names (PostgreSQL in the second CI run), else SQLite;
either way Django creates a fresh test database for the session and drops it afterwards. It is
file-based even for SQLite, so that threads and the ASGI server subprocess share it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHATBOARD = ROOT / "examples" / "chatboard"
WORK = Path(tempfile.mkdtemp(prefix="chatboard-tests-"))
MEDIA = WORK / "media"

sys.path.insert(0, str(CHATBOARD))
os.environ["DJANGO_SETTINGS_MODULE"] = "chatboard.settings"
os.environ.setdefault("SECRET_KEY", "only-for-the-test-suite")
os.environ["MEDIA_ROOT"] = str(MEDIA)
os.environ["ALLOWED_HOSTS"] = "localhost,127.0.0.1,testserver"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

# Fast hashing for users the tests make in-process (the ASGI server subprocess keeps the defaults).
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A test database of this run's own, so that two runs at once cannot drop each other's.
settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
    str(WORK / "test.sqlite3") if connection.vendor == "sqlite" else f"test_chatboard_{os.getpid()}"
)


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db.get("USER") or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{db['NAME']}"


@pytest.fixture(scope="session", autouse=True)
def test_database() -> Iterator[str]:
    """A fresh, migrated database for the whole session; its URL."""
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()  # the test client then records templates and their context
    old_name = settings.DATABASES["default"]["NAME"]
    # Django 5.2 serializes the database unless told not to; 6.0 does not, and deprecates asking.
    no_copy: dict[str, Any] = {"serialize": False} if django.VERSION < (6, 0) else {}
    connection.creation.create_test_db(verbosity=0, autoclobber=True, **no_copy)
    try:
        yield _database_url()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
        shutil.rmtree(WORK, ignore_errors=True)


@pytest.fixture
async def chat_runtime() -> AsyncIterator[None]:
    """Stops the event loop's chat server after an async test that started it."""
    from chatcore_django import stop_server

    yield
    await stop_server()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


#: The sites being served now: a failing test's report shows the end of their logs.
LIVE: list[Site] = []
LOG_TAIL = 60  # lines of each log a failure shows


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing test's report ends with what its ChatBoard processes printed (the server's
    side of a timeout is otherwise lost with the processes)."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        for site in LIVE:
            lines = site.output().splitlines()[-LOG_TAIL:]
            report.sections.append((f"ChatBoard on port {site.port}", "\n".join(lines)))


class Site:
    """A ChatBoard served by a real uvicorn process."""

    def __init__(self, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
        self.port = port
        self.process = process
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws/"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serve(database_url: str, count: int = 1, **extra_env: str) -> Iterator[list[Site]]:
    """``count`` ChatBoard processes under uvicorn on one database, each on a free port."""
    env: dict[str, Any] = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONPATH": str(CHATBOARD),
        **extra_env,
    }
    sites: list[Site] = []
    try:
        for _ in range(count):
            port = free_port()
            # (A database fixture's teardown removes WORK; a later user of serve makes it anew.)
            WORK.mkdir(parents=True, exist_ok=True)
            log = WORK / f"uvicorn-{port}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "chatboard.asgi:application",
                        "--port",
                        str(port),
                    ],
                    cwd=CHATBOARD,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            sites.append(Site(port, process, log))
        for site in sites:
            _wait_until_up(site)
        LIVE.extend(sites)
        yield sites
    finally:
        LIVE[:] = [site for site in LIVE if site not in sites]
        for site in sites:
            site.process.terminate()
        for site in sites:
            try:
                site.process.wait(10)
            except subprocess.TimeoutExpired:
                site.process.kill()
                site.process.wait()


def _wait_until_up(site: Site) -> None:
    deadline = time.monotonic() + 30
    while True:
        if site.process.poll() is not None:
            pytest.fail(f"ChatBoard did not start:\n{site.output()}")
        try:
            if httpx.get(f"{site.url}/accounts/login/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"ChatBoard did not answer in 30 s:\n{site.output()}")
        time.sleep(0.1)  # polling a starting subprocess: there is no event to wait for


@pytest.fixture(scope="session")
def site(test_database: str) -> Iterator[Site]:
    """One ChatBoard process (SQLite or PostgreSQL, in-memory broker) for the session."""
    with serve(test_database) as (only,):
        yield only
