"""The origin check both adapters make: scheme, host and port of the socket's own site."""

from __future__ import annotations

import pytest

from chatcore.origins import AllowedOrigins, normalize_origin, socket_origin


@pytest.mark.parametrize(
    ("origin", "normal"),
    [
        ("http://Example.com", "http://example.com:80"),
        ("https://example.com/", "https://example.com:443"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("null", None),
        ("file://", None),
        ("http://example.com/page", None),
        ("http://example.com:99999", None),
    ],
)
def test_origins_are_compared_in_one_form(origin: str, normal: str | None) -> None:
    assert normalize_origin(origin) == normal


def test_the_sites_own_origin_has_the_sockets_scheme_host_and_port() -> None:
    assert socket_origin("ws", "example.com") == "http://example.com:80"
    assert socket_origin("wss", "example.com") == "https://example.com:443"
    allowed = AllowedOrigins()
    own = socket_origin("wss", "example.com")
    assert allowed.allow("https://example.com", own)
    assert not allowed.allow("http://example.com", own)  # another scheme
    assert not allowed.allow("https://example.com:8443", own)  # another port
    assert not allowed.allow("https://evil.example", own)
    assert not allowed.allow("null", own)
    assert allowed.allow(None, own)  # not a browser page
    assert not allowed.allow("https://example.com", None)  # no Host: only the listed pass


def test_listed_origins_pass_and_a_star_lets_any_in() -> None:
    listed = AllowedOrigins(["https://app.example/"])
    assert listed.allow("https://app.example:443", None)
    assert not listed.allow("http://app.example", None)
    assert AllowedOrigins(["*"]).allow("https://anything.example", None)
