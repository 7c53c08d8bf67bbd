"""TokenVerifier: each way a token is refused, with keys made here (HS256, RS256, ES256)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.utils import base64url_encode

from chatcore import User
from chatcore.clock import FakeClock
from chatcore.wire.errors import UsageError
from chatcore_server.jwt import Claims, TokenError, TokenVerifier

SECRET = "a-secret-of-sixty-four-bytes-which-is-what-hs512-asks-for-at-least"
NOW = FakeClock().now() // 1000


def _pem(key: Any) -> str:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return str(public.decode())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "42", "name": "Alice", "avatar": "/a.png", "exp": NOW + 60, **extra}


def _refusal(verifier: TokenVerifier, token: str) -> TokenError:
    with pytest.raises(TokenError) as caught:
        verifier.verify(token)
    return caught.value


def test_a_valid_hs256_token_gives_the_user_and_the_expiry() -> None:
    verifier = TokenVerifier(secret=SECRET, clock=FakeClock())
    claims = verifier.verify(jwt.encode(_claims(), SECRET, algorithm="HS256"))
    assert claims == Claims(user=User(id="42", name="Alice", avatar="/a.png"), expires=NOW + 60)


def test_name_defaults_to_the_id_and_exp_is_optional() -> None:
    verifier = TokenVerifier(secret=SECRET)
    claims = verifier.verify(jwt.encode({"sub": "7"}, SECRET, algorithm="HS256"))
    assert claims == Claims(user=User(id="7", name="7"), expires=None)


def test_rs256_and_es256_with_a_public_key(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    clock = FakeClock()
    for key, algorithm in ((rsa_key, "RS256"), (ec_key, "ES256")):
        verifier = TokenVerifier(public_key=_pem(key), clock=clock)
        assert verifier.algorithms == (algorithm,)
        token = jwt.encode(_claims(), key, algorithm=algorithm)
        assert verifier.verify(token).user.id == "42"


def test_an_expired_token_is_refused_as_expired_with_the_leeway() -> None:
    clock = FakeClock()
    token = jwt.encode(_claims(exp=NOW + 10), SECRET, algorithm="HS256")
    strict = TokenVerifier(secret=SECRET, clock=clock)
    lenient = TokenVerifier(secret=SECRET, clock=clock, leeway=30)
    assert strict.verify(token).expires == NOW + 10
    clock.advance(11_000)
    assert _refusal(strict, token).code == "expired"
    assert lenient.verify(token).user.id == "42"
    clock.advance(30_000)
    assert _refusal(lenient, token).code == TokenError.EXPIRED


def test_a_token_not_yet_valid_is_refused() -> None:
    verifier = TokenVerifier(secret=SECRET, clock=FakeClock())
    token = jwt.encode(_claims(nbf=NOW + 100), SECRET, algorithm="HS256")
    assert _refusal(verifier, token).code == "invalid_token"


def test_a_token_signed_with_another_key_is_refused(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    hs = TokenVerifier(secret=SECRET, clock=FakeClock())
    assert _refusal(hs, jwt.encode(_claims(), SECRET + "x", algorithm="HS256")).code == (
        "invalid_token"
    )
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rs = TokenVerifier(public_key=_pem(rsa_key), clock=FakeClock())
    assert _refusal(rs, jwt.encode(_claims(), other_rsa, algorithm="RS256")).code == (
        "invalid_token"
    )
    other_ec = ec.generate_private_key(ec.SECP256R1())
    es = TokenVerifier(public_key=_pem(ec_key), clock=FakeClock())
    assert _refusal(es, jwt.encode(_claims(), other_ec, algorithm="ES256")).code == (
        "invalid_token"
    )


def test_a_token_with_another_algorithm_is_refused(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    clock = FakeClock()
    hs = TokenVerifier(secret=SECRET, clock=clock)
    assert _refusal(hs, jwt.encode(_claims(), SECRET, algorithm="HS512")).code == "invalid_token"
    assert _refusal(hs, jwt.encode(_claims(), rsa_key, algorithm="RS256")).code == "invalid_token"
    rs = TokenVerifier(public_key=_pem(rsa_key), clock=clock)
    assert _refusal(rs, jwt.encode(_claims(), ec_key, algorithm="ES256")).code == "invalid_token"
    assert _refusal(rs, jwt.encode(_claims(), SECRET, algorithm="HS256")).code == "invalid_token"


def test_the_public_key_used_as_an_hmac_secret_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    # The classic confusion: an attacker signs HS256 with the (public) PEM as the secret.
    pem = _pem(rsa_key)
    verifier = TokenVerifier(public_key=pem, clock=FakeClock())
    header = base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = base64url_encode(json.dumps({"sub": "admin"}).encode())
    signing_input = header + b"." + payload
    signature = hmac.new(pem.encode(), signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + base64url_encode(signature)).decode()
    assert _refusal(verifier, forged).code == "invalid_token"


def test_alg_none_is_refused() -> None:
    verifier = TokenVerifier(secret=SECRET, clock=FakeClock())
    unsigned = jwt.encode(_claims(), None, algorithm="none")  # type: ignore[arg-type]
    assert unsigned.endswith(".")
    assert _refusal(verifier, unsigned).code == "invalid_token"


def test_a_token_without_sub_or_with_bad_claims_is_refused() -> None:
    verifier = TokenVerifier(secret=SECRET, clock=FakeClock())
    for claims in (
        {"name": "Alice", "exp": NOW + 60},
        {"sub": "", "exp": NOW + 60},
        {"sub": "1", "name": 3},
        {"sub": "1", "avatar": ["x"]},
        {"sub": "1", "exp": "tomorrow"},
    ):
        error = _refusal(verifier, jwt.encode(claims, SECRET, algorithm="HS256"))
        assert error.code == "invalid_token", claims


def test_garbage_is_refused() -> None:
    verifier = TokenVerifier(secret=SECRET)
    for token in ("", "not.a.token", "a.b", "eyJhbGciOiJIUzI1NiJ9.e30.x"):
        assert _refusal(verifier, token).code == "invalid_token"


def test_misconfiguration_is_a_usage_error(ec_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(UsageError):
        TokenVerifier()
    with pytest.raises(UsageError):
        TokenVerifier(secret=SECRET, public_key=_pem(ec_key))
    with pytest.raises(UsageError):
        TokenVerifier(secret=SECRET, algorithms=["none"])
    with pytest.raises(UsageError):
        TokenVerifier(secret=SECRET, algorithms=["RS256"])
    with pytest.raises(UsageError):
        TokenVerifier(public_key=_pem(ec_key), algorithms=["HS256"])
    with pytest.raises(UsageError):
        TokenVerifier(public_key="not a key")
    with pytest.raises(UsageError):
        TokenVerifier(public_key=_pem(ed25519.Ed25519PrivateKey.generate()))
