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


def test_order_up_then_variants_then_notebooks_then_diagnostics_upload_and_down():
    steps = _job()["steps"]
    names = [s.get("name", "") for s in steps]
    runs = [s.get("run", "") for s in steps]
    up = runs.index("labkit up --profile all --keep-on-failure")
    e2e = next(i for i, r in enumerate(runs) if "--run-e2e" in r)
    verify = next(i for i, r in enumerate(runs) if "labkit verify --backend kind" in r)
    diag = next(i for i, n in enumerate(names) if n.startswith("Diagnostics"))
    upload = next(i for i, n in enumerate(names) if n.startswith("Upload"))
    down = len(steps) - 1
    assert up < e2e < verify < diag < upload < down
    for i in (diag, upload, down):
        assert steps[i]["if"] == "always()"
    # diagnostics run while the cluster still exists, and collect what the issue asks for
    for part in ("get events", "describe pods", "logs", "kind export logs"):
        assert part in runs[diag]
    paths = steps[upload]["with"]["path"]
    assert "artifacts/timelines/" in paths and "notebooks/_executed/" in paths \
        and "artifacts/diagnostics/" in paths
    assert _job()["env"]["LABKIT_E2E_OUT"] == "artifacts/timelines"


def test_actions_are_at_their_current_majors():
    """actions/checkout, setup-python, upload-artifact: v7 (node24) at the time of writing."""
    uses = [s["uses"] for s in _job()["steps"] if "uses" in s]
    assert uses and all(u.split("@")[1] == "v7" for u in uses), uses


def test_down_always_runs_last():
    last = _job()["steps"][-1]
    assert last["run"].strip() == "labkit down" and last["if"] == "always()"


def test_up_keeps_a_failed_cluster_for_the_diagnostics():
    runs = [s.get("run", "") for s in _job()["steps"]]
    ups = [r for r in runs if "labkit up" in r]
    assert ups and all("--keep-on-failure" in r for r in ups)


def test_e2e_tests_are_enabled_in_the_workflow():
    job = _job()
    assert job["env"]["LABKIT_E2E"] == "1"
    assert "--run-e2e" in _step(job, "Every variant end to end")["run"]
