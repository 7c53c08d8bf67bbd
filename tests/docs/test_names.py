"""The names the docs promise exist where they say: docs/api.md's "importable from `chatcore`
unless another module is named", and the pages docs/index.md lists."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import chatcore
from chatcore.client import ChatClient
from chatcore.testing import LocalClient

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)  # run by test_examples
CODE = re.compile(r"`([^`\n]+)`")
# A call as the docs show one: ``await join(room, since=None)``, ``client.events(kind=None)``.
CALL = re.compile(r"^(?:await )?(?:\w+\.)?(\w+)\((.*)\)")
# A name not reached through a module or an object: ``NoSuchRoom``, not ``values.check_text``.
BARE_NAME = re.compile(r"(?<![\w.])([A-Za-z_]\w*)")


def _public_names() -> set[str]:
    """Every name some public module of the core lists in ``__all__``."""
    names: set[str] = set()
    for info in pkgutil.walk_packages(chatcore.__path__, "chatcore."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        names.update(importlib.import_module(info.name).__all__)
    return names


def test_every_core_name_api_md_shows_bare_is_importable_from_chatcore() -> None:
    public = _public_names()
    named: set[str] = set()
    text = FENCED.sub("", (DOCS / "api.md").read_text())
    for section in re.split(r"^## ", text, flags=re.MULTILINE):
        heading = section.partition("\n")[0]
        # A section on one module ("## Testing your code: `chatcore.testing`") names its own.
        own = {
            name
            for module in re.findall(r"chatcore\.\w+", heading)
            for name in importlib.import_module(module).__all__
        }
        for span in CODE.findall(section):
            named.update(name for name in BARE_NAME.findall(span) if name in public - own)
    assert {"ChatServer", "NoSuchRoom", "Appended"} <= named
    assert sorted(name for name in named if not hasattr(chatcore, name)) == []


def test_every_error_class_is_importable_from_chatcore() -> None:
    # api.md: each application call raises "the ClientError subclass of the matching wire code".
    errors = importlib.import_module("chatcore.wire.errors")
    assert sorted(set(errors.__all__) - set(chatcore.__all__)) == []


def test_the_index_lists_every_page() -> None:
    index = (DOCS / "index.md").read_text()
    linked = set(re.findall(r"\]\(([\w-]+\.md)\)", index))
    pages = {page.name for page in DOCS.glob("*.md")} - {"index.md"}
    assert sorted(pages - linked) == []


def _section(page: str, start: str, end: str | None = None) -> str:
    text = (DOCS / page).read_text()
    section = text[text.index(start) :]
    return section if end is None else section[: section.index(end)]


@pytest.mark.parametrize(
    ("cls", "page", "start", "end"),
    [
        (ChatClient, "client.md", "## `chatcore.client` (Python)", None),
        (LocalClient, "api.md", "## Testing your code", None),
    ],
)
def test_the_calls_the_docs_show_have_those_parameters(
    cls: type, page: str, start: str, end: str | None
) -> None:
    checked = 0
    for span in CODE.findall(FENCED.sub("", _section(page, start, end))):
        found = CALL.match(span)
        if found is None or found.group(1) not in {*vars(cls), cls.__name__}:
            continue
        method, arguments = found.groups()
        function = getattr(cls, "__init__" if method == cls.__name__ else method)
        parameters = inspect.signature(function).parameters
        arguments = re.sub(r"\([^()]*\)", "", arguments)  # defaults such as Backoff()
        for argument in filter(None, (a.strip() for a in arguments.split(","))):
            name = argument.lstrip("*").partition("=")[0].strip()
            if name:
                assert name in parameters, f"{page}: {cls.__name__}.{method} has no {name!r}"
        checked += 1
    assert checked >= 5
