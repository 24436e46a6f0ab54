"""The one-machine hub (deploy/jupyterhub_config.py) says which password is too short, and stops, instead of a
traceback from JupyterHub's SharedPasswordAuthenticator in its log."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

HUB_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "jupyterhub_config.py"


def load_hub_config():
    return PyFileConfigLoader(str(HUB_CONFIG)).load_config()


@pytest.mark.parametrize(
    ("class_password", "teacher_password", "expected"),
    [
        ("short", "t" * 32, "the class password (LABKIT_CLASS_PASSWORD) has 5 characters; it needs at least 8"),
        (
            "class-pw",
            "t" * 31,
            "the teacher's password (LABKIT_TEACHER_PASSWORD) has 31 characters; it needs at least 32",
        ),
    ],
)
def test_a_password_too_short_stops_the_hub_saying_which_and_what_to_do(
    monkeypatch, class_password, teacher_password, expected
):
    monkeypatch.setenv("LABKIT_CLASS_PASSWORD", class_password)
    monkeypatch.setenv("LABKIT_TEACHER_PASSWORD", teacher_password)

    with pytest.raises(SystemExit) as stopped:
        load_hub_config()

    assert expected in str(stopped.value)
    assert "/etc/labkit-hub.env" in str(stopped.value) and "systemctl restart labkit-hub" in str(stopped.value)


def test_passwords_of_the_documented_lengths_are_accepted(monkeypatch):
    monkeypatch.setenv("LABKIT_CLASS_PASSWORD", "c" * 8)
    monkeypatch.setenv("LABKIT_TEACHER_PASSWORD", "t" * 32)

    config = load_hub_config()

    assert config.SharedPasswordAuthenticator.user_password == "c" * 8
