"""labkit.datasets and `python -m labkit fetch`: files are downloaded from a loopback mirror into an empty cache and
checked; a damaged file is named and never kept; offline, a full disk and a missing folder say what to do.

The mirror is Python's http.server in a thread, serving a copy of the course's ../shared/datasets (only the
dataset under test, copied into tmp_path), so nothing here needs the internet.
"""

from __future__ import annotations

import csv
import errno
import functools
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pooch
import pytest

from labkit import datasets
from labkit.datasets import (
    ChecksumError,
    DatasetError,
    DatasetUnavailable,
    DiskFullError,
    describe_datasets,
    fetch,
    registry,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
NAME = "imagenet-val-650"
DAMAGED = "images/ILSVRC2012_val_00000947.JPEG"  # the fourth file fetched: three good files are cached before it


@pytest.fixture(scope="module")
def shared_datasets() -> Path:
    """../shared/datasets (the root conftest points LABKIT_DATA_DIR at it)."""
    folder = Path(os.environ["LABKIT_DATA_DIR"])
    if not (folder / NAME).is_dir():
        pytest.fail(f"The course's datasets are missing: no {folder / NAME}. Set LABKIT_DATA_DIR to them.")
    return folder


@pytest.fixture(scope="module")
def mirror_copy(shared_datasets: Path, tmp_path_factory) -> Path:
    """A copy of imagenet-val-650 laid out as a mirror serves it: <root>/<name>/<file>."""
    root = tmp_path_factory.mktemp("mirror")
    shutil.copytree(shared_datasets / NAME, root / NAME)
    return root


def serve(folder: Path):
    """Serve ``folder`` over HTTP on a free loopback port, in a thread; return (server, base URL)."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # one line per file would bury pytest's report
        pass


@pytest.fixture()
def mirror(mirror_copy: Path):
    server, url = serve(mirror_copy)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture()
def damaged_mirror(mirror_copy: Path, tmp_path: Path):
    """The same mirror with one byte changed in one photo (hard links: the other files are not copied again)."""
    root = tmp_path / "damaged-mirror"
    shutil.copytree(mirror_copy, root, copy_function=os.link)
    target = root / NAME / DAMAGED
    data = bytearray(target.read_bytes())
    target.unlink()  # a new file: the hard-linked original stays intact
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    server, url = serve(root)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture()
def empty_cache(tmp_path: Path, monkeypatch) -> Path:
    """An empty labkit cache, and neither LABKIT_DATA_DIR nor LABKIT_DATASETS_URL set."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(cache))
    monkeypatch.delenv("LABKIT_DATA_DIR", raising=False)
    monkeypatch.delenv("LABKIT_DATASETS_URL", raising=False)
    return cache


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_under(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def refused_url() -> str:
    """A loopback URL where nothing listens: a port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- the registry -----------------------------------------------------------------------------------------------


def test_the_registry_lists_every_photo_and_the_labels_with_the_published_checksums(shared_datasets):
    entries = registry(NAME)
    published = {}
    for line in (shared_datasets / NAME / "sha256.txt").read_text().splitlines():
        digest, file_name = line.split(maxsplit=1)
        published[file_name] = f"sha256:{digest}"
    assert len(published) == 650
    assert {name: entries[name] for name in published} == published
    assert set(entries) == set(published) | {"labels.csv"}
    assert entries["labels.csv"] == f"sha256:{sha256(shared_datasets / NAME / 'labels.csv')}"


def test_every_registered_dataset_matches_its_files_and_size(shared_datasets):
    for name, dataset in datasets.DATASETS.items():
        folder = shared_datasets / name
        entries = registry(name)
        assert all(entries[file_name] == f"sha256:{sha256(folder / file_name)}" for file_name in entries), name
        assert dataset.size_bytes == sum((folder / file_name).stat().st_size for file_name in entries), name


def test_labkit_ships_the_labels_the_public_source_lacks():
    bundled = datasets.BUNDLED_DIR / NAME / "labels.csv"
    assert registry(NAME)["labels.csv"] == f"sha256:{sha256(bundled)}"
    with open(bundled, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 650 and {"file", "wnid", "class_index", "label"} <= set(rows[0])


def test_the_public_source_is_the_pinned_commit_the_dataset_readme_names(shared_datasets):
    dataset = datasets.dataset_info(NAME)
    example = "images/ILSVRC2012_val_00000556.JPEG"
    url = dataset.source_url + dataset.source_path(example)
    assert url in (shared_datasets / NAME / "README.md").read_text()


def test_the_list_names_each_dataset_its_size_and_licence():
    lines = describe_datasets()
    assert [line.split()[0] for line in lines] == ["imagenet-val-650", "trashnet-val"]
    assert "651 files, 18.6 MB" in lines[0] and "non-commercial" in lines[0]
    assert "MIT" in lines[1] and "LABKIT_DATA_DIR" in lines[1]


def test_an_unknown_dataset_lists_the_known_ones():
    with pytest.raises(DatasetError, match="imagenet-val-650, trashnet-val"):
        fetch("imagenet-val-6500")


# --- from a mirror into an empty cache -----------------------------------------------------------------------------


def test_a_mirror_fills_an_empty_cache_with_checked_files_then_the_cache_works_offline(
    mirror, empty_cache, shared_datasets, monkeypatch
):
    monkeypatch.setenv("LABKIT_DATASETS_URL", mirror)
    folder = fetch(NAME, progress=False)

    assert folder == empty_cache / "datasets" / NAME
    assert files_under(folder) == set(registry(NAME))
    assert len(list((folder / "images").iterdir())) == 650
    assert all((folder / name).read_bytes() == (shared_datasets / NAME / name).read_bytes() for name in registry(NAME))

    monkeypatch.setenv("LABKIT_DATASETS_URL", refused_url())  # the mirror is gone: the checked cache is enough
    assert fetch(NAME, progress=False) == folder


def test_a_damaged_file_on_the_mirror_is_named_and_not_kept(damaged_mirror, empty_cache, monkeypatch):
    monkeypatch.setenv("LABKIT_DATASETS_URL", damaged_mirror)
    with pytest.raises(ChecksumError) as caught:
        fetch(NAME, progress=False)

    assert f"{NAME}/{DAMAGED}" in str(caught.value) and "did not keep it" in str(caught.value)
    folder = empty_cache / "datasets" / NAME
    cached = files_under(folder)
    assert DAMAGED not in cached
    assert len(cached) == 3 and cached < set(registry(NAME))  # the three files before it, good ones, no temp file
    assert all(f"sha256:{sha256(folder / name)}" == registry(NAME)[name] for name in cached)


def test_a_damaged_file_in_the_cache_is_fetched_again(mirror, empty_cache, monkeypatch):
    monkeypatch.setenv("LABKIT_DATASETS_URL", mirror)
    folder = fetch(NAME, progress=False)
    (folder / DAMAGED).write_bytes(b"not a photo")
    fetch(NAME, progress=False)
    assert f"sha256:{sha256(folder / DAMAGED)}" == registry(NAME)[DAMAGED]


def test_a_refused_connection_says_offline_and_names_both_variables(empty_cache, monkeypatch):
    monkeypatch.setenv("LABKIT_DATASETS_URL", refused_url())
    with pytest.raises(DatasetUnavailable) as caught:
        fetch(NAME, progress=False)
    message = str(caught.value)
    assert "Could not download imagenet-val-650/" in message and "offline" in message
    assert "LABKIT_DATA_DIR" in message and "LABKIT_DATASETS_URL" in message


def test_a_missing_file_on_the_mirror_is_named(mirror_copy, tmp_path, empty_cache, monkeypatch):
    root = tmp_path / "partial"
    shutil.copytree(mirror_copy, root, copy_function=os.link)
    (root / NAME / DAMAGED).unlink()
    server, url = serve(root)
    try:
        monkeypatch.setenv("LABKIT_DATASETS_URL", url)
        with pytest.raises(DatasetUnavailable, match=f"{NAME}/{DAMAGED}.*404"):
            fetch(NAME, progress=False)
    finally:
        server.shutdown()
        server.server_close()


def test_a_full_disk_is_said_before_downloading(mirror, empty_cache, monkeypatch):
    monkeypatch.setenv("LABKIT_DATASETS_URL", mirror)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 1000))
    with pytest.raises(DiskFullError, match="The disk is full: imagenet-val-650 needs about 19 MB"):
        fetch(NAME, progress=False)
    assert files_under(empty_cache / "datasets" / NAME) == set()


def test_a_disk_filling_up_during_the_download_is_said(mirror, empty_cache, monkeypatch):
    monkeypatch.setenv("LABKIT_DATASETS_URL", mirror)

    def no_space(self, file_name, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pooch.Pooch, "fetch", no_space)
    with pytest.raises(DiskFullError, match="LABKIT_CACHE_DIR"):
        fetch(NAME, progress=False)


def test_trashnet_val_has_no_public_download_and_says_where_to_get_it(empty_cache):
    with pytest.raises(DatasetUnavailable, match="no public download.*LABKIT_DATA_DIR.*LABKIT_DATASETS_URL"):
        fetch("trashnet-val", progress=False)


# --- LABKIT_DATA_DIR: a folder that already holds the datasets ------------------------------------------------------


def test_the_data_dir_is_used_as_it_is_after_checking_every_file(shared_datasets, empty_cache, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA_DIR", str(shared_datasets))
    monkeypatch.setenv("LABKIT_DATASETS_URL", refused_url())  # never asked
    assert fetch(NAME, progress=False) == shared_datasets / NAME
    assert fetch("trashnet-val", progress=False) == shared_datasets / "trashnet-val"
    assert not (empty_cache / "datasets").exists()


def test_a_damaged_file_in_the_data_dir_is_named(mirror_copy, tmp_path, monkeypatch):
    root = tmp_path / "school-share"
    shutil.copytree(mirror_copy, root, copy_function=os.link)
    target = root / NAME / DAMAGED
    data = target.read_bytes()
    target.unlink()
    target.write_bytes(data[:-1])
    monkeypatch.setenv("LABKIT_DATA_DIR", str(root))
    with pytest.raises(ChecksumError, match=f"{target}.*Replace it"):
        fetch(NAME, progress=False)


def test_a_data_dir_without_the_dataset_says_what_to_copy_where(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetUnavailable, match=f"has no {NAME}/ folder.*unset LABKIT_DATA_DIR"):
        fetch(NAME, progress=False)


# --- the command line ---------------------------------------------------------------------------------------------


def run_fetch(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "labkit", "fetch", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=600,
        check=False,
    )


def fetch_environment(cache: Path, mirror_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "LABKIT_DATA_DIR"}
    return {
        **env,
        "LABKIT_CACHE_DIR": str(cache),
        "LABKIT_DATASETS_URL": mirror_url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
    }


def test_fetch_prints_the_folder_on_its_last_line(mirror, tmp_path):
    done = run_fetch(NAME, env=fetch_environment(tmp_path / "cache", mirror))
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip().splitlines()[-1])
    assert folder == tmp_path / "cache" / "datasets" / NAME
    assert len(list((folder / "images").glob("*.JPEG"))) == 650


def test_fetch_names_the_damaged_file_and_fails(damaged_mirror, tmp_path):
    done = run_fetch(NAME, env=fetch_environment(tmp_path / "cache", damaged_mirror))
    assert done.returncode == 4
    assert f"{NAME}/{DAMAGED}" in done.stderr and done.stdout == ""


def test_fetch_list_needs_no_network(tmp_path):
    done = run_fetch("--list", env=fetch_environment(tmp_path / "cache", refused_url()))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("imagenet-val-650")


def test_labkit_datasets_imports_no_tensorflow():
    code = "import sys, labkit.datasets; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert done.stdout.split() == ["False", "False"]


# --- what the lessons do with it ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_model_scores_about_78_percent_on_the_650_validation_photos():
    # lessons 02, 05, 06, 07: evaluate() reads the fetched folder as it is (labels.csv, photos in images/)
    from labkit.evaluate import evaluate
    from labkit.model import shared_classifier

    result = evaluate(shared_classifier(), fetch(NAME, progress=False), progress=False)
    assert result.n == 650 and result.errors == []
    assert 0.74 <= result.top1 <= 0.83 and result.topk > result.top1
    low, high = result.top1_interval
    assert high < 0.85 and low > 0.718  # above the published 71.8 %, as lesson 06 discusses
