"""up/down against a fake runner: idempotency, cleanup on failure, missing tools."""

from __future__ import annotations

import io
import json

import pytest
import yaml

from labkit.backends.kind import cluster, versions as v
from labkit.backends.kind.runner import Completed
from labkit.errors import BackendError, ToolMissingError



class World:
    """A fake machine: kind clusters, built images and the add-on records, driven by commands."""

    def __init__(self, runner, *, fail_on: str | None = None):
        self.clusters: set[str] = set()
        self.images: set[str] = set()
        self.records: dict[str, str] = {}
        self.fail_on = fail_on
        r = runner
        r.on(lambda a: True, fn=self.handle)

    def handle(self, a, stdin):
        line = " ".join(a)
        if self.fail_on and self.fail_on in line:
            return Completed(a, 1, "", "error: the server could not find the requested resource")
        if a[:3] == ("kind", "get", "clusters"):
            return Completed(a, 0, "\n".join(sorted(self.clusters)) + "\n")
        if a[:3] == ("kind", "create", "cluster"):
            self.clusters.add(a[a.index("--name") + 1])
        if a[:3] == ("kind", "delete", "cluster"):
            self.clusters.discard(a[a.index("--name") + 1])
        if a[:2] == ("docker", "build"):
            self.images.add(a[a.index("-t") + 1])
        if a[:3] == ("docker", "image", "inspect"):
            return Completed(a, 0 if a[3] in self.images else 1, "[]", "No such image")
        if "configmap" in a and "labkit-addons" in a and "get" in a:
            if not self.records:
                return Completed(a, 1, "", 'Error from server (NotFound): configmaps '
                                 '"labkit-addons" not found')
            return Completed(a, 0, json.dumps({"data": self.records}))
        if "--field-manager=labkit-" + "" in line and stdin and "labkit-addons" in stdin:
            self.records.update(yaml.safe_load(stdin)["data"])
        if "configmap/inferenceservice-config" in a and "get" in a:
            return Completed(a, 0, json.dumps({
                "metadata": {"name": "inferenceservice-config", "namespace": "kserve"},
                "data": {"deploy": '{"defaultDeploymentMode": "Standard"}',
                         "ingress": '{"ingressGateway": "knative-serving/knative-ingress-gateway",'
                                    ' "ingressDomain": "example.com"}'}}))
        return Completed(a, 0, "")


def test_up_creates_the_cluster_then_a_second_up_only_reloads_the_image(runner):
    world = World(runner)
    first = cluster.up("all", progress=False, runner=runner)
    assert world.clusters == {"labkit"}
    assert set(world.records) == set(v.addon_versions())
    assert first.creates_cluster and len(first.steps) > 30
    n = len(runner.calls)
    second = cluster.up("all", progress=False, runner=runner)
    assert second.actions() == ["kind-load"]
    later = runner.commands()[n:]
    assert not any("apply --server-side --force-conflicts -f https" in c for c in later)
    assert not any(c.startswith("kind create") for c in later)


def test_kind_create_uses_the_generated_config(runner):
    World(runner)
    cluster.up("hpa", progress=False, runner=runner)
    create = next(c for c in runner.calls if c[:3] == ("kind", "create", "cluster"))
    assert create[create.index("--name") + 1] == "labkit"
    assert create[create.index("--config") + 1].endswith("kind-cluster.yaml")


def test_build_runs_before_the_cluster_exists_and_load_after(runner):
    World(runner)
    cluster.up("hpa", progress=False, runner=runner)
    cmds = runner.commands()
    build = next(i for i, c in enumerate(cmds) if c.startswith("docker build -t labkit/app:0.1.0"))
    create = next(i for i, c in enumerate(cmds) if c.startswith("kind create cluster"))
    load = next(i for i, c in enumerate(cmds) if c.startswith("kind load docker-image "
                                                                "labkit/app:0.1.0 --name labkit"))
    assert build < create < load


def test_failure_halfway_deletes_the_cluster_it_created(runner, capsys):
    world = World(runner, fail_on="serving-core.yaml")
    with pytest.raises(BackendError, match=r"Knative Serving v1\.23\.0: apply core.*failed"):
        cluster.up("knative", progress=False, runner=runner)
    assert world.clusters == set()
    assert runner.commands()[-1] == "kind delete cluster --name labkit"
    assert "cleaning up" in capsys.readouterr().err


def test_failure_on_an_existing_cluster_leaves_it_alone(runner):
    world = World(runner, fail_on="keda-2.20.2.yaml")
    world.clusters.add("labkit")
    with pytest.raises(BackendError, match="KEDA"):
        cluster.up("keda", progress=False, runner=runner)
    assert world.clusters == {"labkit"}
    assert not any(c.startswith("kind delete") for c in runner.commands())


def test_keep_on_failure_keeps_the_half_made_cluster(runner):
    world = World(runner, fail_on="components.yaml")
    with pytest.raises(BackendError):
        cluster.up("hpa", progress=False, runner=runner, keep_on_failure=True)
    assert world.clusters == {"labkit"}


def test_kserve_config_merge_keeps_the_other_ingress_keys(runner):
    World(runner)
    cluster.up("kserve", progress=False, runner=runner)
    i = next(i for i, c in enumerate(runner.calls) if "--field-manager=labkit" in c
             and runner.inputs[i] and "inferenceservice-config" in runner.inputs[i])
    doc = yaml.safe_load(runner.inputs[i])
    ingress = json.loads(doc["data"]["ingress"])
    assert ingress == {"ingressGateway": "knative-serving/knative-ingress-gateway",
                       "ingressDomain": "example.com", "disableIstioVirtualHost": True}
    assert json.loads(doc["data"]["deploy"]) == {"defaultDeploymentMode": "Knative"}


@pytest.mark.parametrize("missing", ["docker", "kind", "kubectl"])
def test_up_names_the_missing_tool_and_how_to_install_it(missing, make_runner):
    r = make_runner(tools=[t for t in ("docker", "kind", "kubectl") if t != missing])
    with pytest.raises(ToolMissingError, match=f"needs `{missing}`.*install"):
        cluster.up("hpa", progress=False, runner=r)
    assert r.calls == []


def test_dry_run_prints_the_plan_and_changes_nothing(runner, capsys):
    world = World(runner)
    plan = cluster.up("knative", progress=False, runner=runner, dry_run=True)
    out = capsys.readouterr().out
    assert "serving-core.yaml" in out and world.clusters == set()
    assert len(plan.steps) > 5


def test_down_deletes_the_cluster(runner, capsys):
    world = World(runner)
    world.clusters.add("labkit")
    assert cluster.down(runner=runner) is True
    assert world.clusters == set()
    assert cluster.down(runner=runner) is False
    assert "nothing to delete" in capsys.readouterr().out


def test_progress_bar_counts_steps(runner):
    plan = cluster.install_plan("hpa")
    r = runner
    out = io.StringIO()
    cluster.run_plan(plan, r, progress=True, stream=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[") and f"1/{len(plan.steps)}" in lines[0]
    assert f"{len(plan.steps)}/{len(plan.steps)}" in lines[-2]
    assert "done" in lines[-1]
