"""What a package index and a type checker need from the distribution: one version
everywhere, the console script, the typing marker and the licence."""

import subprocess
import sys
import tomllib
from pathlib import Path

import merx
from merx.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_one_version_everywhere(capsys):
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    assert merx.__version__ == PYPROJECT["project"]["version"] == cargo["workspace"]["package"]["version"]
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"merx {merx.__version__}\n"


def test_console_script_runs_the_command_line():
    assert PYPROJECT["project"]["scripts"]["merx"] == "merx.__main__:main_exit"
    run = subprocess.run([sys.executable, "-c", "from merx.__main__ import main_exit; main_exit()", "--version"],
                         capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout == f"merx {merx.__version__}\n"


def test_typing_marker_and_licence():
    assert (Path(merx.__file__).parent / "py.typed").is_file()
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and PYPROJECT["project"]["license"]["text"] == "MIT"
    assert "License :: OSI Approved :: MIT License" in PYPROJECT["project"]["classifiers"]
