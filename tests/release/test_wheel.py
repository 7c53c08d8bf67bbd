"""The release artefacts as users get them: the sdist and the wheel built from it by
``python -m build``, the wheel installed in a fresh venv and used with no source tree in sight.

Each program the installed wheel runs (the README example, the Starlette example under uvicorn,
``chatcore.client``, Django's migrate, mypy's view of the types) runs with ``python -I`` from a
temporary directory, so ``chatcore`` can only come from the venv's site-packages; each checks so.
Building and installing need the package index or uv's cache (``make venv`` fills it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import chatcore
from tests.helpers import port_open, require
from tests.starlette.example_server import free_port

pytestmark = [pytest.mark.network, pytest.mark.release]

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
HOST = "127.0.0.1"
PACKAGES = ("chatcore", "chatcore_starlette", "chatcore_django", "chatcore_server")
MIGRATIONS = ["0001_initial", "0002_room_rules", "0003_message_model", "0004_moderation"]
README_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def run(command: list[str | Path], cwd: Path, timeout: float = 300) -> str:
    """Run ``command`` with an environment that names no source tree; its output, or fail."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV", "MYPYPATH", "CHATCORE_REDIS_URL"}
    }
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


#: The supported Pythons (docs/versions.md): the wheel is installed and run on each.
PYTHONS = ("3.11", "3.12", "3.13")


def interpreter(version: str) -> Path:
    """A Python ``version``: this one, or pyenv's newest build of it. Missing, the test skips,
    or fails when ``CI`` is set (tests.helpers.require)."""
    if sys.version.startswith(version + "."):
        return Path(sys.executable)
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True)
        base = Path(root.stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        base = Path.home() / ".pyenv"
    builds = sorted(
        (base / "versions").glob(f"{version}.*/bin/python"),
        key=lambda path: [int(part) for part in path.parts[-3].split(".") if part.isdigit()],
    )
    if not builds:
        require(f"Python {version}", f"no pyenv build of {version} under {base}/versions")
    return builds[-1]


class Built:
    """The sdist and the wheel of one build, and a venv of ``python`` the wheel is installed in."""

    def __init__(self, base: Path, dist: Path, python: Path = Path(sys.executable)) -> None:
        self.base = base
        self.dist = dist
        self.interpreter = python
        self.venv = base / "venv"
        self.work = base / "work"  # the current directory of everything the venv runs
        self.work.mkdir()

    @property
    def wheel(self) -> Path:
        (wheel,) = self.dist.glob("chatcore-*.whl")
        return wheel

    @property
    def sdist(self) -> Path:
        (sdist,) = self.dist.glob("chatcore-*.tar.gz")
        return sdist

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def build(self) -> None:
        # The sdist first, then the wheel from the unpacked sdist (the sdist is complete).
        run([sys.executable, "-m", "build", "--installer", "uv", "--outdir", self.dist, ROOT], ROOT)

    def install(self) -> None:
        uv: list[str | Path] = [sys.executable, "-m", "uv"]
        run([*uv, "venv", "--quiet", "--python", self.interpreter, self.venv], self.base)
        install = [*uv, "pip", "install", "--quiet", "--python", self.python]
        install.append(f"chatcore[starlette,client,django] @ {self.wheel.as_uri()}")
        try:  # from uv's cache when it has every package, else from the index
            run([*install, "--offline"], self.base)
        except AssertionError:
            run(install, self.base)

    def python_run(self, *args: str | Path, timeout: float = 60) -> str:
        """``python -I`` of the venv, in the work directory; its standard output."""
        return run([self.python, "-I", *args], self.work, timeout)

    def in_venv(self, path: str) -> bool:
        return Path(path).resolve().is_relative_to(self.venv.resolve())


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built once."""
    dist = tmp_path_factory.mktemp("dist")
    Built(tmp_path_factory.mktemp("build"), dist).build()
    return dist


@pytest.fixture(scope="module", params=PYTHONS)
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, dist: Path
) -> Built:
    """The wheel installed in a fresh venv of each supported Python."""
    built = Built(tmp_path_factory.mktemp("release"), dist, interpreter(request.param))
    built.install()
    return built


def source_files() -> set[str]:
    """The packages' files as the wheel should hold them (relative to ``src``)."""
    src = ROOT / "src"
    return {
        path.relative_to(src).as_posix()
        for package in PACKAGES
        for path in (src / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_wheel_holds_the_four_packages_with_their_data(built: Built) -> None:
    names = set(zipfile.ZipFile(built.wheel).namelist())
    info = f"chatcore-{chatcore.__version__}.dist-info"
    assert {name for name in names if not name.startswith(info)} == source_files()
    expected = {
        "chatcore/static/chatcore.js",
        *(f"{package}/py.typed" for package in PACKAGES),
        *(f"chatcore_django/migrations/{name}.py" for name in ["__init__", *MIGRATIONS]),
        f"{info}/licenses/LICENSE",
        f"{info}/entry_points.txt",
    }
    assert expected <= names
    # `chatcore serve`: the console script.
    scripts = zipfile.ZipFile(built.wheel).read(f"{info}/entry_points.txt").decode()
    assert "chatcore = chatcore_server.cli:main" in scripts.splitlines()


def test_the_wheel_metadata(built: Built) -> None:
    info = f"chatcore-{chatcore.__version__}.dist-info/METADATA"
    metadata = zipfile.ZipFile(built.wheel).read(info).decode()
    assert built.wheel.name == f"chatcore-{chatcore.__version__}-py3-none-any.whl"
    for line in [
        f"Version: {chatcore.__version__}",
        "License-Expression: MIT",
        "Requires-Python: >=3.11",
        "Classifier: Typing :: Typed",
        "Classifier: Framework :: Django",
        "Provides-Extra: starlette",
    ]:
        assert line in metadata.splitlines()


def test_the_sdist_holds_the_project(built: Built) -> None:
    top = f"chatcore-{chatcore.__version__}/"
    with tarfile.open(built.sdist) as sdist:
        names = {name.removeprefix(top) for name in sdist.getnames()}
    for name in [
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "src/chatcore/static/chatcore.js",
        "src/chatcore_django/migrations/0003_message_model.py",
        "examples/starlette_chat/app.py",
        "docs/index.md",
        "tests/release/test_wheel.py",
    ]:
        assert name in names
    assert not [name for name in names if name.startswith(".venv") or "__pycache__" in name]


def test_the_readme_example_runs_on_the_installed_wheel(built: Built) -> None:
    example = README_BLOCK.findall((ROOT / "README.md").read_text())[0]
    (built.work / "readme_example.py").write_text(example)
    out = built.python_run(
        "-c",
        "import runpy, chatcore; print(chatcore.__file__); "
        "runpy.run_path('readme_example.py', run_name='__main__')",
    ).splitlines()
    assert built.in_venv(out[0]), out[0]
    assert out[1:] == ["Hello, Alice!", "Alice"]


@pytest.fixture
def example_app(built: Built) -> Iterator[str]:
    """The Starlette example (copied out of the tree, as a user's app) under the venv's uvicorn;
    its base URL."""
    app_dir = built.work / "starlette_chat"
    shutil.copytree(ROOT / "examples" / "starlette_chat", app_dir, dirs_exist_ok=True)
    port = free_port()
    command = [built.python, "-I", "-m", "uvicorn", "--app-dir", app_dir, "app:app"]
    command += ["--host", HOST, "--port", str(port), "--log-level", "warning"]
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV", "CHATCORE_REDIS_URL"}
    }
    env["CHATCORE_SECRET_KEY"] = "release-test-key"
    process = subprocess.Popen([str(part) for part in command], cwd=built.work, env=env)
    try:
        deadline = time.monotonic() + 15
        while not port_open(HOST, port):
            assert process.poll() is None, "uvicorn ended"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)  # polling a real process: there is no event to wait on
        yield f"http://{HOST}:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_starlette_example_serves_chatcore_js_and_chats(built: Built, example_app: str) -> None:
    shutil.copy(HERE / "installed_chat.py", built.work)
    digest = hashlib.sha256((ROOT / "src/chatcore/static/chatcore.js").read_bytes()).hexdigest()
    result = json.loads(built.python_run("installed_chat.py", example_app, digest))
    assert built.in_venv(result["chatcore"]), result
    assert result["version"] == chatcore.__version__
    assert result["chatcore.js"] == [200, True]
    assert result["members"] == ["alice", "bob"]
    assert result["seen"] == [result["sent"], "Bob", "hello from the wheel"]


def test_django_applies_the_installed_migrations(built: Built) -> None:
    shutil.copy(HERE / "installed_django.py", built.work)
    result = json.loads(built.python_run("installed_django.py"))
    assert built.in_venv(result["chatcore_django"]), result
    assert result["applied"] == MIGRATIONS


def test_mypy_sees_the_installed_types(built: Built) -> None:
    """A user's mypy, pointed at the venv, reads the packages' types (py.typed), so a wrong
    type is an error and not ``Any``."""
    (built.work / "mypy.ini").write_text("[mypy]\nstrict = True\n")
    (built.work / "user_code.py").write_text(
        "from chatcore import ChatServer, User\n"
        "from chatcore_starlette import chat_route\n"
        "from chatcore_django import STATIC_DIR\n"
        "server = ChatServer()\n"
        "name: int = User(id='1', name='Alice').name\n"
        "route = chat_route('/ws', server, lambda connection: None)\n"
        "reveal_type(STATIC_DIR)\n"
    )
    mypy = [sys.executable, "-m", "mypy", "--python-executable", built.python]
    mypy += ["--config-file", "mypy.ini", "--cache-dir", "mypy-cache", "user_code.py"]
    done = subprocess.run(
        [str(part) for part in mypy], cwd=built.work, capture_output=True, text=True, check=False
    )
    errors = done.stdout.splitlines()
    assert not [line for line in errors if "import-untyped" in line or "py.typed" in line], errors
    assert [line for line in errors if ": error:" in line] == [
        'user_code.py:5: error: Incompatible types in assignment (expression has type "str", '
        'variable has type "int")  [assignment]'
    ]
    assert re.search(r'Revealed type is "tuple\[(builtins\.)?str, (builtins\.)?str\]"', done.stdout)
