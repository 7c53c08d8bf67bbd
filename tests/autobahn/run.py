"""The Autobahn Testsuite's fuzzing client against the native adapter's echo route.

``make autobahn`` runs this: cases 1-7, 9 and 10 (framing, pings, reserved bits, opcodes,
fragments, UTF-8, closing, limits of size and performance, many messages) against
``python -m chatcore_server.echo`` (the same HTTP and WebSocket code as ``chatcore serve``).
The report is kept in ``reports/autobahn/`` (``index.html``); the run fails on any FAILED case.

``wstest`` runs on Python 2.7 (PyPI ``autobahntestsuite``): the first run makes a virtualenv of
pyenv's 2.7 in ``~/.cache/chatcore-autobahn`` (a minute); later runs reuse it.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "chatcore-autobahn"
REPORT = ROOT / "reports" / "autobahn"
CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]
HOST = "127.0.0.1"


def python27() -> str:
    """pyenv's Python 2.7: its own executable first (pyenv's ``python2.7`` shim on the PATH
    fails unless 2.7 is among the selected versions), else one on the PATH that runs."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for version in sorted(root.glob("2.7*"), reverse=True):
        if (version / "bin" / "python").exists():
            return str(version / "bin" / "python")
    found = shutil.which("python2.7")
    if found and subprocess.run([found, "-V"], capture_output=True, check=False).returncode == 0:
        return found
    sys.exit("autobahn: no Python 2.7 (pyenv install 2.7.18)")


def wstest() -> Path:
    """The ``wstest`` command, installed on first use."""
    command = CACHE / "py27" / "bin" / "wstest"
    if command.exists():
        return command
    tools = CACHE / "tools"
    run = subprocess.run
    run(
        # (--clear: a run stopped half-way may have left one)
        [
            sys.executable,
            "-m",
            "uv",
            "venv",
            "-q",
            "--clear",
            str(tools),
            "--python",
            sys.executable,
        ],
        check=True,
    )
    pip = [
        sys.executable,
        "-m",
        "uv",
        "pip",
        "install",
        "-q",
        "--python",
        str(tools / "bin" / "python"),
    ]
    # virtualenv 20.22 dropped making Python 2 environments.
    run([*pip, "virtualenv<20.22"], check=True)
    run(
        [
            str(tools / "bin" / "python"),
            "-m",
            "virtualenv",
            "-q",
            "--clear",
            "-p",
            python27(),
            str(CACHE / "py27"),
        ],
        check=True,
    )
    run([str(CACHE / "py27" / "bin" / "pip"), "install", "-q", "autobahntestsuite"], check=True)
    return command


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def main() -> int:
    command = wstest()
    port = free_port()
    echo = subprocess.Popen(
        [sys.executable, "-m", "chatcore_server.echo", "--port", str(port)], cwd=ROOT
    )
    try:
        import socket

        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or echo.poll() is not None:
                    sys.exit("autobahn: the echo server did not start")
                time.sleep(0.1)
        if REPORT.exists():
            shutil.rmtree(REPORT)
        REPORT.mkdir(parents=True)
        spec = {
            "outdir": str(REPORT),
            "servers": [{"agent": "chatcore", "url": f"ws://{HOST}:{port}"}],
            "cases": CASES,
            "exclude-cases": [],
            "exclude-agent-cases": {},
        }
        (REPORT / "fuzzingclient.json").write_text(json.dumps(spec, indent=2))
        started = time.monotonic()
        with open(REPORT / "wstest.log", "w") as log:
            subprocess.run(
                [str(command), "-m", "fuzzingclient", "-s", str(REPORT / "fuzzingclient.json")],
                cwd=REPORT,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
            )
        took = time.monotonic() - started
    finally:
        echo.terminate()
        echo.wait()
    results = json.loads((REPORT / "index.json").read_text())["chatcore"]
    counts = collections.Counter(result["behavior"] for result in results.values())
    failed = sorted(case for case, result in results.items() if result["behavior"] == "FAILED")
    print(
        f"autobahn: {len(results)} cases in {took:.0f} s: {dict(counts)}; report: {REPORT}/index.html"
    )
    if failed:
        print(f"autobahn: FAILED cases: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
