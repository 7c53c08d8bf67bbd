"""The version matrix: chatcore's suites on each supported Python, Starlette, Django and Channels.

Each combination is one nox session with a fresh venv made by uv, holding chatcore and the
versions that combination names. ``make test-matrix`` runs them all; ``make test-matrix-sample``
runs those tagged ``sample`` (the oldest and the newest of each suite), which CI runs after
``make test``. The supported ranges in pyproject.toml and docs/versions.md are the ones listed here.

Services are used for real, as in ``make test``: Redis on 127.0.0.1:6379 (the Redis conformance
cases, the Starlette Redis example) and uvicorn subprocesses; the Django suite runs on SQLite
(``make pytest-postgres`` covers PostgreSQL on the main venv). Browser and soak tests stay out:
they test the client page and endurance, not the library's fit with a framework version.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
# A missing Python is an error, not a download: the pyenv builds are the ones meant here.
nox.options.download_python = "never"

# The Django suite runs on its SQLite default whatever the calling shell has set.
os.environ.pop("DATABASE_URL", None)

OLDEST_PYTHON, NEWEST_PYTHON = "3.11", "3.13"
PYTHONS = ["3.11", "3.12", "3.13"]


def _pyenv_root() -> Path | None:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        default = Path.home() / ".pyenv"  # pyenv's own default, when it is not on PATH
        return default if default.is_dir() else None
    return Path(out.stdout.strip())


def _put_pyenv_pythons_on_path() -> None:
    """Put the newest pyenv build of each Python in PYTHONS first on PATH, so nox finds it.

    pyenv's shims answer only for the versions pyenv has selected; the builds themselves are
    under ``$(pyenv root)/versions/X.Y.Z``. A version with no build is left to nox, which fails
    the session (``--error-on-missing-interpreters``, as ``make test-matrix-sample`` does on CI).
    """
    root = _pyenv_root()
    if root is None:
        return
    found = []
    for python in PYTHONS:
        builds = sorted(
            (
                p
                for p in root.glob(f"versions/{python}.*")
                if (p / "bin" / f"python{python}").exists()
            ),
            key=lambda p: tuple(int(n) for n in p.name.split(".") if n.isdigit()),
        )
        if builds:
            found.append(str(builds[-1] / "bin"))
    os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


_put_pyenv_pythons_on_path()

# pytest's Hypothesis plugin crashes when reporting failures on 3.11.7 (the pyenv build).
PYTEST = ["pytest", "-p", "no:hypothesispytest", "-q"]

# Starlette's TestClient before 1.7 names anyio.abc.BlockingPortal, which anyio 4.16 deprecates;
# the suite turns warnings into errors, so that one is let through where it is Starlette's own.
OLD_TESTCLIENT = [
    "-W",
    "ignore:The anyio.abc.BlockingPortal alias is deprecated:DeprecationWarning",
]

# (label, requirement, pytest arguments): the lowest declared release line and the newest.
STARLETTES = [
    ("0.46", "starlette==0.46.*", OLD_TESTCLIENT),
    ("1", "starlette>=1,<2", []),
]

# (label, Django requirement, Channels requirement, Pythons): oldest Channels with the LTS,
# the newest with each newer Django (Django 6 needs Python 3.12+).
DJANGOS = [
    ("5.2", "django==5.2.*", "channels==4.2.*", PYTHONS),
    ("6.0", "django==6.0.*", "channels==4.3.*", ["3.12", "3.13"]),
    ("6.1", "django==6.1.*", "channels==4.3.*", ["3.12", "3.13"]),
]


def _register(
    name: str, python: str, sample: bool, what: str, body: Callable[[nox.Session], None]
) -> None:
    """Add one combination as a session called ``name``; ``sample`` tags it for CI's run."""
    tags = ["matrix", *(["sample"] if sample else [])]

    def session(session: nox.Session) -> None:
        body(session)

    session.__doc__ = what
    nox.session(name=name, python=python, tags=tags)(session)


def _core(session: nox.Session) -> None:
    session.install("-e", ".[redis,client,test]")
    session.run(*PYTEST, "tests/core", "tests/conformance", "-m", "not soak", *session.posargs)


def _starlette(requirement: str, args: list[str]) -> Callable[[nox.Session], None]:
    def run(session: nox.Session) -> None:
        # FastAPI is Starlette underneath: its example runs on each Starlette too (the newest
        # FastAPI that accepts the pinned Starlette).
        session.install("-e", ".[starlette,fastapi,redis,client,test]", requirement)
        session.run(
            *PYTEST,
            *args,
            "tests/starlette",
            "tests/fastapi",
            "-m",
            "not browser and not soak",
            *session.posargs,
        )

    return run


def _django(django: str, channels: str) -> Callable[[nox.Session], None]:
    def run(session: nox.Session) -> None:
        session.install("-e", ".[chatboard,redis,client,test]", django, channels)
        session.run(*PYTEST, "tests/django", "-m", "not browser and not soak", *session.posargs)

    return run


for _py in PYTHONS:
    _register(
        f"core-{_py}", _py, _py in (OLDEST_PYTHON, NEWEST_PYTHON), "core and conformance", _core
    )

for _py in PYTHONS:
    for _i, (_label, _req, _args) in enumerate(STARLETTES):
        _oldest = _py == OLDEST_PYTHON and _i == 0
        _newest = _py == NEWEST_PYTHON and _i == len(STARLETTES) - 1
        _register(
            f"starlette-{_label}-{_py}", _py, _oldest or _newest, _req, _starlette(_req, _args)
        )

for _i, (_label, _dj, _ch, _pys) in enumerate(DJANGOS):
    for _py in _pys:
        _oldest = _py == OLDEST_PYTHON and _i == 0
        _newest = _py == NEWEST_PYTHON and _i == len(DJANGOS) - 1
        _register(
            f"django-{_label}-{_py}", _py, _oldest or _newest, f"{_dj}, {_ch}", _django(_dj, _ch)
        )
