"""The command table: every command of the protocol has exactly one handler, and every handler
a command, so a command cannot be added without its handler."""

from __future__ import annotations

import inspect
import json
import typing

import attrs

from chatcore.runtime._handlers import HANDLERS
from chatcore.wire import commands
from chatcore.wire.protocol import _PARSERS, decode

# Enough fields for any command's required ones; each parser ignores the others.
_FIELDS = {
    "room": "a",
    "text": "x",
    "to": "u",
    "title": "t",
    "id": 1,
    "emoji": "+1",
    "users": ["u"],
    "user": "u",
}
_FIELDS["role"] = "member"


def _command_classes() -> set[type]:
    """Every command class the commands module defines."""
    return {
        value
        for value in vars(commands).values()
        if inspect.isclass(value) and value.__module__ == commands.__name__ and attrs.has(value)
    }


def test_every_command_class_is_in_the_command_union() -> None:
    assert _command_classes() == set(typing.get_args(commands.Command))


def test_every_command_the_protocol_parses_has_a_handler() -> None:
    parsed = {type(decode(json.dumps({"type": kind, **_FIELDS}), 1024)) for kind in _PARSERS}
    assert parsed == _command_classes()
    assert parsed - set(HANDLERS) == set()


def test_every_handler_is_for_a_command_class() -> None:
    assert set(HANDLERS) == _command_classes()
