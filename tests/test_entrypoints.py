"""The ways to start the function: the `function` script and `python -m function`.

Both run `function.main:cli`: the Dockerfile's ENTRYPOINT is the script, the README's
commands and `scripts/render` (which has no script: it installs only the dependencies) use
`python -m`.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import function.__main__
from function import main
from tests import factories as f
from tests import server as fnserver

ROOT = Path(__file__).resolve().parents[1]


def help_text(*command: str) -> str:
    """The command's --help, without the program name click puts in the usage line."""
    out = subprocess.run(
        [*command, "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    usage, rest = out.split("\n", 1)
    assert usage.startswith("Usage: ")
    return usage.split(" [OPTIONS]", 1)[1] + rest


def test_python_m_function_runs_the_scripts_command() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"function": "function.main:cli"}
    assert function.__main__.cli is main.cli


def test_python_m_function_takes_the_scripts_flags() -> None:
    script = Path(sys.executable).with_name("function")  # the dev install's console script
    assert help_text(sys.executable, "-m", "function") == help_text(str(script))
    assert "--workers" in help_text(sys.executable, "-m", "function")


def test_python_m_function_serves_what_the_function_composes(tmp_path: Path) -> None:
    req = f.second_round(f.xr())
    expected = f.run(req)
    program = (sys.executable, "-m", "function")
    with fnserver.function_server(tmp_path, "--insecure", program=program) as server:
        rsp = server.call(req)
        assert f.desired(rsp) == f.desired(expected)
        assert f.fatal(rsp) == []
        assert server.terminate() == 0
