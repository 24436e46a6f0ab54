"""Named datasets we may not put in git: fetched once, checked file by file, cached per user.

What may be redistributed lives in the repository (``data/samples``: CC0 photos; ``data/trashnet-mini``: MIT).
What may not, ImageNet's validation photos above all, is a *named dataset* here: a registry lists every file with
its sha256 (``labkit/data/registry/<name>.txt``, written by ``tools/make_dataset_registry.py``), and
`pooch <https://www.fatiando.org/pooch/>`_ (what SciPy and scikit-image use for their data) downloads each file,
checks it and keeps it in the user's cache. A file whose checksum is wrong is never kept nor used: pooch writes
to a temporary file and moves it into the cache only once its hash matches.

Where the files come from, first match wins:

1. ``$LABKIT_DATA_DIR``: a folder that already holds datasets as ``<name>/<file as in the registry>`` (a school
   without internet copies them there; CI and the tests point it at ``../shared/datasets``). Nothing is
   downloaded. Every file is still checked against the registry: hashing the 20 MB of imagenet-val-650 takes
   a fraction of a second, and a wrong or missing file is named.
2. ``$LABKIT_DATASETS_URL``: a mirror's base URL with the same layout (``<url>/<name>/<file>``), e.g. a school's
   own web server; it replaces the public source.
3. The dataset's pinned public source (a git commit, so the bytes cannot drift).

Downloads go to ``<labkit's cache>/datasets/<name>`` (:func:`labkit.paths.cache_dir`: ``$LABKIT_CACHE_DIR``, else
``~/.cache/labkit``, the folder ``pooch.os_cache("labkit")`` names too).

The datasets:

- ``imagenet-val-650``: 650 ILSVRC2012 validation photos and their true classes. The photos are the files of the
  public GitHub repository ``VeriSilicon/acuity-dataset`` (``ILSVRC2012_VAL_SET/data/``) at a pinned commit.
  ``labels.csv`` is not a file of that repository: it was derived from the repository's ``dataset.txt`` (Caffe
  order, which is Keras' order) and cross-checked against the full validation ground truth. Labels are facts, not
  photos, so labkit ships that file itself (``labkit/data/datasets/imagenet-val-650/labels.csv``) and installs it
  beside the photos, checked against the same registry; a mirror serves its own copy.
- ``trashnet-val``: 400 TrashNet photos (MIT) that are not in ``data/trashnet-mini``, for measuring a fine-tuning
  recipe. TrashNet upstream (``garythung/trashnet``) publishes its photos only inside a zip, at another size, so
  no public URL serves these exact files: this dataset comes from ``$LABKIT_DATA_DIR`` or a mirror only, and says
  so when neither is set.

This module is in labkit's lowest layer: it imports only :mod:`labkit.paths`, the standard library, pooch and
tqdm (no TensorFlow), so ``python -m labkit fetch`` answers at once.

Example:
    >>> folder = fetch("imagenet-val-650")  # doctest: +SKIP
    >>> (folder / "labels.csv").is_file(), len(list((folder / "images").iterdir()))  # doctest: +SKIP
    (True, 650)
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pooch
from tqdm.auto import tqdm

from labkit.errors import LabkitError
from labkit.paths import PACKAGE_DIR, cache_dir

DATA_DIR_VARIABLE = "LABKIT_DATA_DIR"
MIRROR_VARIABLE = "LABKIT_DATASETS_URL"
REGISTRY_DIR = PACKAGE_DIR / "data" / "registry"
BUNDLED_DIR = PACKAGE_DIR / "data" / "datasets"  # files labkit ships itself (labels, never photos)


@dataclass(frozen=True)
class Dataset:
    """A named dataset: what it is, its licence, and where its files come from.

    ``source_url`` is the pinned public base URL (``<source_url><source_path(file)>``), or ``None`` when no public
    URL serves the exact files. ``source_prefix`` is the registry folder the source does not have (the source
    keeps imagenet-val-650's ``images/X.JPEG`` as ``data/X.JPEG``). ``bundled`` files come from the package.
    """

    name: str
    description: str
    licence: str
    size_bytes: int
    source_url: str | None
    source_prefix: str = ""
    bundled: tuple[str, ...] = ()

    def source_path(self, file_name: str) -> str:
        """The file's path under ``source_url``, e.g. ``images/X.JPEG`` -> ``X.JPEG``."""
        return file_name.removeprefix(self.source_prefix)


DATASETS: dict[str, Dataset] = {
    dataset.name: dataset
    for dataset in (
        Dataset(
            name="imagenet-val-650",
            description="650 ImageNet (ILSVRC2012) validation photos of 482 classes, with labels.csv",
            licence="ImageNet terms: non-commercial research and education only; not redistributable",
            size_bytes=18_614_710,  # photos and labels.csv
            source_url=(
                "https://raw.githubusercontent.com/VeriSilicon/acuity-dataset/"
                "aded2e9f22cd8fe0745aa57356c68cb95457aad9/ILSVRC2012_VAL_SET/data/"
            ),
            source_prefix="images/",
            bundled=("labels.csv",),
        ),
        Dataset(
            name="trashnet-val",
            description="400 TrashNet photos (glass, metal, paper, plastic) not in data/trashnet-mini",
            licence="MIT (TrashNet, Gary Thung and Mindy Yang, github.com/garythung/trashnet)",
            size_bytes=6_991_931,
            source_url=None,
        ),
    )
}


class DatasetError(LabkitError, RuntimeError):
    """A dataset could not be provided; the message says what failed and what to do."""


class DatasetUnavailable(DatasetError):
    """No source could be reached (offline, server down) or none serves this dataset."""


class ChecksumError(DatasetError):
    """A file's sha256 is not the registry's: the file is named, and it was not kept."""


class DiskFullError(DatasetError):
    """There is no room left for the dataset in the cache."""


def registry(name: str) -> dict[str, str]:
    """Return the dataset's registry: file (as in ``<name>/<file>``) -> ``"sha256:<hex>"``.

    Example:
        >>> len(registry("imagenet-val-650"))
        651
    """
    dataset = dataset_info(name)
    entries = {}
    for line in (REGISTRY_DIR / f"{dataset.name}.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            file_name, digest = line.split()
            entries[file_name] = digest
    return entries


def dataset_info(name: str) -> Dataset:
    """Return the :class:`Dataset` called ``name``; an unknown name gets a message listing the known ones.

    Example:
        >>> dataset_info("trashnet-val").source_url is None
        True
    """
    if name not in DATASETS:
        raise DatasetError(
            f"There is no dataset called {name!r}. Known datasets: {', '.join(DATASETS)} "
            "(python -m labkit fetch --list describes them)."
        )
    return DATASETS[name]


def fetch(name: str, *, progress: bool = True) -> Path:
    """Return the local folder of dataset ``name``, downloading and checking its files first if needed.

    Args:
        name: a key of :data:`DATASETS`, e.g. ``"imagenet-val-650"``.
        progress: show a progress bar (on stderr) while files are checked or downloaded.

    Raises:
        DatasetUnavailable: offline, or a mirror/source that does not serve a file (names the file, and the
            variables ``LABKIT_DATA_DIR`` and ``LABKIT_DATASETS_URL``).
        ChecksumError: a file's sha256 is not the registry's (the file is named and is not kept).
        DiskFullError: no room for the dataset in the cache.

    Example:
        >>> fetch("imagenet-val-650")  # doctest: +SKIP
        PosixPath('/home/me/.cache/labkit/datasets/imagenet-val-650')
    """
    dataset = dataset_info(name)
    files = registry(name)
    local = os.environ.get(DATA_DIR_VARIABLE)
    if local:  # an empty variable means "unset"
        return _checked_local_folder(dataset, files, Path(local))
    mirror = os.environ.get(MIRROR_VARIABLE)
    if not mirror and dataset.source_url is None:
        raise DatasetUnavailable(
            f"{name} has no public download: its source publishes these photos only inside an archive of other "
            f"files. Set {DATA_DIR_VARIABLE} to a folder holding {name}/ (e.g. a copy of the course's "
            f"datasets folder), or {MIRROR_VARIABLE} to a web server that serves <url>/{name}/<file>."
        )
    folder = cache_dir() / "datasets" / name
    folder.mkdir(parents=True, exist_ok=True)
    if mirror:
        fetcher = pooch.create(path=folder, base_url=f"{mirror.rstrip('/')}/{name}/", registry=files)
        where = f"the mirror {mirror} ({MIRROR_VARIABLE})"
    else:
        assert dataset.source_url is not None  # checked above: without a mirror, only a public source gets here
        public = {file_name: dataset.source_url + dataset.source_path(file_name) for file_name in files}
        fetcher = pooch.create(path=folder, base_url=dataset.source_url, registry=files, urls=public)
        where = f"{dataset.source_url}"
    _check_free_space(dataset, files, folder)
    with (
        _quiet_pooch(),
        tqdm(total=len(files), unit="file", desc=f"fetching {name}", file=sys.stderr, disable=not progress) as bar,
    ):
        for file_name, digest in files.items():
            if file_name in dataset.bundled and not mirror:
                _install_bundled(dataset, file_name, digest, folder)
            else:
                _fetch_one(fetcher, dataset, file_name, where)
            bar.update()
    return folder


def describe_datasets() -> list[str]:
    """One line per dataset: name, file count, size, licence and where it comes from (``fetch --list``).

    Example:
        >>> describe_datasets()[0].split()[0]
        'imagenet-val-650'
    """
    lines = []
    for dataset in DATASETS.values():
        source = (
            "public source: " + dataset.source_url
            if dataset.source_url
            else f"no public download: {DATA_DIR_VARIABLE} or {MIRROR_VARIABLE} only"
        )
        lines.append(
            f"{dataset.name}  {len(registry(dataset.name))} files, {dataset.size_bytes / 1e6:.1f} MB. "
            f"{dataset.description}. Licence: {dataset.licence}. {source}"
        )
    return lines


def _checked_local_folder(dataset: Dataset, files: dict[str, str], root: Path) -> Path:
    """Check ``root/<name>`` holds every registered file with the right sha256; return it (nothing downloaded)."""
    folder = root / dataset.name
    if not folder.is_dir():
        raise DatasetUnavailable(
            f"{DATA_DIR_VARIABLE} is {root}, which has no {dataset.name}/ folder. Copy the dataset there "
            f"(<{DATA_DIR_VARIABLE}>/{dataset.name}/<file>), or unset {DATA_DIR_VARIABLE} to download it."
        )
    missing = [file_name for file_name in files if not (folder / file_name).is_file()]
    if missing:
        raise DatasetUnavailable(
            f"{folder} misses {len(missing)} of the {len(files)} files of {dataset.name}, e.g. {missing[0]}. "
            f"Copy the whole dataset there, or unset {DATA_DIR_VARIABLE} to download it."
        )
    for file_name, digest in files.items():
        if not pooch.file_hash(str(folder / file_name)) == digest.removeprefix("sha256:"):
            raise ChecksumError(
                f"{folder / file_name} is not the file labkit expects (its sha256 differs from the registry's): "
                f"it is damaged or another version. Replace it with a good copy; labkit did not use it."
            )
    return folder


def _fetch_one(fetcher: pooch.Pooch, dataset: Dataset, file_name: str, where: str) -> None:
    """Fetch one file into the cache with pooch, turning its errors into labkit's messages."""
    try:
        fetcher.fetch(file_name)
    except ValueError as error:  # pooch: the downloaded file's hash is not the registry's; it was not kept
        raise ChecksumError(
            f"{dataset.name}/{file_name} from {where} is damaged or not the expected file (its sha256 differs from "
            f"the registry's), so labkit did not keep it. Try again later, or fix the file on the mirror. "
            f"(pooch said: {error})"
        ) from None
    except OSError as error:  # requests' errors are OSErrors too
        if error.errno == errno.ENOSPC:
            raise _disk_full(dataset, fetcher.abspath) from None
        raise DatasetUnavailable(
            f"Could not download {dataset.name}/{file_name} from {where}: {error}. If you are offline, set "
            f"{DATA_DIR_VARIABLE} to a folder holding {dataset.name}/ (copied from a USB stick or a school share), "
            f"or {MIRROR_VARIABLE} to a mirror that serves <url>/{dataset.name}/<file>; otherwise try again "
            "later."
        ) from None


def _install_bundled(dataset: Dataset, file_name: str, digest: str, folder: Path) -> None:
    """Copy a file labkit ships (e.g. labels.csv) beside the downloaded ones, checked like them."""
    source = BUNDLED_DIR / dataset.name / file_name
    if pooch.file_hash(str(source)) != digest.removeprefix("sha256:"):
        raise ChecksumError(
            f"labkit's own copy of {dataset.name}/{file_name} ({source}) does not match its "
            "registry: the installation is damaged. Reinstall labkit."
        )
    target = folder / file_name
    if not target.is_file() or pooch.file_hash(str(target)) != digest.removeprefix("sha256:"):
        try:
            shutil.copyfile(source, target)
        except OSError as error:
            if error.errno == errno.ENOSPC:
                target.unlink(missing_ok=True)
                raise _disk_full(dataset, folder) from None
            raise


def _check_free_space(dataset: Dataset, files: dict[str, str], folder: Path) -> None:
    """Fail before downloading when the cache's disk obviously cannot hold what is missing."""
    missing = sum(1 for file_name in files if not (folder / file_name).is_file())
    needed = dataset.size_bytes * missing / len(files)
    if needed and shutil.disk_usage(folder).free < needed:
        raise _disk_full(dataset, folder)


def _disk_full(dataset: Dataset, folder: Path | str) -> DiskFullError:
    return DiskFullError(
        f"The disk is full: {dataset.name} needs about {dataset.size_bytes / 1e6:.0f} MB in {folder}. Free some "
        f"space, or set LABKIT_CACHE_DIR to a folder on a disk with room, or {DATA_DIR_VARIABLE} to a folder that "
        "already holds the dataset. Files already checked stay; nothing damaged was kept."
    )


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    """Silence pooch's one log line per downloaded file while our progress bar runs."""
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
