"""What the Makefile installs: `make app` and `make lab` only what running needs, `make test` the rest on top.

Each test asks make what it would run (``make -n``) for a virtual environment in a temporary folder, so nothing is
installed; the stamps make leaves there say what is already installed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def planned(target: str, venv: Path, *variables: str) -> list[str]:
    """The commands ``make target`` would run for the environment ``venv``, one per line (continued lines joined)."""
    done = subprocess.run(
        ["make", "-n", target, f"VENV={venv}", *variables], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout.replace("\\\n", " ").splitlines()


def installs(commands: list[str]) -> list[str]:
    return [command for command in commands if "pip install -e" in command]


@pytest.mark.parametrize("target", ["app", "lab"])
def test_app_and_lab_install_labkit_and_nbgrader_without_the_test_and_hub_extras(tmp_path, target):
    venv = tmp_path / "venv"
    assert installs(planned(target, venv)) == [f'{venv}/bin/python -m pip install -e ".[teach]"']


def test_make_test_after_make_lab_installs_only_the_extras(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / ".installed-run").touch()  # what `make lab` leaves

    assert installs(planned("test", venv)) == [f'{venv}/bin/python -m pip install -e ".[teach,test,hub]"']
    assert installs(planned("lab", venv)) == []


@pytest.mark.parametrize("lab_args", ["--ServerApp.ip=0.0.0.0", "--ip=0.0.0.0", "--ip 0.0.0.0"])
def test_an_address_in_lab_args_replaces_the_loopback_default(tmp_path, lab_args):
    (command,) = [line for line in planned("lab", tmp_path / "venv", f"LAB_ARGS={lab_args}") if "jupyter lab" in line]
    assert "127.0.0.1" not in command and lab_args in command  # Jupyter refuses a second --ip
    (default,) = [line for line in planned("lab", tmp_path / "venv", "LAB_IP=0.0.0.0") if "jupyter lab" in line]
    assert "--ip=0.0.0.0" in default
