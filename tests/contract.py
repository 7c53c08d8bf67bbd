"""Frames checked against docs/asyncapi.yaml's message schemas (the generator's document).

Server events are checked strictly: an object that lists its properties may hold no other, so
a field the server starts to send without the document saying so fails a test. Commands may
carry fields the server ignores.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import jsonschema

from chatcore.wire.asyncapi import document

Frame = Mapping[str, Any]


def _strict(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` wherever properties are listed and
    nothing is said of others."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if "properties" in strict and "additionalProperties" not in strict:
        strict["additionalProperties"] = False
    return strict


@functools.cache
def _validator(kind: str) -> jsonschema.Draft7Validator:
    """The validator of message ``kind`` (``command.join``, ``event.message``)."""
    schemas = document()["components"]["schemas"]
    if not kind.startswith("command."):
        schemas = _strict(schemas)
    root = {"$ref": f"#/components/schemas/{kind}", "components": {"schemas": schemas}}
    return jsonschema.Draft7Validator(root)


@functools.cache
def message_kinds(prefix: str) -> frozenset[str]:
    """The kinds of the document's messages named ``prefix.kind``: the frame types of
    commands and events (``command``, ``event``), the commands of ``ok`` replies (``reply``)."""
    return frozenset(
        name.partition(".")[2]
        for name in document()["components"]["messages"]
        if name.startswith(f"{prefix}.")
    )


def problems(prefix: str, frame: Frame, kind: object = None) -> list[str]:
    """What is wrong with ``frame`` by the schema of message ``prefix.kind`` (``kind``: the
    frame's type unless given); empty when it fits."""
    kind = frame.get("type") if kind is None else kind
    if not isinstance(kind, str) or kind not in message_kinds(prefix):
        return [f"no {prefix} message {kind!r} in the document"]
    errors = _validator(f"{prefix}.{kind}").iter_errors(dict(frame))
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in errors]


class Recorder:
    """Checks the frames of connections as they pass: every frame the server sends, and every
    command frame with a ``ref`` that the server answered with ``ok`` (one it refused may be
    wrong on purpose). :attr:`wrong` lists the frames that do not fit, :attr:`seen` the
    message names checked."""

    def __init__(self) -> None:
        self.wrong: list[str] = []
        self.seen: set[str] = set()
        self._waiting: dict[tuple[int, str | int], Frame] = {}

    def received(self, connection: object, data: str | bytes) -> None:
        """``connection`` got ``data`` from its client."""
        try:
            frame = json.loads(data)
        except (ValueError, RecursionError):
            return
        if not isinstance(frame, dict):
            return
        ref = frame.get("ref")
        if isinstance(ref, str | int) and not isinstance(ref, bool):
            self._waiting[(id(connection), ref)] = frame

    def sent(self, connection: object, text: str) -> None:
        """``connection`` sent ``text`` to its client."""
        frame = json.loads(text)
        self._check("event", frame)
        ref = frame.get("ref")
        if frame["type"] in ("ok", "error") and isinstance(ref, str | int):
            command = self._waiting.pop((id(connection), ref), None)
            if command is not None and frame["type"] == "ok":
                self._check("command", command)
                self._check("reply", frame, command["type"])

    def _check(self, prefix: str, frame: Frame, kind: object = None) -> None:
        kind = frame["type"] if kind is None else kind
        wrong = problems(prefix, frame, kind)
        if wrong:
            self.wrong.append(f"{prefix} {json.dumps(frame)[:300]}: {'; '.join(wrong)}")
        else:
            self.seen.add(f"{prefix}.{kind}")
