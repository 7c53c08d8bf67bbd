"""Each public module of the Django adapter lists exactly its own public names in ``__all__``."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import chatcore_django
from tests.core.test_all import _defined_names

MODULES = sorted(
    {"chatcore_django"}
    | {
        info.name
        for info in pkgutil.walk_packages(chatcore_django.__path__, "chatcore_django.")
        if not any(part.startswith("_") or part == "migrations" for part in info.name.split("."))
    }
)


def test_the_adapter_has_its_modules() -> None:
    expected = {"chatcore_django.consumer", "chatcore_django.store", "chatcore_django.sync"}
    assert expected <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert isinstance(exported, tuple)
    assert len(set(exported)) == len(exported)
    assert [item for item in exported if not hasattr(module, item)] == []
    assert sorted(_defined_names(module) - set(exported)) == []
