"""Write the pooch registry of a dataset that labkit.datasets fetches: one line per file, ``<file> sha256:<hex>``.

Run from the repository root on a folder that holds the dataset as it should be served (``<dataset>/<file>``):

    python tools/make_dataset_registry.py ../shared/datasets/imagenet-val-650
    python tools/make_dataset_registry.py ../shared/datasets/trashnet-val

It hashes every file it registers and, when the folder has a ``sha256.txt`` (``sha256  <file>`` lines, as
``sha256sum -c`` reads), checks that every listed file is registered with that very checksum, so the registry
agrees with the checksums the dataset was published with. ``labels.csv`` of imagenet-val-650 is also copied into
the package (``labkit/data/datasets/<name>/``): the public source has no such file (see labkit.datasets).
The output goes to ``labkit/data/registry/<name>.txt``; commit it.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
REGISTRY_DIR = REPO_ROOT / "labkit" / "data" / "registry"
BUNDLED_DIR = REPO_ROOT / "labkit" / "data" / "datasets"
SKIPPED = {"sha256.txt"}  # the checksums themselves: the registry replaces them
# imagenet-val-650's README is the course's note, not a file of the public source: the dataset is its photos and labels
SKIPPED_IN = {"imagenet-val-650": {"README.md"}}
BUNDLED = {"imagenet-val-650": ["labels.csv"]}  # files the package ships (see labkit.datasets' docstring)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def registry_lines(folder: Path) -> list[str]:
    """``<file> sha256:<hex>`` for every file under ``folder`` (POSIX paths, sorted), checked against sha256.txt."""
    skipped = SKIPPED | SKIPPED_IN.get(folder.resolve().name, set())
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and path.name not in skipped
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    hashes = {path.relative_to(folder).as_posix(): sha256(path) for path in files}
    published = folder / "sha256.txt"
    if published.is_file():
        for line in published.read_text(encoding="utf-8").splitlines():
            if line.strip():
                digest, name = line.split(maxsplit=1)
                if hashes.get(name.strip()) != digest:
                    sys.exit(f"{name.strip()}: sha256.txt says {digest}, the file hashes to {hashes.get(name.strip())}")
    return [f"{name} sha256:{digest}" for name, digest in hashes.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the dataset's folder; its name is the dataset's name")
    args = parser.parse_args()
    name = args.folder.resolve().name
    lines = registry_lines(args.folder)
    REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
    target = REGISTRY_DIR / f"{name}.txt"
    target.write_text(
        f"# {name}: {len(lines)} files, written by tools/make_dataset_registry.py\n" + "\n".join(lines) + "\n",
        encoding="utf-8",
    )
    for file_name in BUNDLED.get(name, []):
        (BUNDLED_DIR / name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.folder / file_name, BUNDLED_DIR / name / file_name)
    print(f"{target.relative_to(REPO_ROOT)}: {len(lines)} files")


if __name__ == "__main__":
    main()
