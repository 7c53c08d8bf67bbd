"""Who a socket is, from a JSON Web Token (PyJWT): the standalone server's authentication.

A token is signed with a shared secret (HS256) or with a private key whose public half the server
is given (RS256, ES256). The claims are ``sub`` (the user id), ``name``, ``avatar`` and ``exp``.
The verifier accepts only the algorithms of the key it was given: a token signed with another
algorithm, with ``alg: none``, or with a public key used as an HMAC secret is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import jwt
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from chatcore import User
from chatcore.clock import Clock, SystemClock
from chatcore.wire.errors import ChatError, UsageError

__all__ = ("Claims", "TokenError", "TokenVerifier")

_HMAC = frozenset({"HS256", "HS384", "HS512"})
_RSA = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC = frozenset({"ES256", "ES384", "ES512"})

# PyJWT checks the signature, the algorithm and the claims' shapes; time is checked here, on the
# injected clock, so that tests move time instead of sleeping.
_OPTIONS: Any = {
    "require": ["sub"],
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
}


class TokenError(ChatError):
    """A token that does not authenticate anyone; :attr:`code` says why, for the close reason."""

    EXPIRED: ClassVar[str] = "expired"
    INVALID: ClassVar[str] = "invalid_token"

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@attrs.frozen(kw_only=True)
class Claims:
    """What a valid token says: the user, and when the token expires (unix seconds, if it does)."""

    user: User
    expires: float | None = None


class TokenVerifier:
    """Checks tokens signed with ``secret`` (HMAC) or with the private half of ``public_key`` (a
    PEM RSA or EC public key). ``algorithms`` defaults to HS256, RS256 or ES256 after the key;
    ``leeway`` is the clock skew allowed on ``exp`` and ``nbf``, in seconds."""

    def __init__(
        self,
        *,
        secret: str | None = None,
        public_key: str | None = None,
        algorithms: Sequence[str] | None = None,
        leeway: float = 0,
        audience: str | None = None,
        issuer: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        if (secret is None) == (public_key is None):
            raise UsageError("give a JWT secret or a public key (one of them)")
        key: Any
        if secret is not None:
            if not secret:
                raise UsageError("the JWT secret is empty")
            key, family, default = secret, _HMAC, "HS256"
        else:
            assert public_key is not None
            key = _load_public_key(public_key)
            if isinstance(key, RSAPublicKey):
                family, default = _RSA, "RS256"
            else:
                family, default = _EC, "ES256"
        chosen = tuple(algorithms) if algorithms is not None else (default,)
        wrong = [name for name in chosen if name not in family]
        if not chosen or wrong:
            raise UsageError(f"algorithms {wrong or chosen!r} do not fit the key")
        if leeway < 0:
            raise UsageError("leeway must be >= 0")
        self._key = key
        self._decoder = jwt.PyJWT(options=_OPTIONS)
        self.algorithms = chosen
        self._leeway = leeway
        self._audience = audience
        self._issuer = issuer
        self._clock: Clock = clock or SystemClock()

    def verify(self, token: str) -> Claims:
        """The claims of ``token``, or :class:`TokenError` (``expired`` or ``invalid_token``)."""
        try:
            claims = self._decoder.decode(
                token,
                self._key,
                algorithms=list(self.algorithms),
                audience=self._audience,
                issuer=self._issuer,
            )
        except jwt.PyJWTError as error:
            raise TokenError(TokenError.INVALID, str(error) or type(error).__name__) from None
        now = self._clock.now() / 1000
        expires = _time_claim(claims, "exp")
        if expires is not None and now > expires + self._leeway:
            raise TokenError(TokenError.EXPIRED, "the token has expired")
        not_before = _time_claim(claims, "nbf")
        if not_before is not None and now + self._leeway < not_before:
            raise TokenError(TokenError.INVALID, "the token is not yet valid (nbf)")
        return Claims(user=_user(claims), expires=expires)


def _load_public_key(pem: str) -> RSAPublicKey | EllipticCurvePublicKey:
    try:
        key = load_pem_public_key(pem.encode())
    except ValueError as error:
        raise UsageError(f"the JWT public key is not a PEM public key: {error}") from None
    if not isinstance(key, RSAPublicKey | EllipticCurvePublicKey):
        raise UsageError("the JWT public key must be an RSA or EC key")
    return key


def _time_claim(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError(TokenError.INVALID, f"the {name} claim must be a number")
    return float(value)


def _user(claims: Mapping[str, Any]) -> User:
    user_id = claims["sub"]
    if not isinstance(user_id, str) or not user_id.strip():
        raise TokenError(TokenError.INVALID, "the sub claim must be a non-empty string")
    name = claims.get("name", user_id)
    avatar = claims.get("avatar")
    if not isinstance(name, str) or not name.strip():
        raise TokenError(TokenError.INVALID, "the name claim must be a non-empty string")
    if avatar is not None and not isinstance(avatar, str):
        raise TokenError(TokenError.INVALID, "the avatar claim must be a string")
    return User(id=user_id, name=name, avatar=avatar)
