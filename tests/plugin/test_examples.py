"""The pytest plugin, through the examples docs/testing.md gives: each file it shows is written
to a fresh directory and run by pytest in a process of its own, under anyio's plugin (asyncio and
trio) and under pytest-asyncio (strict and auto mode)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "testing.md"
FILE = re.compile(r'^```python title="([\w.]+)"\n(.*?)^```', re.MULTILINE | re.DOTALL)
# pytest's own caching and this repository's settings stay out of the run.
ISOLATED = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-W", "error", "-q"]


def files() -> dict[str, str]:
    return dict(FILE.findall(PAGE.read_text()))


def unchanged(name: str, code: str) -> str:
    return code


def on_trio(name: str, code: str) -> str:
    return code.replace('return "asyncio"', 'return "trio"') if name == "conftest.py" else code


def asyncio_marked(name: str, code: str) -> str:
    return code.replace("pytest.mark.anyio", "pytest.mark.asyncio")


def unmarked(name: str, code: str) -> str:
    return code.replace("pytestmark = pytest.mark.anyio\n", "")


VARIANTS: dict[str, tuple[Callable[[str, str], str], list[str]]] = {
    # anyio beside pytest-asyncio (both installed, as here), and anyio alone.
    "anyio-asyncio": (unchanged, ["-o", "asyncio_default_fixture_loop_scope=function"]),
    "anyio-trio": (on_trio, ["-p", "no:asyncio"]),
    "pytest-asyncio-strict": (
        asyncio_marked,
        ["-o", "asyncio_default_fixture_loop_scope=function"],
    ),
    "pytest-asyncio-auto": (
        unmarked,
        ["-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"],
    ),
}


def test_the_page_shows_a_conftest_and_tests() -> None:
    shown = files()
    assert "conftest.py" in shown
    assert 'pytest_plugins = ["chatcore.testing.pytest_plugin"]' in shown["conftest.py"]
    assert len([name for name in shown if name.startswith("test_")]) >= 3


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_examples_pass(variant: str, tmp_path: Path) -> None:
    change, options = VARIANTS[variant]
    for name, code in files().items():
        (tmp_path / name).write_text(change(name, code))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # the rootdir: not this repository
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    environment.pop("PYTEST_ADDOPTS", None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *ISOLATED, *options, str(tmp_path)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    tests = sum(
        code.count("\ndef test_") + code.count("\nasync def test_") for code in files().values()
    )
    assert f"{tests} passed" in run.stdout, run.stdout


def test_a_plain_test_asking_for_chat_is_told_why_it_cannot(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(files()["conftest.py"])
    (tmp_path / "test_plain.py").write_text("def test_plain(chat):\n    pass\n")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *ISOLATED, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert run.returncode == 1
    assert "the chat fixture is for async tests" in run.stdout
