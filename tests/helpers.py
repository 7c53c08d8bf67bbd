"""Helpers shared by the test suites: real services that skip, or fail under CI."""

from __future__ import annotations

import os
import socket

import pytest


def require(what: str, reason: str) -> None:
    """Skip with ``reason`` when ``what`` is missing; fail instead when ``CI`` is set."""
    message = f"{what} is not available: {reason}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this fails instead of skipping)")
    pytest.skip(message)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
