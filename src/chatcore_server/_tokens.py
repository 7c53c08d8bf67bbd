"""Logins for ``chatcore serve``: JWTs (``chatcore_server.jwt``), and guests."""

from __future__ import annotations

import itertools
import secrets
from urllib.parse import parse_qs

from chatcore import User

from ._http import Request
from .config import Settings
from .jwt import TokenError, TokenVerifier
from .login import Authenticate, Login, LoginRefused, TokenLogin

__all__ = ("handshake_login", "token_login")


def token_login(settings: Settings) -> TokenLogin | None:
    """Verifies a token into a login with the settings' key; None without a key."""
    public_key = settings.public_key()
    if settings.jwt_secret is None and public_key is None:
        return None
    verifier = TokenVerifier(
        secret=settings.jwt_secret,
        public_key=public_key,
        algorithms=settings.jwt_algorithms or None,
        leeway=settings.jwt_leeway,
    )

    def login(token: str) -> Login:
        try:
            claims = verifier.verify(token)
        except TokenError as error:
            raise LoginRefused(error.code, str(error)) from None
        return Login(claims.user, claims.expires)

    return login


def handshake_login(tokens: TokenLogin | None, guests: bool) -> Authenticate:
    """A socket's login at the handshake: the ``token`` query parameter, else a guest (with
    ``guests``), else none yet (the first frame must be ``auth``)."""
    numbers = itertools.count(1)
    tag = secrets.token_hex(3)  # guests of different processes get different ids

    def authenticate(request: Request) -> Login | None:
        token = parse_qs(request.query).get("token")
        if token and tokens is not None:
            return tokens(token[0])  # LoginRefused refuses the handshake (403)
        if guests and not token:
            number = next(numbers)
            return Login(User(id=f"guest-{tag}-{number}", name=f"Guest {tag}-{number}"))
        return None

    return authenticate
