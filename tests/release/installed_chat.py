"""Run by the wheel's own venv (not the test's): talk to the Starlette example with
``chatcore.client`` from the installed package.

Usage: ``python -I installed_chat.py <http base URL> <sha256 of the source chatcore.js>``. Prints
one JSON object: where chatcore was imported from, and what the two users saw.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import sys
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

import chatcore
from chatcore.client import ChatClient, Frame


def request(base: str, method: str, path: str, body: str | None = None) -> http.client.HTTPResponse:
    """One HTTP request to the example; the response, already read into ``.data``."""
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    response.data = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


def login(base: str, name: str) -> dict[str, str]:
    """The session cookie of ``name``, logged in through the example's form."""
    response = request(base, "POST", "/login", f"name={name}")
    assert response.status == 303, response.status
    cookie = SimpleCookie(response.getheader("set-cookie"))
    return {key: morsel.value for key, morsel in cookie.items()}


async def next_message(client: ChatClient) -> Frame:
    async with asyncio.timeout(5):
        while True:
            event = await client.next_event()
            if event["type"] == "message":
                return event


async def chat(base: str) -> dict[str, object]:
    ws_url = base.replace("http://", "ws://") + "/ws"
    async with (
        ChatClient(ws_url, cookies=login(base, "Alice")) as alice,
        ChatClient(ws_url, cookies=login(base, "Bob")) as bob,
    ):
        await alice.create_room("release", "Release check")
        await alice.join("release")
        joined = await bob.join("release")
        sent = await bob.send("release", "hello from the wheel")
        seen = await next_message(alice)
        return {
            "members": sorted(user["id"] for user in joined["members"]),
            "sent": sent,
            "seen": [seen["id"], seen["from"]["name"], seen["text"]],
        }


def main() -> None:
    base, digest = sys.argv[1], sys.argv[2]
    script = request(base, "GET", "/chatcore/chatcore.js")
    served = hashlib.sha256(script.data).hexdigest()  # type: ignore[attr-defined]
    result = {
        "chatcore": chatcore.__file__,
        "prefix": sys.prefix,
        "version": chatcore.__version__,
        "chatcore.js": [script.status, served == digest],
        **asyncio.run(chat(base)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
