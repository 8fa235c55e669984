"""up/down against a fake runner: idempotency, cleanup on failure, missing tools."""

from __future__ import annotations

import io
import json

import pytest
import yaml

from labkit.backends.kind import cluster, versions as v
from labkit.backends.kind.runner import Completed
from labkit.errors import BackendError, ToolMissingError

from fakecluster import FakeCluster


def World(runner, *, fail_on: str | None = None, fault: bool = True) -> FakeCluster:
    """The fault-injecting cluster of :mod:`tests.kind.fakecluster`, driven by ``runner``."""
    world = FakeCluster(fault=fault).attach(runner)
    if fail_on:
        world.fail_commands.append(fail_on)
    return world


def up(world: FakeCluster, profile: str, runner, **kw):
    """``cluster.up`` on the fake's clock (retries sleep simulated seconds)."""
    return cluster.up(profile, runner=runner, sleep=world.sleep, clock=world.clock, **kw)


def test_up_creates_the_cluster_then_a_second_up_only_reloads_the_image(runner):
    world = World(runner)
    first = up(world, "all", runner, progress=False)
    assert world.clusters == {"labkit"}
    assert set(world.records) == set(v.addon_versions())
    assert first.creates_cluster and len(first.steps) > 30
    n = len(runner.calls)
    second = up(world, "all", runner, progress=False)
    assert second.actions() == ["kind-load"]
    later = runner.commands()[n:]
    assert not any("apply --server-side --force-conflicts -f https" in c for c in later)
    assert not any(c.startswith("kind create") for c in later)


def test_kind_create_uses_the_generated_config(runner):
    world = World(runner)
    up(world, "hpa", runner, progress=False)
    create = next(c for c in runner.calls if c[:3] == ("kind", "create", "cluster"))
    assert create[create.index("--name") + 1] == "labkit"
    assert create[create.index("--config") + 1].endswith("kind-cluster.yaml")


def test_build_runs_before_the_cluster_exists_and_load_after(runner):
    world = World(runner)
    up(world, "hpa", runner, progress=False)
    cmds = runner.commands()
    build = next(i for i, c in enumerate(cmds) if c.startswith("docker build -t labkit/app:0.1.0"))
    create = next(i for i, c in enumerate(cmds) if c.startswith("kind create cluster"))
    load = next(i for i, c in enumerate(cmds) if c.startswith("kind load docker-image "
                                                                "labkit/app:0.1.0 --name labkit"))
    assert build < create < load


def test_failure_halfway_deletes_the_cluster_it_created(runner, capsys):
    world = World(runner, fail_on="serving-core.yaml")
    with pytest.raises(BackendError, match=r"knative failed at step .* \"Knative Serving "
                                           r"v1\.23\.0: apply core\""):
        up(world, "knative", runner, progress=False)
    assert world.clusters == set()
    assert runner.commands()[-1] == "kind delete cluster --name labkit"
    assert "cleaning up" in capsys.readouterr().err


def test_failure_on_an_existing_cluster_leaves_it_alone(runner):
    world = World(runner, fail_on="keda-2.20.2.yaml")
    world.clusters.add("labkit")
    world.namespaces |= {"default", "kube-system"}
    with pytest.raises(BackendError, match="KEDA"):
        up(world, "keda", runner, progress=False)
    assert world.clusters == {"labkit"}
    assert not any(c.startswith("kind delete") for c in runner.commands())


def test_keep_on_failure_keeps_the_half_made_cluster(runner):
    world = World(runner, fail_on="components.yaml")
    with pytest.raises(BackendError):
        up(world, "hpa", runner, progress=False, keep_on_failure=True)
    assert world.clusters == {"labkit"}


def test_kserve_config_merge_keeps_the_other_ingress_keys(runner):
    world = World(runner)
    up(world, "kserve", runner, progress=False)
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


# -- against the fault-injecting cluster ----------------------------------------------------------
def test_up_all_waits_out_every_install_race_and_says_so(runner, capsys):
    world = World(runner)
    up(world, "all", runner, progress=True)
    assert set(world.records) == set(v.addon_versions())
    # the faults really happened: each of these webhooks refused at least once
    assert set(world.refusals) >= {"config.webhook.serving.knative.dev",
                                   "webhook.cert-manager.io",
                                   "llminferenceserviceconfig.serving.kserve.io"}
    err = capsys.readouterr().err
    assert "webhook config.webhook.serving.knative.dev not serving yet" in err
    assert "retrying in 5 s" in err and "done (" in err
    # what the retries made possible
    assert "kserve" in world.namespaces
    assert world.objects[("ConfigMap", "knative-serving", "config-observability")]["data"] == {
        "metrics-protocol": "prometheus"}
    assert world.autoscaler_protocol == "prometheus"   # restarted after the patch
    for ns, hpa in cluster.KNATIVE_CAPPED_HPAS:
        assert world.objects[("HorizontalPodAutoscaler", ns, hpa)]["spec"] == {"maxReplicas": 1}
    assert world.now < 1200     # simulated seconds: bounded, far below the sum of budgets


def test_without_its_retries_the_knative_patch_meets_the_webhook(runner):
    """The same plan with every retry budget removed fails where the audit said it would."""
    from dataclasses import replace
    world = World(runner)
    world.clusters.add("labkit")
    world.namespaces |= {"default", "kube-system"}
    plan = cluster.install_plan("knative", cluster_exists=True, image_exists=True)
    bare = replace(plan, steps=tuple(replace(s, retry_for=0.0) for s in plan.steps))
    # give serving-core its CRD first so the failure is the webhook's, not the CRD's
    world.crd_ready["Image"] = -1.0
    with pytest.raises(cluster.UpStepFailed) as e:
        cluster.run_plan(bare, runner, progress=False, sleep=world.sleep, clock=world.clock)
    assert e.value.component == "knative"
    assert e.value.command.startswith("kubectl --context kind-labkit -n knative-serving patch "
                                      "configmap/config-network")
    assert 'failed calling webhook "config.webhook.serving.knative.dev"' in e.value.last_error


def test_a_step_that_never_succeeds_names_component_command_and_last_error(runner, capsys):
    world = World(runner)
    world.webhook_warmup = 1e6        # Knative's webhook never serves
    with pytest.raises(cluster.UpStepFailed) as e:
        up(world, "knative", runner, progress=False)
    msg = str(e.value)
    assert "knative failed at step" in msg and "after" in msg and "attempts" in msg
    assert "command: kubectl --context kind-labkit " in msg
    assert "last error: " in msg and 'failed calling webhook "config.webhook.serving' in msg
    assert world.now < 1000           # bounded: the retry budget, not forever
    assert world.clusters == set()    # the half-made cluster is gone ...
    assert "--keep-on-failure" in capsys.readouterr().err   # ... and it says how to keep it


def test_keep_on_failure_keeps_the_cluster_and_says_how_to_look(runner, capsys):
    world = World(runner)
    world.webhook_warmup = 1e6
    with pytest.raises(cluster.UpStepFailed):
        up(world, "knative", runner, progress=False, keep_on_failure=True)
    assert world.clusters == {"labkit"}
    err = capsys.readouterr().err
    assert "kept for diagnosis" in err and "--context kind-labkit get events" in err


def test_kserve_yaml_needs_the_namespace_labkit_creates_first(runner):
    world = World(runner)
    plan = cluster.install_plan("kserve")
    names = [s.name for s in plan.of("kserve")]
    assert names[0] == "kserve: create namespace kserve"
    ns_step = plan.of("kserve")[0]
    assert yaml.safe_load(ns_step.input)["kind"] == "Namespace"
    up(world, "kserve", runner, progress=False)
    assert ("ConfigMap", "kserve", "inferenceservice-config") in world.objects


def test_backends_never_create_a_cluster(runner):
    world = World(runner)
    with pytest.raises(BackendError, match="labkit up --profile knative"):
        up(world, "knative", runner, progress=False, create_cluster=False)
    assert not any(c.startswith("kind create") for c in runner.commands())
    assert world.clusters == set()


def test_cli_up_has_keep_on_failure_and_dry_run_all_shows_waits_and_steps(capsys):
    from labkit import cli
    cli.main(["up", "--dry-run", "--profile", "all"])
    out = capsys.readouterr().out
    for part in ("[namespace] kserve: create namespace kserve",
                 "metrics-protocol", "rollout restart deployment/autoscaler",
                 "[wait] Knative: wait for the webhook Deployment",
                 "retries every 5 s for up to 240 s",
                 "horizontalpodautoscaler/activator",
                 "[wait] KServe: wait for its three controllers"):
        assert part in out, part
    assert cli.build_parser().parse_args(["up", "--keep-on-failure"]).keep_on_failure is True
