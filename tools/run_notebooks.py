"""Re-execute lessons in place and drop native-library log lines from their saved outputs.

Committed notebooks should read cleanly on GitHub; TensorFlow and LiteRT print log lines to stderr that nbval
ignores anyway (conftest.py). Run from the repository root: ``make notebooks`` (all) or
``.venv/bin/python tools/run_notebooks.py notebooks/02_preprocessing.ipynb``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat

LOG_LINE = re.compile(
    r"^(INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.|WARNING: All log messages before absl.*"
    r"|[IWE]\d{4} .*|To enable the following instructions.*)$"
)


def strip_log_lines(path: Path) -> int:
    """Remove stderr lines that are pure native log noise; return how many lines went."""
    notebook = nbformat.read(path, as_version=4)
    removed = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stderr":
                lines = [line for line in output.text.splitlines(True) if not LOG_LINE.match(line.rstrip("\n"))]
                removed += output.text.count("\n") - sum(line.endswith("\n") for line in lines)
                if not "".join(lines).strip():
                    continue
                output.text = "".join(lines)
            kept.append(output)
        cell.outputs = kept
    nbformat.write(notebook, path)
    return removed


def main(paths: list[str]) -> None:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    environment.setdefault("LABKIT_WEIGHTS_DIR", str(Path.cwd().parent / "shared" / "models"))
    environment.setdefault("LABKIT_DATA_DIR", str(Path.cwd().parent / "shared" / "datasets"))  # as the tests do
    for name in paths or sorted(str(path) for path in Path("notebooks").glob("[0-9]*.ipynb")):
        print(f"executing {name}", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "jupyter",
                "nbconvert",
                "--to",
                "notebook",
                "--execute",
                "--inplace",
                "--NotebookClient.store_widget_state=False",
                name,
            ],
            check=True,
            env=environment,
        )
        print(f"  {strip_log_lines(Path(name))} log lines removed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
