"""labkit doctor's messages with faked tools: Docker missing or stopped, kind missing, old kubectl."""

from __future__ import annotations

import io
import json

import pytest

from labkit import doctor
from labkit.backends.kind.runner import Completed

REAL_TWIN_CHECKS = doctor.twin_checks   # before the autouse fixture below fakes it
GOOD_INFO = json.dumps({"ServerVersion": "28.2.2", "OperatingSystem": "Ubuntu 24.04",
                        "NCPU": 8, "MemTotal": 16 * 2 ** 30})


class Tools:
    """A fake runner: the tools on PATH and what each command prints."""

    def __init__(self, tools=("docker", "kind", "kubectl"), *, daemon=True,
                 kind="kind v0.33.0 go1.24.6 linux/amd64", kubectl="v1.36.4",
                 docker_err="Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
                            " Is the docker daemon running?", clusters=""):
        self.tools, self.daemon, self.kind, self.kubectl = set(tools), daemon, kind, kubectl
        self.docker_err, self.clusters = docker_err, clusters
        self.calls = []

    def which(self, tool):
        return f"/usr/bin/{tool}" if tool in self.tools else None

    def run(self, args, *, check=True, timeout=None, input=None, stream=False):
        a = tuple(args)
        self.calls.append(a)
        if a[:2] == ("docker", "version"):
            return Completed(a, 0 if self.daemon else 1, "28.2.2\n")
        if a[:2] == ("docker", "info"):
            if not self.daemon:
                return Completed(a, 1, "", self.docker_err)
            return Completed(a, 0, "28.2.2\n" if "{{.ServerVersion}}" in a else GOOD_INFO)
        if a[:2] == ("kind", "version"):
            return Completed(a, 0, self.kind + "\n")
        if a[:3] == ("kind", "get", "clusters"):
            return Completed(a, 0, self.clusters)
        if a[0] == "kubectl":
            return Completed(a, 0, json.dumps({"clientVersion": {"gitVersion": self.kubectl}}))
        raise AssertionError(f"unexpected command {a}")


@pytest.fixture(autouse=True)
def _twin_ok(monkeypatch):
    """The twin track's checks faked as passing (one test runs the real ones)."""
    monkeypatch.setattr(doctor, "twin_checks", lambda: list(TWIN_OK))


def _checks(tools, profile="hpa", host=(8, 16.0), free=lambda p: True):
    return {c.name: c for c in doctor.check(profile, runner=tools, host=host, is_free=free)}


def test_all_good_passes():
    c = _checks(Tools())
    assert all(x.ok for x in c.values())
    assert c["kind"].found == "v0.33.0" and c["kubectl"].found == "v1.36.4"


@pytest.mark.parametrize("tools, name, found, fix", [
    pytest.param(Tools(tools=("kind", "kubectl")), "docker", "not installed",
                 "docs.docker.com/get-docker", id="docker-missing"),
    pytest.param(Tools(daemon=False), "docker", "its daemon is not running",
                 "start Docker Desktop, or `sudo systemctl start docker`", id="daemon-stopped"),
    pytest.param(Tools(daemon=False, docker_err="permission denied while trying to connect to "
                       "the Docker daemon socket"), "docker", "refuses this user",
                 "docker group", id="daemon-permission"),
    pytest.param(Tools(tools=("docker", "kubectl")), "kind", "not installed",
                 "install kind v0.33.0", id="kind-missing"),
    pytest.param(Tools(kind="kind v0.29.0 go1.24 linux/amd64"), "kind",
                 "v0.29.0 is older than v0.33.0", "install kind v0.33.0", id="kind-old"),
    pytest.param(Tools(kubectl="v1.32.4-dispatcher"), "kubectl",
                 "v1.32.4 is older than v1.35.0", "install kubectl v1.36.4", id="kubectl-old"),
    pytest.param(Tools(tools=("docker", "kind")), "kubectl", "not installed",
                 "kubernetes.io/docs/tasks/tools", id="kubectl-missing"),
])
def test_each_problem_says_what_and_how_to_fix(tools, name, found, fix):
    c = _checks(tools)[name]
    assert not c.ok and c.required
    assert found in c.found and fix in c.fix
    assert c.line().startswith("[FAIL]") and "->" in c.line()


@pytest.mark.parametrize("profile, host, ok", [
    # 10 app pods at 200m / 512Mi (manifests/base/deployment.yaml) do not fit in 2 CPUs
    pytest.param("hpa", (2, 16.0), False, id="hpa-needs-4-cpus-for-10-pods"),
    pytest.param("hpa", (4, 8.0), True, id="hpa-fits-a-4-cpu-runner"),
    pytest.param("all", (4, 16.0), True, id="all-fits-a-github-runner"),
    pytest.param("all", (2, 23.0), False, id="all-needs-4-cpus"),
    pytest.param("kserve", (8, 6.0), False, id="kserve-needs-8-gib"),
])
def test_resources_per_profile(profile, host, ok):
    c = doctor.resources_check(profile, {}, host)
    assert c.ok is ok and profile in c.found


def test_docker_desktop_vm_limits_count_over_the_host():
    info = {"NCPU": 2, "MemTotal": 3 * 2 ** 30, "OperatingSystem": "Docker Desktop"}
    c = doctor.resources_check("hpa", info, (10, 64.0))
    assert not c.ok and c.found.startswith("2 CPUs, 3.0 GiB")


def test_busy_port_fails_unless_the_labkit_cluster_holds_it():
    busy = lambda p: p != 30080
    c = _checks(Tools(), free=busy)
    assert not c["port 30080"].ok and "lsof -i :30080" in c["port 30080"].fix
    c = _checks(Tools(clusters="labkit\n"), free=busy)
    assert c["port 30080"].ok and "labkit cluster" in c["port 30080"].found


def test_jupyterlab_port_in_use_only_warns():
    c = _checks(Tools(), free=lambda p: p != 8888)["port 8888"]
    assert not c.ok and not c.required and c.line().startswith("[warn]")


@pytest.mark.parametrize("tools, usable, reason", [
    pytest.param(Tools(), True, "Docker 28.2.2 and kind are available", id="ok"),
    pytest.param(Tools(tools=()), False, "Docker is not installed", id="no-docker"),
    pytest.param(Tools(daemon=False), False, "Docker is installed but its daemon is not running "
                 "(start Docker Desktop or `sudo systemctl start docker`)", id="client-only"),
    pytest.param(Tools(tools=("docker", "kubectl")), False, "kind is not installed",
                 id="no-kind"),
])
def test_kind_usable(tools, usable, reason):
    ok, why = doctor.kind_usable(runner=tools)
    assert ok is usable and reason in why


def test_kind_usable_is_fast_one_docker_call():
    t = Tools(daemon=False)
    doctor.kind_usable(runner=t)
    assert t.calls == [("docker", "info", "--format", "{{.ServerVersion}}")]


def test_report_on_a_client_only_machine_explains_the_twin(monkeypatch):
    monkeypatch.setattr(doctor, "port_free", lambda port, host="127.0.0.1": True)
    out = io.StringIO()
    rc = doctor.run_doctor("hpa", runner=Tools(daemon=False), out=out)
    text = out.getvalue()
    assert rc == 1
    assert "its daemon is not running" in text
    assert 'backend="auto" will use the embedded twin (sim)' in text
    assert "Every notebook works on the twin" in text


def test_report_passes_when_everything_works(monkeypatch):
    monkeypatch.setattr(doctor, "host_resources", lambda: (8, 16.0))
    out = io.StringIO()
    rc = doctor.run_doctor("hpa", runner=Tools(), out=out)
    assert rc == 0 and "READY" in out.getvalue() and "kind cluster" in out.getvalue()


def test_workshop_preflight_prints_json_an_instructor_can_collect():
    out = io.StringIO()
    doctor.run_doctor("all", workshop=True, runner=Tools(daemon=False), out=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("labkit 0.1.0 pre-flight | Python ")
    record = json.loads(lines[-1].split("JSON for the instructor: ", 1)[1])
    assert record["backend"] == "sim" and record["real_cluster_ok"] is False
    for key in ("python", "labkit", "cpus", "memory_gib_free", "docker", "kind", "kubectl",
                "notebooks", "profile"):
        assert key in record
    assert len(lines) < 25


def test_json_output_is_one_document():
    out = io.StringIO()
    rc = doctor.run_doctor("hpa", as_json=True, runner=Tools(daemon=False), out=out)
    doc = json.loads(out.getvalue())
    assert rc == 1 and {c["name"] for c in doc["checks"]} >= {"docker", "kind", "kubectl"}


def test_this_machine_uses_the_twin_when_docker_is_not_running():
    """On the development machine: a Docker client without a daemon (skips elsewhere)."""
    import shutil
    import subprocess
    if shutil.which("docker") is None:
        pytest.skip("no docker client on this machine")
    if subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0:
        pytest.skip("Docker runs here")
    ok, why = doctor.kind_usable()
    assert not ok and "daemon is not running" in why


# -- two tracks: the lab on the twin first, the real cluster optional ---------------------------
TWIN_OK = [doctor.Check("python", True, "3.12.3 (>=3.11 needed)"),
           doctor.Check("packages", True, "jupyterlab 4.4.0 and 7 more"),
           doctor.Check("twin", True, "a 60 s hpa-v1 run took 0.3 s (61 samples)")]
TWIN_BROKEN = [doctor.Check("python", True, "3.12.3 (>=3.11 needed)"),
               doctor.Check("packages", False, "missing: plotly", doctor.INSTALL_LAB)]
TWIN_ONLY = dict(tools=())   # a laptop without Docker, kind or kubectl


def _report(monkeypatch, *args, twin=TWIN_OK, **kw):
    monkeypatch.setattr(doctor, "port_free", lambda port, host="127.0.0.1": True)
    out = io.StringIO()
    rc = doctor.run_doctor(*args, twin=lambda: twin, out=out, **kw)
    return rc, out.getvalue()


def test_a_twin_only_laptop_is_ready_for_the_lab(monkeypatch):
    monkeypatch.setattr(doctor, "host_resources", lambda: (8, 16.0))
    rc, text = _report(monkeypatch, runner=Tools(**TWIN_ONLY))
    assert rc == 0
    assert "[FAIL]" not in text and "NOT READY" not in text
    assert "optional: real-cluster track" in text
    assert "  [opt ] docker     not installed" in text and "  [opt ] kind" in text
    assert "  [ok  ] twin       a 60 s hpa-v1 run" in text
    assert ("READY for the lab on the twin; the real-cluster track (optional) needs docker, "
            "kind and kubectl first") in text
    assert "`labkit doctor --profile hpa` checks it" in text


def test_a_broken_twin_fails_the_twin_track(monkeypatch):
    rc, text = _report(monkeypatch, runner=Tools(), twin=TWIN_BROKEN)
    assert rc == 1 and "[FAIL] packages   missing: plotly -> `make lab`" in text
    assert "NOT READY for the lab: fix the FAIL lines of the twin track" in text


def test_the_cluster_track_keeps_failing_without_docker(monkeypatch):
    """--profile (or --cluster) asks for the real cluster: FAIL lines and exit 1, as before."""
    for args, kw in ((("all",), {}), ((), {"track": "cluster"})):
        rc, text = _report(monkeypatch, *args, runner=Tools(**TWIN_ONLY), **kw)
        assert rc == 1 and "[FAIL] docker     not installed" in text
        assert "NOT READY for the real cluster: fix the FAIL lines above; meanwhile the lab " \
               "runs on the twin" in text
        assert "optional:" not in text


def test_everything_ready_names_both_tracks(monkeypatch):
    monkeypatch.setattr(doctor, "host_resources", lambda: (8, 16.0))
    rc, text = _report(monkeypatch, runner=Tools())
    assert rc == 0 and "[opt ]" not in text
    assert "READY for the lab on the twin, and for the real-cluster track " \
           "(`labkit up --profile hpa`)" in text


def test_the_workshop_preflight_is_twin_first(monkeypatch):
    rc, text = _report(monkeypatch, workshop=True, runner=Tools(**TWIN_ONLY))
    assert rc == 0 and "NOT READY" not in text and "[FAIL]" not in text
    record = json.loads(text.splitlines()[-1].split("JSON for the instructor: ", 1)[1])
    assert record["track"] == "twin" and record["twin_ok"] is True
    assert record["real_cluster_ok"] is False and record["backend"] == "sim"


def test_the_cli_picks_the_track(monkeypatch):
    from labkit import commands
    from labkit.cli import build_parser
    seen = []
    monkeypatch.setattr(doctor, "run_doctor", lambda profile, **kw: seen.append(
        (profile, kw["track"])) or 0)
    for argv in (["doctor"], ["doctor", "--profile", "all"], ["doctor", "--cluster"]):
        commands.doctor(build_parser().parse_args(argv))
    assert seen == [(None, None), ("all", None), (None, "cluster")]


def test_the_twin_track_runs_here():
    """The real twin-track checks on this machine: Python, the lab's packages, a twin run."""
    c = {x.name: x for x in REAL_TWIN_CHECKS()}
    assert all(x.ok for x in c.values()), [x.line() for x in c.values()]
    assert list(c) == ["python", "packages", "twin"]
    assert "hpa-v1" in c["twin"].found and "(61 samples)" in c["twin"].found
    assert "jupyterlab" in c["packages"].found


def test_a_missing_lab_package_is_named(monkeypatch):
    monkeypatch.setitem(doctor.LAB_PACKAGES, "labkit_no_such_module", "no-such-dist")
    c = doctor.packages_check()
    assert not c.ok and c.found == "missing: no-such-dist" and "make lab" in c.fix
