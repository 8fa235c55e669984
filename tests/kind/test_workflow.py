"""The kind GitHub workflow: parseable, pinned tools, notebooks on kind, and always down."""

from __future__ import annotations

from pathlib import Path

import yaml

from labkit.backends.kind import versions as v

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "kind-e2e.yml"


def _job():
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert True in doc or "on" in doc   # YAML 1.1 reads the key `on` as True
    return doc["jobs"]["e2e"]


def _step(job, name_part):
    return next(s for s in job["steps"] if name_part in s.get("name", ""))


def test_runs_on_ubuntu_with_python_311_and_test_extras():
    job = _job()
    assert job["runs-on"].startswith("ubuntu")
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "3.11"
    assert "pip install -e '.[test]'" in _step(job, "Install labkit")["run"]


def test_kind_and_kubectl_come_from_the_pinned_urls():
    run = _step(_job(), "Install kind and kubectl")["run"]
    assert "v.KIND_BINARY_URL" in run and "v.KUBECTL_BINARY_URL" in run
    assert v.KIND_VERSION in v.KIND_BINARY_URL and v.KUBECTL_VERSION in v.KUBECTL_BINARY_URL


def test_order_up_then_notebooks_on_kind_then_upload():
    names = [s.get("name", "") for s in _job()["steps"]]
    runs = [s.get("run", "") for s in _job()["steps"]]
    up = runs.index("labkit up --profile all")
    verify = next(i for i, r in enumerate(runs) if "labkit verify --backend kind" in r)
    upload = names.index("Upload the executed notebooks")
    assert up < verify < upload
    assert _job()["steps"][upload]["if"] == "always()"


def test_down_always_runs_last():
    last = _job()["steps"][-1]
    assert last["run"].strip() == "labkit down" and last["if"] == "always()"


def test_e2e_tests_are_enabled_in_the_workflow():
    job = _job()
    assert job["env"]["LABKIT_E2E"] == "1"
    assert "--run-e2e" in _step(job, "e2e tests")["run"]
