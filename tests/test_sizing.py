"""docs/deploy.md's sizing table and deploy/config.yaml's memory guarantee are the ones tools/sizing.py computes from
benchmarks/results/hub.json, and the per-student limits in deploy/ cover what benchmarks/hub.py measured."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sizing
import yaml
from traitlets.config.loader import PyFileConfigLoader

REPO_ROOT = Path(__file__).resolve().parent.parent

UNITS = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def megabytes(size: str) -> float:
    """'3G' or '512M' (JupyterHub's and Kubernetes' notation, decimal here) as MB."""
    number, unit = re.fullmatch(r"([\d.]+)([KMGT])i?", str(size)).groups()
    return float(number) * UNITS[unit] / 1e6


def results() -> dict:
    return json.loads(sizing.RESULTS.read_text())


def test_the_sizing_table_in_the_docs_is_the_one_computed_from_the_hub_benchmark():
    doc = sizing.DOC.read_text()

    assert sizing.updated_doc(doc, sizing.render(results())) == doc, (
        "docs/deploy.md's sizing table differs from benchmarks/results/hub.json: run tools/sizing.py"
    )


def test_a_class_needs_the_shared_pages_once_on_one_machine_and_whole_pods_on_kubernetes():
    measured = {
        "median": {
            "start_cpu_s": 2.0,
            "student_rss_mb": 300.0,
            "student_uss_mb": 200.0,
            "student_with_heatmaps_rss_mb": 900.0,
            "student_with_heatmaps_uss_mb": 500.0,
        },
        "max": {"student_with_heatmaps_rss_mb": 930.0},
        "hub_processes_rss_mb": {"hub": 100.0, "proxy": 50.0, "culler": 50.0},
    }

    needs = sizing.class_needs(measured, 30)

    assert needs["machine_app_gb"] == pytest.approx(0.2 + 0.1 + 30 * 0.2)
    assert needs["machine_heatmaps_gb"] == pytest.approx(0.2 + 0.4 + 30 * 0.5)
    assert sizing.pod_guarantee_mb(measured) == 960  # the largest student, rounded up to 64 MB
    assert needs["kubernetes_app_gb"] == pytest.approx(0.2 + 30 * 0.96)  # each pod reserves its guarantee
    assert needs["login_cpu_s"] == 60.0
    assert sizing.machine_gb(6.3) == 8 and sizing.machine_gb(6.5) == 16  # a quarter of headroom
    assert sizing.cores_for(60.0) == 2 and sizing.cores_for(400.0) == 8


def test_the_kubernetes_memory_guarantee_is_the_one_computed_from_the_hub_benchmark():
    config = sizing.CONFIG.read_text()

    assert sizing.updated_config(config, results()) == config, (
        "deploy/config.yaml's memory guarantee differs from benchmarks/results/hub.json: run tools/sizing.py"
    )
    guarantee = yaml.safe_load(config)["singleuser"]["memory"]["guarantee"]
    assert megabytes(guarantee) == sizing.pod_guarantee_mb(results())


def test_the_one_machine_limit_covers_a_student_with_heatmaps(monkeypatch):
    monkeypatch.setenv("LABKIT_CLASS_PASSWORD", "class-password")
    config = PyFileConfigLoader(str(REPO_ROOT / "deploy" / "jupyterhub_config.py")).load_config()
    measured = results()

    assert megabytes(config.Spawner.mem_limit) >= measured["max"]["student_with_heatmaps_rss_mb"]
    assert config.Spawner.default_url == "/voila/render/notebooks/dashboard.ipynb"


def test_the_kubernetes_guarantee_covers_the_app_and_the_limit_a_student_with_heatmaps():
    config = yaml.safe_load((REPO_ROOT / "deploy" / "config.yaml").read_text())
    memory, measured = config["singleuser"]["memory"], results()

    assert megabytes(memory["guarantee"]) >= measured["median"]["student_rss_mb"]
    assert megabytes(memory["limit"]) >= measured["max"]["student_with_heatmaps_rss_mb"]
    assert config["singleuser"]["defaultUrl"] == "/voila/render/notebooks/dashboard.ipynb"
    assert config["cull"]["enabled"]
