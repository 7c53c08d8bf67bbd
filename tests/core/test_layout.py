"""The package's layout is its architecture: each part imports only the parts below it.

::

    chatcore (the public names)   testing, client, bots, webhooks
    emitter                       (publishing without a server, through a broker and a store)
    engines                       (the scale-out engines by URL)
    redis                         (a broker and a store)
    postgres                      (a broker)
    runtime                       (the server, connections, handlers, hub, outboxes)
    policy, clock, hooks          (hooks the runtime is given; the application's hooks)
    origins                       (the adapters' origin check; imports nothing)
    metrics                       (the counters the runtime keeps; imports nothing)
    backends                      (the broker and store contracts, envelopes, memory versions)
    wire                          (values, commands, events, errors, limits, protocol)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import chatcore

SRC = Path(chatcore.__file__).parent

#: What each part may import of chatcore (besides itself).
ALLOWED = {
    "wire": set(),
    "backends": {"wire"},
    "policy": {"wire"},
    "hooks": {"wire"},
    "clock": set(),
    "metrics": set(),
    "origins": set(),
    "runtime": {"wire", "backends", "policy", "clock", "metrics", "hooks"},
    "redis": {"wire", "backends", "clock", "metrics"},
    "postgres": {"wire", "backends", "clock"},
    "emitter": {"wire", "backends", "runtime", "engines"},
    "engines": {"wire", "backends", "redis", "postgres"},
    "testing": {"wire", "backends", "runtime", "policy", "clock"},
    "client": {"wire"},
    "bots": {"wire", "backends", "runtime", "hooks"},
    "webhooks": {"wire", "hooks", "clock"},
}


def _part(path: Path) -> str:
    return path.relative_to(SRC).with_suffix("").parts[0]


def _imported_parts(path: Path) -> set[str]:
    """The parts of chatcore that ``path`` imports (relative imports resolved)."""
    package = list(path.relative_to(SRC).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                names = (node.module or "").split(".") if node.module else []
                full = base + names
                if full:
                    found.add(full[0])
                else:  # from . import x (at the top of chatcore)
                    found.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("chatcore."):
                found.add(node.module.split(".")[1])
    return found


MODULES = sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_each_part_imports_only_the_parts_below_it(path: Path) -> None:
    part = _part(path)
    assert part in ALLOWED, f"{part} is a part the layout does not name"
    outside = _imported_parts(path) - {part} - ALLOWED[part]
    assert sorted(outside) == []


def test_the_wire_imports_nothing_of_chatcore() -> None:
    for path in (SRC / "wire").glob("*.py"):
        assert _imported_parts(path) <= {"wire"}, path.name
