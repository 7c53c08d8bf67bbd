"""The Python examples in the README and the docs run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "docs" / "api.md",
    ROOT / "docs" / "moderation.md",
    ROOT / "docs" / "hooks.md",
]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def examples() -> list[tuple[str, str]]:
    found = []
    for document in DOCUMENTS:
        for number, code in enumerate(BLOCK.findall(document.read_text()), 1):
            found.append((f"{document.name}#{number}", code))
    return found


def test_documents_have_examples() -> None:
    names = {name.split("#")[0] for name, _ in examples()}
    assert names == {document.name for document in DOCUMENTS}


@pytest.mark.parametrize(("name", "code"), examples(), ids=[name for name, _ in examples()])
def test_example_runs(name: str, code: str) -> None:
    exec(compile(code, name, "exec"), {"__name__": "__example__"})
