"""A griffe extension for the API reference (mkdocs.yml): the docstrings' reST, read as Markdown.

chatcore's docstrings use a little reST: roles (``:class:`~chatcore.User```), double-backtick
literals and ``::`` before an indented example. Markdown shows the roles as stray text, so this
turns a role into inline code of its target (the last dotted part with ``~``) and ``::`` into
``:``; the indented block after it is already a code block in Markdown.

Attributes are documented the Sphinx way, by ``#:`` comments above them (``Limits``' fields):
griffe does not read those, so this makes them the attribute's docstring, with the default of an
``attrs.field(default=...)``, which the reference does not show as a value.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|mod|data|exc|obj|const):`(~?)([^`]+)`")
_LITERAL_BLOCK = re.compile(r"(?<=\S)::$", re.MULTILINE)


def _role(match: re.Match[str]) -> str:
    short, target = match.groups()
    target = target.strip()
    if short:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def markdown(text: str) -> str:
    """A docstring's text with its reST roles and ``::`` made Markdown."""
    return _LITERAL_BLOCK.sub(":", _ROLE.sub(_role, text))


class RestRoles(griffe.Extension):
    """Rewrites every docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)


def _comment_above(lines: list[str], lineno: int) -> str:
    """The ``#:`` comment lines right above line ``lineno`` (1-based), as text."""
    found: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith("#:"):
        found.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    return " ".join(found)


def _attrs_default(node: ast.AST, lines: list[str]) -> str | None:
    """The ``default=`` of an ``attrs.field(...)`` value, as written (``16_384``)."""
    value = getattr(node, "value", None)
    if isinstance(value, ast.Call) and ast.unparse(value.func) in ("attrs.field", "field"):
        for keyword in value.keywords:
            if keyword.arg == "default":
                default = keyword.value
                if default.lineno == default.end_lineno:
                    line = lines[default.lineno - 1]
                    return line[default.col_offset : default.end_col_offset]
                return ast.unparse(default)
    return None


class CommentDocs(griffe.Extension):
    """Gives an attribute without a docstring the ``#:`` comment above it."""

    def on_attribute_instance(
        self,
        *,
        node: ast.AST | griffe.ObjectNode,
        attr: griffe.Attribute,
        agent: Any,
        **kwargs: Any,
    ) -> None:
        if attr.docstring is not None or not isinstance(node, ast.AST) or attr.lineno is None:
            return
        try:
            lines = agent.lines_collection[agent.filepath]
        except (AttributeError, KeyError):
            return
        text = _comment_above(lines, attr.lineno)
        default = _attrs_default(node, lines)
        if default is not None:
            text = f"{text} Default: `{default}`.".strip()
        if text:
            attr.docstring = griffe.Docstring(markdown(text), parent=attr)
