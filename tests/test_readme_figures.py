"""README's "What we measured" table, docs/classroom.md's table and the figures in docs/course.md's and
docs/deploy.md's prose are generated from benchmarks/results/*.json, and documents and results must agree."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_script(path: Path):
    """Import a script that is not in a package (tools/readme_figures.py, benchmarks/_results.py) by its path."""
    spec = importlib.util.spec_from_file_location(f"labkit_{path.stem.strip('_')}_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


figures = load_script(REPO_ROOT / "tools" / "readme_figures.py")
results = load_script(REPO_ROOT / "benchmarks" / "_results.py")


@pytest.mark.parametrize("document", ["README.md", "docs/classroom.md"])
def test_the_tables_of_figures_are_the_ones_generated_from_the_results(document):
    rows, first_column = figures.DOCUMENTS[REPO_ROOT / document]
    table, _ = figures.render_table(figures.load_results(), rows, first_column)
    text = (REPO_ROOT / document).read_text(encoding="utf-8")

    assert figures.with_table(text, table) == text, (
        f"{document}'s figures differ from benchmarks/results/*.json: run tools/readme_figures.py"
    )


@pytest.mark.parametrize("block", figures.BLOCKS, ids=lambda block: f"{block.document.name}:{block.name}")
def test_the_figures_in_the_docs_prose_are_the_ones_generated_from_the_results(block):
    text = block.document.read_text(encoding="utf-8")

    assert block.start in text and block.end in text, f"{block.document.name} lost its {block.name} markers"
    assert figures.with_block(text, block, figures.load_results()) == text, (
        f"{block.document.name}'s {block.name} figures differ from benchmarks/results/*.json: "
        "run tools/readme_figures.py"
    )


def test_the_check_finds_a_retyped_figure(tmp_path, monkeypatch):
    block = next(block for block in figures.BLOCKS if block.name == "voila-needs")
    copy = tmp_path / block.document.name
    generated = figures.with_block(block.document.read_text(encoding="utf-8"), block, figures.load_results())
    copy.write_text(generated.replace(block.end, f"0.13 GB per student\n{block.end}"), encoding="utf-8")
    monkeypatch.setattr(figures, "BLOCKS", (block._replace(document=copy),))
    monkeypatch.setattr(figures, "DOCUMENTS", {})
    monkeypatch.setattr(figures, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["tools/readme_figures.py", "--check"])

    assert figures.main() == 1
    assert "0.13 GB per student" in copy.read_text(encoding="utf-8")  # --check reports, never rewrites


# benchmarks/hub.py writes its own format, which tools/sizing.py reads (tests/test_sizing.py checks it).
OWN_FORMAT = {"hub"}


def test_every_result_file_says_when_where_and_how_it_was_measured():
    found = figures.load_results()
    assert found, "benchmarks/results/ holds no result: run the benchmarks"
    for name, result in found.items():
        if name in OWN_FORMAT:
            continue
        assert result["benchmark"] == name
        assert result["date"][:2] == "20" and result["command"].startswith(f"benchmarks/{name}.py")
        assert result["machine"]["cores"] >= 1 and len(result["machine"]["load_average_end"]) == 3
        assert result["figures"]


def test_a_written_result_becomes_a_row_and_a_missing_one_leaves_its_row_out(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["benchmarks/latency.py", "--repeats", "3"])
    started = results.machine_load()
    results.write_result(
        "latency",
        {"model_predict_p50_ms": 80.6, "labkit_p50_ms": 7.81, "ratio_one_image": 10.32},
        load_at_start=started,
        folder=tmp_path,
    )
    written = json.loads((tmp_path / "latency.json").read_text())
    assert written["command"] == "benchmarks/latency.py --repeats 3"
    assert written["machine"]["load_average_start"] == started

    table, left_out = figures.render_table(figures.load_results(tmp_path))

    assert "| the same with Keras' `model.predict` | 81 ms, 10.3× slower (7.8 ms for labkit in the same run) |" in table
    assert f"{written['date'][:10]}, load {started[0]:.1f} on {written['machine']['cores']} cores" in table
    assert len(table.splitlines()) == 3  # the header, its rule, and the one row with a result
    assert "LiteRT int8" in left_out and "uploads in one tab (soak)" in left_out


def test_the_table_goes_between_the_markers_and_the_prose_stays():
    readme = f"# Title\n\nProse before.\n\n{figures.START}\nold table\n{figures.END}\n\nProse after.\n"

    rewritten = figures.with_table(readme, "| new | table |")

    assert rewritten == f"# Title\n\nProse before.\n\n{figures.START}\n| new | table |\n{figures.END}\n\nProse after.\n"
    with pytest.raises(SystemExit, match="No generated table"):
        figures.with_table("# A README without markers\n", "| new | table |")
