"""Who a socket is: the user, and until when (a token's expiry)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

from chatcore import User

from ._http import Request

__all__ = ("Authenticate", "Login", "LoginRefused", "TokenLogin")


@attrs.frozen
class Login:
    """A socket's user; ``expires`` (unix seconds) ends the socket with 4401 then, unless a
    ``refresh`` frame brought a later one."""

    user: User
    expires: float | None = None


class LoginRefused(Exception):
    """A token was not accepted; ``code`` says why (``expired``, ``bad_signature``...)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


#: Finds a socket's user at the handshake (from a header, a cookie, a query parameter), or None.
Authenticate = Callable[[Request], Awaitable[User | Login | None] | User | Login | None]

#: Turns a token into a login (from an ``auth`` or ``refresh`` frame); raises LoginRefused.
TokenLogin = Callable[[str], Login]
