"""deploy/config.yaml is valid for the Zero to JupyterHub chart it names (4.4.0), checked as Helm checks it: the
chart's default values with config.yaml merged over them, against the chart's values schema (both kept, offline, in
the course's shared/z2jh/ folder, read by Draft 7 as the chart's own tools/validate-against-schema.py does)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG = REPO_ROOT / "deploy" / "config.yaml"
CHART = REPO_ROOT.parent / "shared" / "z2jh"  # beside the checkout, as CI's shared/ folder (.ci/run)
CHART_VERSION = "4.4.0"


def merged(defaults: dict, overrides: dict) -> dict:
    """Helm's merge of a values file over the chart's values: maps merge key by key, anything else (lists, scalars)
    replaces, and a null removes the default's key."""
    result = copy.deepcopy(defaults)
    for key, value in overrides.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def schema_errors(config: dict) -> list[str]:
    """What the chart's schema finds wrong with ``config`` merged over the chart's defaults, one line each."""
    schema = yaml.safe_load((CHART / "values.schema.yaml").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    validator = jsonschema.Draft7Validator(schema)
    found = validator.iter_errors(merged(defaults, config))
    return [f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}" for error in found]


@pytest.fixture(scope="module")
def config() -> dict:
    if not (CHART / "values.schema.yaml").is_file():
        pytest.fail(f"the chart's values schema is missing: {CHART} (the course's shared/z2jh/ beside the checkout)")
    return yaml.safe_load(CONFIG.read_text())


def test_the_chart_folder_is_the_version_the_docs_pin():
    assert f"tag `{CHART_VERSION}`" in (CHART / "README.md").read_text()
    for document in (CONFIG, REPO_ROOT / "docs" / "deploy.md"):
        assert f"--version {CHART_VERSION}" in document.read_text(), f"{document.name} should pin the chart"


def test_config_yaml_merged_over_the_charts_defaults_is_valid_against_its_schema(config):
    assert schema_errors(config) == []


def test_a_misspelt_or_wrongly_typed_setting_is_caught(config):
    misspelt = merged(config, {"singleuser": {"memroy": {"limit": "3G"}}})
    wrong_type = merged(config, {"proxy": {"https": {"hosts": "class.example.org"}}})

    assert any(error.startswith("singleuser:") and "memroy" in error for error in schema_errors(misspelt))
    assert any(error.startswith("proxy.https.hosts:") for error in schema_errors(wrong_type))


def test_the_home_the_config_assumes_is_the_one_the_docs_build_the_image_with(config):
    docs = (REPO_ROOT / "docs" / "deploy.md").read_text()
    build = re.search(r"jupyter-repo2docker [^\n]*", docs)

    assert build and "--user-id 1000 --user-name jovyan" in build.group(0), "repo2docker's user must be jovyan"
    singleuser = config["singleuser"]
    assert singleuser["cmd"][0] == "/home/jovyan/deploy/singleuser-start"
    volume = singleuser["storage"]["homeMountPath"]
    assert volume == config["hub"]["config"]["Spawner"]["notebook_dir"] == "/home/jovyan/work"
    assert singleuser["extraEnv"]["LABKIT_WORK_DIR"] == volume, "the lessons are copied onto the persistent volume"
    assert singleuser["extraEnv"]["LABKIT_MODELS_DIR"].startswith(volume + "/"), "exports must be kept too"


def test_https_is_spelled_out(config):
    https = config["proxy"]["https"]
    assert https["enabled"] and https["type"] == "letsencrypt" and https["hosts"]
    assert https["letsencrypt"]["contactEmail"]
