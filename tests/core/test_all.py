"""Each public module of the core lists exactly its own public names in ``__all__``."""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import pkgutil
from types import ModuleType

import pytest

import chatcore


def _public_modules() -> list[str]:
    names = ["chatcore"]
    for info in pkgutil.walk_packages(chatcore.__path__, "chatcore."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


MODULES = _public_modules()


def _defined_names(module: ModuleType) -> set[str]:
    """Public names the module's own top-level code binds (not imports)."""
    tree = ast.parse(inspect.getsource(module))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    # A module's logger is a public name by convention but not part of its API.
    return {
        name
        for name in names
        if not name.startswith("_") and not isinstance(getattr(module, name, None), logging.Logger)
    }


def test_the_core_has_public_modules() -> None:
    assert {
        "chatcore",
        "chatcore.runtime.server",
        "chatcore.wire.protocol",
        "chatcore.testing",
    } <= set(MODULES)
    assert "chatcore" in PACKAGES


@pytest.mark.parametrize("name", MODULES)
def test_all_is_a_tuple_of_existing_unique_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert isinstance(exported, tuple)
    assert len(set(exported)) == len(exported), "duplicates in __all__"
    missing = [item for item in exported if not hasattr(module, item)]
    assert missing == []


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_every_public_name_the_module_defines(name: str) -> None:
    module = importlib.import_module(name)
    unlisted = sorted(_defined_names(module) - set(module.__all__))
    assert unlisted == []


PACKAGES = [name for name in MODULES if hasattr(importlib.import_module(name), "__path__")]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_reexports_match_all(name: str) -> None:
    module = importlib.import_module(name)
    tree = ast.parse(inspect.getsource(module))
    reexported: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            for alias in node.names:
                if alias.asname == alias.name:  # the explicit "X as X" re-export form
                    reexported.add(alias.name)
    assert reexported == set(module.__all__) - _defined_names(module)


def test_package_names_are_the_defining_modules_objects() -> None:
    for item in chatcore.__all__:
        value = getattr(chatcore, item)
        home = getattr(value, "__module__", None)
        if home is not None and home.startswith("chatcore."):
            defining = importlib.import_module(home)
            assert item in defining.__all__, f"{item} is not public in {home}"
            assert getattr(defining, item) is value
