"""Sockets follow their login on a live ChatBoard: an account deactivated, a session deleted or
expired, or a password changed by another process ends the sockets with 4401 at the next check
(the site checks every ``CHATCORE_REVALIDATE`` = 0.2 s here; the default is 60 s)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.utils import timezone

from .conftest import CHATBOARD, Site, serve
from .test_site import Browserless, next_of

pytestmark = [pytest.mark.anyio, pytest.mark.network]


@pytest.fixture(scope="module")
def checking_site(test_database: str) -> Iterator[Site]:
    with serve(test_database, CHATCORE_REVALIDATE="0.2") as (only,):
        yield only


async def assert_ended(ws: websockets.ClientConnection) -> None:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await next_of(ws, "never")
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_a_user_deactivated_by_another_process_is_closed(checking_site: Site) -> None:
    async with Browserless.sign_up(checking_site, "off") as user, user.socket() as ws:
        await next_of(ws, "welcome")
        # An ORM update (as a script or another process would do it) sends no signal here.
        await sync_to_async(get_user_model().objects.filter(username=user.username).update)(
            is_active=False
        )
        await assert_ended(ws)


async def test_a_deleted_session_is_closed(checking_site: Site) -> None:
    async with Browserless.sign_up(checking_site, "gone") as user, user.socket() as ws:
        await next_of(ws, "welcome")
        key = user.http.cookies["sessionid"]
        await sync_to_async(lambda: Session.objects.filter(session_key=key).delete())()
        await assert_ended(ws)


async def test_an_expired_session_is_closed(checking_site: Site) -> None:
    async with Browserless.sign_up(checking_site, "old") as user, user.socket() as ws:
        await next_of(ws, "welcome")
        key = user.http.cookies["sessionid"]
        past = timezone.now() - timedelta(seconds=1)
        await sync_to_async(Session.objects.filter(session_key=key).update)(expire_date=past)
        await assert_ended(ws)


async def test_a_password_changed_by_a_management_command_closes_the_sockets(
    checking_site: Site, test_database: str
) -> None:
    async with Browserless.sign_up(checking_site, "cmd") as user, user.socket() as ws:
        await next_of(ws, "welcome")
        new = "changed-by-command-5813"

        def change_password() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "manage.py", "changepassword", user.username],
                cwd=CHATBOARD,
                env={**os.environ, "DATABASE_URL": test_database, "PYTHONPATH": str(CHATBOARD)},
                input=f"{new}\n{new}\n",
                text=True,
                capture_output=True,
                start_new_session=True,  # no terminal: getpass reads the piped input
                timeout=60,
                check=False,
            )

        changed = await sync_to_async(change_password)()
        assert changed.returncode == 0, changed.stderr
        await assert_ended(ws)
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with user.socket():
                pass
        assert refused.value.response.status_code == 403
