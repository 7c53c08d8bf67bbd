"""docs/asyncapi.yaml: written by the generator from the classes, a valid AsyncAPI 3.0 document,
and naming the same commands, events and error codes as docs/protocol.md."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from chatcore.wire.asyncapi import COMMANDS, document, to_yaml
from chatcore.wire.errors import ErrorCode
from chatcore.wire.protocol import Rejected, decode

from ..contract import message_kinds

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"
# The AsyncAPI 3.0.0 schema from npm's @asyncapi/specs (tests/docs/ASYNCAPI_SCHEMA.md).
SPEC_SCHEMA = Path(__file__).with_name("asyncapi-3.0.0.schema.json.gz")


def test_the_committed_document_is_what_the_generator_writes() -> None:
    # To update it: python -m chatcore.wire.asyncapi docs/asyncapi.yaml (or make asyncapi).
    assert DOCUMENT.read_text(encoding="utf-8") == to_yaml(document())


def test_the_yaml_reads_back_as_the_document() -> None:
    assert yaml.safe_load(DOCUMENT.read_text(encoding="utf-8")) == document()


def test_the_document_is_valid_asyncapi() -> None:
    spec = json.loads(gzip.decompress(SPEC_SCHEMA.read_bytes()))
    validator = jsonschema.Draft7Validator(spec)
    errors = [f"{error.json_path}: {error.message}" for error in validator.iter_errors(document())]
    assert errors == []


def test_every_payload_is_a_valid_json_schema_whose_refs_resolve() -> None:
    schemas: dict[str, Any] = document()["components"]["schemas"]
    refs: set[str] = set()
    for schema in schemas.values():
        jsonschema.Draft7Validator.check_schema(schema)
        refs.update(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(schema)))
    assert sorted(refs - set(schemas)) == []
    for message in document()["components"]["messages"].values():
        assert message["payload"]["$ref"].rsplit("/", 1)[1] in schemas


def _table_names(heading: str) -> set[str]:
    """The backquoted names in the first column of the table under ``heading`` in protocol.md."""
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    section = text[text.index(f"\n{heading}\n") :]
    rows = re.findall(r"^\|([^|\n]*)\|", section.split("\n\n", 2)[1], re.MULTILINE)
    return {name for row in rows[2:] for name in re.findall(r"`(\w+)`", row)}


def test_protocol_md_lists_every_command_of_the_document() -> None:
    assert _table_names("## Client → server") == message_kinds("command")


def test_protocol_md_lists_every_event_of_the_document() -> None:
    assert _table_names("## Server → client") == message_kinds("event")


def test_protocol_md_and_the_document_list_the_same_error_codes() -> None:
    codes = document()["components"]["schemas"]["event.error"]["properties"]["code"]["enum"]
    assert _table_names("## Errors") == set(codes) == {code.value for code in ErrorCode}


SAMPLES: dict[str, Any] = {"room": "lobby", "text": "hi", "id": 1, "emoji": "+1", "to": "2"}
SAMPLES["title"] = "Lobby"
SAMPLES.update(user="2", role="moderator")
SAMPLES["users"] = ["2"]


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_each_command_type_is_parsed_into_its_class(kind: str) -> None:
    schema = document()["components"]["schemas"][f"command.{kind}"]
    frame = {name: SAMPLES[name] for name in schema["required"] if name != "type"}
    if kind == "update_room":  # a title or private: either one is required
        frame["private"] = True
    command = decode(json.dumps({"type": kind, **frame}), 16_384)
    assert not isinstance(command, Rejected)
    assert type(command) is COMMANDS[kind]
