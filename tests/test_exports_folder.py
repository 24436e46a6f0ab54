"""Where a student's exported models go, and where the app's Model menu looks: the student's own folder
(``$LABKIT_MODELS_DIR``, else ``~/labkit-exports``), never the repository, which is read-only for them on a hub."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from labkit.app.catalogue import OLD_EXPORTS_DIR, available_models, models_folders
from labkit.export import EXPORT_FORMAT, LABELS_FILE, METADATA_FILE, find_exported_models
from labkit.paths import MODELS_DIR_ENV, REPO_ROOT, FolderNotWritable, exports_dir, writable_folder

UNPRIVILEGED = "nobody"  # the hub's students are users of their own; as root, the test asks as nobody


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A student's home, with $LABKIT_MODELS_DIR unset."""
    monkeypatch.setenv("HOME", str(tmp_path / "student"))
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    return tmp_path / "student"


def write_listable_export(folder: Path, classes: list[str]) -> Path:
    """The two files that make a folder an export the Model menu lists (its model files are not read to list it)."""
    folder.mkdir(parents=True)
    (folder / LABELS_FILE).write_text("".join(f"{index} {name}\n" for index, name in enumerate(classes)))
    (folder / METADATA_FILE).write_text(json.dumps({"format": EXPORT_FORMAT, "class_names": classes}))
    return folder


def test_by_default_exports_go_to_labkit_exports_in_the_students_home(home):
    assert exports_dir() == home / "labkit-exports"
    assert not exports_dir().exists(), "asking where exports go creates nothing"


def test_labkit_models_dir_chooses_another_folder_and_an_empty_one_means_unset(home, tmp_path, monkeypatch):
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "class-models"))
    assert exports_dir() == tmp_path / "class-models"
    monkeypatch.setenv(MODELS_DIR_ENV, "~/my-models")
    assert exports_dir() == home / "my-models"
    monkeypatch.setenv(MODELS_DIR_ENV, "")
    assert exports_dir() == home / "labkit-exports"


def test_the_app_lists_the_models_exported_into_the_students_folder(home):
    write_listable_export(home / "labkit-exports" / "trash-sorter", ["glass", "paper"])
    names = [option.name for option in available_models()]
    assert names[0] == "MobileNetV2" and "trash-sorter" in names
    assert find_exported_models() == [home / "labkit-exports" / "trash-sorter"]


def test_a_clones_older_exports_folder_is_still_listed_unless_labkit_models_dir_is_set(home, tmp_path, monkeypatch):
    assert OLD_EXPORTS_DIR == REPO_ROOT / "exports"
    assert models_folders() == [home / "labkit-exports", OLD_EXPORTS_DIR]
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "class-models"))
    assert models_folders() == [tmp_path / "class-models"]


def test_a_folder_that_can_be_made_is_made_and_returned(tmp_path):
    assert writable_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir()


def test_a_file_in_the_way_gives_a_message_naming_the_folder_and_the_variable(tmp_path):
    (tmp_path / "labkit-exports").write_text("not a folder")
    with pytest.raises(FolderNotWritable) as caught:
        writable_folder(tmp_path / "labkit-exports" / "trash-sorter")
    message = str(caught.value)
    assert f"labkit cannot save into {tmp_path / 'labkit-exports' / 'trash-sorter'}" in message
    assert f"set {MODELS_DIR_ENV}" in message
    assert isinstance(caught.value, PermissionError)


def test_a_read_only_folder_as_on_the_hub_gives_a_message_saying_so():
    """The repository on a hub is root's and read-only for the students: exporting there says what to do."""
    read_only = Path(tempfile.mkdtemp(prefix="labkit-read-only-"))
    try:
        read_only.chmod(0o755)  # readable by everyone, writable by its owner (root here) only
        check = (
            "from labkit.paths import writable_folder, FolderNotWritable\n"
            "try:\n"
            f"    writable_folder({str(read_only / 'exports')!r})\n"
            "except FolderNotWritable as error:\n"
            "    print(error)\n"
        )
        as_student = ["setpriv", f"--reuid={UNPRIVILEGED}", "--regid=nogroup", "--clear-groups"]
        command = [*(as_student if os.geteuid() == 0 else []), sys.executable, "-c", check]
        if os.geteuid() != 0:
            read_only.chmod(0o555)
        environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HOME": str(read_only)}
        done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120, check=True)
        assert f"labkit cannot save into {read_only / 'exports'} (Permission denied)" in done.stdout, done.stderr
        assert not (read_only / "exports").exists()
    finally:
        read_only.chmod(0o755)
        shutil.rmtree(read_only)
