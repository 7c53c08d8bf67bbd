"""JWT logins of ``chatcore serve`` over real sockets: the ``token`` query parameter and the
``auth`` first frame; expired, wrong key, wrong algorithm, ``none``, no ``sub``; ``refresh``."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from .serve_process import Serve

pytestmark = [pytest.mark.network, pytest.mark.anyio]

SECRET = "test-secret-of-32-bytes-or-more!!"


def token(claims: dict[str, Any] | None = None, key: Any = SECRET, algorithm: str = "HS256") -> str:
    """A signed token: ``sub`` "7", ``name`` "Grace", an hour to live, unless ``claims`` say."""
    body = {"sub": "7", "name": "Grace", "exp": int(time.time()) + 3600, **(claims or {})}
    return str(
        jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=algorithm)
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """An ES256 private key, and the path of its public key's PEM file."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = tmp_path_factory.mktemp("keys") / "public.pem"
    path.write_bytes(pem)
    return private, path


@pytest.fixture(scope="module")
def hs256() -> Iterator[Serve]:
    server = Serve("--jwt-secret", SECRET)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def es256(keys: tuple[Any, Path]) -> Iterator[Serve]:
    server = Serve(env={"CHATCORE_JWT_PUBLIC_KEY": str(keys[1])})
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def welcome(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(5):
        frame = json.loads(await ws.recv())
    assert frame["type"] == "welcome"
    return frame  # type: ignore[no-any-return]


async def refused(url: str) -> int:
    with pytest.raises(InvalidStatus) as error:
        await connect(url)
    return error.value.response.status_code


async def closed_code(ws: ClientConnection, within: float = 10) -> int | None:
    async with asyncio.timeout(within):
        await ws.wait_closed()
    return ws.close_code


def part(data: str | bytes) -> str:
    """base64url without padding."""
    data = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(algorithm: str, key: bytes = b"") -> str:
    """A token PyJWT would not make: ``none``, or HS256 keyed with a public key's PEM."""
    head = part(json.dumps({"alg": algorithm, "typ": "JWT"}))
    body = part(json.dumps({"sub": "7", "exp": int(time.time()) + 3600}))
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest() if key else b""
    return f"{head}.{body}.{part(signature)}"


def bad_tokens(keys: tuple[Any, Path]) -> dict[str, str]:
    return {
        "expired": token({"exp": int(time.time()) - 60}),
        "wrong key": token(key="another-secret-of-32-bytes-or-more"),
        "wrong algorithm": token(key=keys[0], algorithm="ES256"),
        "none algorithm": forged("none"),
        "missing sub": token({"sub": None}),
    }


async def test_a_valid_token_logs_in_by_query_or_first_frame(hs256: Serve) -> None:
    async with connect(f"{hs256.ws_url}?token={token()}") as ws:
        user = (await welcome(ws))["user"]
        assert (user["id"], user["name"]) == ("7", "Grace")
    async with connect(hs256.ws_url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token({"sub": "8", "name": "Ada"})}))
        assert (await welcome(ws))["user"]["id"] == "8"


async def test_bad_tokens_are_refused_at_the_handshake_and_closed_with_4401_in_a_frame(
    hs256: Serve, keys: tuple[Any, Path]
) -> None:
    for why, bad in bad_tokens(keys).items():
        assert await refused(f"{hs256.ws_url}?token={bad}") == 403, why
        async with connect(hs256.ws_url) as ws:
            await ws.send(json.dumps({"type": "auth", "token": bad}))
            assert await closed_code(ws) == 4401, why


async def test_a_public_key_accepts_its_tokens_and_not_one_signed_with_it_as_a_secret(
    es256: Serve, keys: tuple[Any, Path]
) -> None:
    async with connect(f"{es256.ws_url}?token={token(key=keys[0], algorithm='ES256')}") as ws:
        assert (await welcome(ws))["user"]["id"] == "7"
    confused = forged("HS256", keys[1].read_bytes())
    assert await refused(f"{es256.ws_url}?token={confused}") == 403


async def test_expiry_closes_with_4401_unless_a_refresh_came_in_time(hs256: Serve) -> None:
    soon = int(time.time()) + 2
    async with (
        connect(f"{hs256.ws_url}?token={token({'exp': soon})}") as late,
        connect(f"{hs256.ws_url}?token={token({'exp': soon})}") as kept,
    ):
        await welcome(late)
        await welcome(kept)
        fresh = token({"exp": int(time.time()) + 3600})
        await kept.send(json.dumps({"type": "refresh", "token": fresh, "ref": 1}))
        async with asyncio.timeout(5):
            assert json.loads(await kept.recv()) == {"type": "ok", "ref": 1}
        assert await closed_code(late) == 4401
        await kept.send(json.dumps({"type": "ping", "ref": 2}))
        async with asyncio.timeout(5):
            assert json.loads(await kept.recv()) == {"type": "ok", "ref": 2}
