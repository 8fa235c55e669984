"""``labkit doctor``: what this machine can run, the twin and the real cluster, and what to do.

Two tracks. The twin track is the lab itself (every notebook on the embedded twin): Python,
the lab's packages, and a short twin run in a fresh interpreter. The real-cluster track is
optional. Each :class:`Check` is one line: what was checked, whether it passed, what was
found, and what to do. The cluster checks: the Docker daemon (``docker info``, not just the client), kind and kubectl
against the pinned minimums, CPUs and memory Docker can give the add-on profile, and the
127.0.0.1 ports the kind config maps. :func:`kind_usable` is the fast subset that
``backends.pick("auto")`` uses to choose between the kind cluster and the twin.

Tools run through :class:`labkit.backends.kind.runner.Runner`, so tests fake them.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from . import __version__, _procs
from .backends.kind import versions as v
from .backends.kind.runner import INSTALL_HINTS, Runner, SubprocessRunner

PORTS: dict[int, str] = {v.APP_NODE_PORT: "app NodePort (hpa-v1, hpa-v2)",
                         v.GATEWAY_NODE_PORT: "KEDA gateway NodePort",
                         v.KOURIER_NODE_PORT: "Kourier (knative, kserve)",
                         v.LAB_PORT: "JupyterLab"}
DOCKER_NOT_RUNNING = ("Docker is installed but its daemon is not running (start Docker Desktop "
                      "or `sudo systemctl start docker`)")


@dataclass(frozen=True)
class Check:
    """One line of the report. ``required=False`` checks warn but never fail the run."""

    name: str
    ok: bool
    found: str
    fix: str = ""
    required: bool = True

    def line(self, optional: bool = False) -> str:
        """``optional``: this check belongs to a track the learner did not choose."""
        mark = "ok  " if self.ok else ("opt " if optional and self.required else
                                       "FAIL" if self.required else "warn")
        tail = f" -> {self.fix}" if self.fix and not self.ok else ""
        return f"[{mark}] {self.name:<10} {self.found}{tail}"


# -- the twin track --------------------------------------------------------------------------------
#: What the notebooks import (pyproject.toml's "the lab" dependencies), by import name.
LAB_PACKAGES = {"jupyterlab": "jupyterlab", "ipykernel": "ipykernel", "ipywidgets": "ipywidgets",
                "plotly": "plotly", "anywidget": "anywidget", "pandas": "pandas",
                "numpy": "numpy", "yaml": "pyyaml"}
INSTALL_LAB = "`make lab` (or `pip install -e .` in the repository) installs them"


def python_check() -> Check:
    """This interpreter against labkit's Requires-Python (from the installed metadata)."""
    from importlib import metadata
    found = platform.python_version()
    try:
        spec = metadata.metadata("labkit").get("Requires-Python") or ""
    except metadata.PackageNotFoundError:
        return Check("python", False, f"{found}, but labkit is not installed in it",
                     INSTALL_LAB.replace("them", "it"))
    want = parse_version(spec)
    if want is None or sys.version_info[:len(want)] >= want:
        return Check("python", True, f"{found} ({spec or 'any'} needed)")
    return Check("python", False, f"{found} is older than {spec}",
                 "install a newer Python and run `make lab` again")


def packages_check() -> Check:
    """The lab's packages are importable here (what a kernel imports)."""
    import importlib.util
    from importlib import metadata
    missing, found = [], []
    for module, dist in LAB_PACKAGES.items():
        if importlib.util.find_spec(module) is None:
            missing.append(dist)
            continue
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(dist)
    if missing:
        return Check("packages", False, f"missing: {', '.join(missing)}", INSTALL_LAB)
    return Check("packages", True, ", ".join(found[:4]) + f" and {len(found) - 4} more")


def twin_run_check(timeout: float = 60.0) -> Check:
    """A short twin run in a fresh interpreter (``python -m labkit.twin_probe``)."""
    import subprocess
    cmd = [sys.executable, "-m", "labkit.twin_probe"]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             cwd=str(Path(__file__).resolve().parents[1]))
    except subprocess.TimeoutExpired:
        return Check("twin", False, f"a short twin run took longer than {timeout:g} s",
                     "the machine may be very busy; close other programs and retry")
    try:
        got = json.loads(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 else None
    except (ValueError, IndexError):
        got = None
    if not got:
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        return Check("twin", False, f"a short twin run failed: {last}",
                     f"run `{' '.join(cmd)}` to see the whole error; {INSTALL_LAB}")
    return Check("twin", True, f"a {got['duration']} s {got['variant']} run took "
                 f"{got['seconds']:g} s ({got['samples']} samples)")


def twin_checks() -> list[Check]:
    """The twin track: what every notebook needs on this machine."""
    checks = [python_check(), packages_check()]
    return checks + [twin_run_check()] if all(c.ok for c in checks) else checks


# -- versions --------------------------------------------------------------------------------------
def parse_version(text: str) -> tuple[int, ...] | None:
    """The first ``X.Y.Z`` in a version string (``kind v0.33.0 go1.24``, ``v1.36.4``)."""
    m = re.search(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return tuple(int(g or 0) for g in m.groups()) if m else None


def _at_least(found: tuple[int, ...] | None, minimum: str) -> bool:
    want = parse_version(minimum)
    return found is not None and want is not None and found >= want


def _fmt(ver: tuple[int, ...] | None) -> str:
    return "v" + ".".join(map(str, ver)) if ver else "unknown version"


# -- the checks ------------------------------------------------------------------------------------
def docker_info(runner: Runner, timeout: float = 10.0) -> tuple[Check, dict[str, Any]]:
    """Docker: the client on PATH and the daemon answering ``docker info``."""
    if runner.which("docker") is None:
        return Check("docker", False, "not installed", INSTALL_HINTS["docker"]), {}
    client = runner.run(["docker", "version", "--format", "{{.Client.Version}}"], check=False,
                        timeout=timeout)
    cver = client.stdout.strip().splitlines()[0] if client.stdout.strip() else "?"
    info = runner.run(["docker", "info", "--format", "{{json .}}"], check=False, timeout=timeout)
    data: dict[str, Any] = {}
    if info.ok:
        try:
            data = json.loads(info.stdout or "{}")
        except ValueError:
            data = {}
    errors = " ".join([info.stderr, str(data.get("ServerErrors") or "")])
    if info.ok and data.get("ServerVersion"):
        return Check("docker", True, f"client {cver}, daemon {data['ServerVersion']} "
                     f"({data.get('OperatingSystem', '?')})"), data
    if "permission denied" in errors.lower():
        return Check("docker", False, f"client {cver}, daemon refuses this user",
                     "add yourself to the docker group (`sudo usermod -aG docker $USER`, then "
                     "log out and in) or use Docker Desktop"), {}
    if info.returncode == 124:
        return Check("docker", False, f"client {cver}, daemon did not answer in {timeout:g} s",
                     "Docker may still be starting; wait and run `labkit doctor` again"), {}
    return Check("docker", False, f"client {cver} is installed, but its daemon is not running "
                 "(`docker info` gets no answer)",
                 "start Docker Desktop, or `sudo systemctl start docker` on Linux"), {}


def tool_check(runner: Runner, tool: str) -> Check:
    """kind or kubectl: present and at least the pinned minimum."""
    if runner.which(tool) is None:
        return Check(tool, False, "not installed", INSTALL_HINTS[tool])
    if tool == "kind":
        res = runner.run(["kind", "version"], check=False, timeout=15)
        minimum, pinned = v.MIN_KIND_VERSION, v.KIND_VERSION
        why = "the pinned node image is built for it"
    else:
        res = runner.run(["kubectl", "version", "--client", "-o", "json"], check=False,
                         timeout=15)
        minimum, pinned = v.MIN_KUBECTL_VERSION, v.KUBECTL_VERSION
        why = f"kubectl may be one minor version from the {v.KUBERNETES_VERSION} API server"
        try:
            res_text = json.loads(res.stdout)["clientVersion"]["gitVersion"]
        except (ValueError, KeyError, TypeError):
            res_text = res.stdout
        res = type(res)(res.args, res.returncode, res_text, res.stderr)
    found = parse_version(res.stdout)
    if _at_least(found, minimum):
        return Check(tool, True, _fmt(found))
    return Check(tool, False, f"{_fmt(found)} is older than v{minimum} ({why})",
                 f"install {tool} {pinned}: {INSTALL_HINTS[tool].split(': ', 1)[-1]}")


def host_resources() -> tuple[int, float]:
    """CPUs and available memory (GiB) of this machine."""
    cpus = os.cpu_count() or 1
    mem = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                mem = int(line.split()[1]) / 2 ** 20
    except OSError:
        try:
            import subprocess
            mem = int(subprocess.run(["sysctl", "-n", "hw.memsize"], capture_output=True,
                                     text=True, timeout=5).stdout) / 2 ** 30
        except Exception:
            mem = 0.0
    return cpus, mem


def resources_check(profile: str, docker: dict[str, Any],
                    host: tuple[int, float] | None = None) -> Check:
    """Enough CPUs and memory for the profile (Docker Desktop's VM limits count, if known)."""
    need = v.REQUIREMENTS[profile]
    cpus, mem = host or host_resources()
    if docker.get("NCPU"):
        cpus = min(cpus, int(docker["NCPU"])) if "Docker Desktop" not in \
            str(docker.get("OperatingSystem")) else int(docker["NCPU"])
    if docker.get("MemTotal"):
        dmem = int(docker["MemTotal"]) / 2 ** 30
        mem = dmem if "Docker Desktop" in str(docker.get("OperatingSystem")) else min(mem, dmem)
    found = f"{cpus} CPUs, {mem:.1f} GiB free; profile {profile} needs {need.cpus} CPUs, " \
            f"{need.memory_gib:g} GiB ({need.note})"
    ok = cpus >= need.cpus and mem >= need.memory_gib
    fix = ("give Docker more CPUs/memory (Docker Desktop: Settings > Resources), close other "
           "programs, or choose a lighter profile (hpa)")
    return Check("resources", ok, found, fix)


port_free = _procs.port_free   # doctor's checks and the servers share one probe


def ports_check(cluster_up: bool, is_free: Callable[[int], bool] = port_free) -> list[Check]:
    """Each mapped port free on 127.0.0.1 (or held by the labkit cluster itself)."""
    out = []
    for port, what in PORTS.items():
        free = is_free(port)
        if port == v.LAB_PORT:
            out.append(Check(f"port {port}", free, "free" if free else
                             f"in use ({what} may already be running)",
                             "fine if it is your JupyterLab; else `labkit lab --port 8889`",
                             required=False))
        elif free or cluster_up:
            out.append(Check(f"port {port}", True, "free" if free else
                             f"used by the labkit cluster ({what})"))
        else:
            out.append(Check(f"port {port}", False, f"in use by another program ({what})",
                             f"free 127.0.0.1:{port} (`lsof -i :{port}` shows who holds it), "
                             "then `labkit up`"))
    return out


def check(profile: str = "hpa", *, runner: Runner | None = None,
          host: tuple[int, float] | None = None,
          is_free: Callable[[int], bool] = port_free) -> list[Check]:
    """Every check for the add-on ``profile`` (hpa | knative | kserve | keda | all)."""
    if profile not in v.REQUIREMENTS:
        from .errors import LabkitError
        raise LabkitError(f"unknown profile {profile!r}; choose one of "
                          f"{', '.join(v.REQUIREMENTS)}")
    runner = runner or SubprocessRunner()
    docker, info = docker_info(runner)
    kind = tool_check(runner, "kind")
    checks = [docker, kind, tool_check(runner, "kubectl"), resources_check(profile, info, host)]
    cluster_up = False
    if docker.ok and kind.ok:
        res = runner.run(["kind", "get", "clusters"], check=False, timeout=15)
        cluster_up = v.CLUSTER_NAME in res.stdout.split()
        checks.append(Check("cluster", True, f"kind cluster {v.CLUSTER_NAME} "
                            + ("exists" if cluster_up else "not created yet (`labkit up`)"),
                            required=False))
    return checks + ports_check(cluster_up, is_free)


def kind_usable(*, runner: Runner | None = None, timeout: float = 4.0) -> tuple[bool, str]:
    """Fast: can the kind backend work here? (True/False, and a plain-words reason)."""
    runner = runner or SubprocessRunner()
    if runner.which("docker") is None:
        return False, "Docker is not installed, so no kind cluster can run here"
    res = runner.run(["docker", "info", "--format", "{{.ServerVersion}}"], check=False,
                     timeout=timeout)
    if not res.ok or not res.stdout.strip():
        if "permission denied" in res.stderr.lower():
            return False, ("Docker is installed but this user may not use its daemon (add "
                           "yourself to the docker group)")
        return False, DOCKER_NOT_RUNNING
    for tool in ("kind", "kubectl"):
        if runner.which(tool) is None:
            return False, f"Docker runs but {tool} is not installed ({INSTALL_HINTS[tool]})"
    return True, f"Docker {res.stdout.strip()} and kind are available"


def labkit_cluster_running(*, runner: Runner | None = None,
                           timeout: float = 4.0) -> tuple[bool, str]:
    """Fast: is a labkit cluster (made by ``labkit up``) running right now?

    What ``backend="auto"`` asks: it uses kind only then, and never makes a cluster itself
    (the checks are ``docker info``, ``kind get clusters`` and ``kubectl config
    get-contexts``; nothing here creates anything).
    """
    runner = runner or SubprocessRunner()
    ok, why = kind_usable(runner=runner, timeout=timeout)
    if not ok:
        return False, why
    res = runner.run(["kind", "get", "clusters"], check=False, timeout=timeout)
    if v.CLUSTER_NAME not in res.stdout.split():
        return False, f"no kind cluster named {v.CLUSTER_NAME} is running"
    ctx = runner.run(["kubectl", "config", "get-contexts", "-o", "name"], check=False,
                     timeout=timeout)
    if v.CONTEXT not in ctx.stdout.split():
        return False, (f"the kind cluster {v.CLUSTER_NAME} runs but kubectl has no context "
                       f"{v.CONTEXT} (`kind export kubeconfig --name {v.CLUSTER_NAME}`)")
    return True, f"the labkit cluster is running (context {v.CONTEXT})"


#: The one line ``auto`` adds when it falls back to the twin.
HOW_TO_GET_THE_REAL_CLUSTER = ("for the real cluster, run `labkit up --profile all` (needs "
                               "Docker, kind, kubectl; `labkit doctor` checks), then use "
                               "backend=\"auto\" or \"kind\"")


# -- the report ------------------------------------------------------------------------------------
def _notebook_count() -> int:
    nb = Path(__file__).resolve().parents[1] / "notebooks"
    return len([p for p in nb.glob("*.ipynb")]) if nb.is_dir() else 0


def workshop_record(profile: str, checks: list[Check], usable: tuple[bool, str],
                    twin: list[Check] | None = None, track: str = "cluster") -> dict:
    """What an instructor collects from each laptop (one JSON object)."""
    cpus, mem = host_resources()
    by = {c.name: c for c in checks}
    twin = twin or []
    return {
        "python": platform.python_version(), "labkit": __version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "cpus": cpus, "memory_gib_free": round(mem, 1), "profile": profile, "track": track,
        "docker": by["docker"].found, "kind": by["kind"].found, "kubectl": by["kubectl"].found,
        "backend": "kind" if usable[0] else "sim", "backend_reason": usable[1],
        "notebooks": _notebook_count(),
        "twin_ok": all(c.ok for c in twin if c.required),
        "real_cluster_ok": all(c.ok for c in checks if c.required),
        "twin_checks": [asdict(c) for c in twin],
        "checks": [asdict(c) for c in checks],
    }


TRACKS = ("twin", "cluster")


def verdict(track: str, profile: str, twin: list[Check], cluster: list[Check]) -> str:
    """The last word: what the learner can do here, for the chosen track first."""
    twin_ok = all(c.ok for c in twin if c.required)
    missing = [c for c in cluster if c.required and not c.ok]
    up = f"`labkit up --profile {profile}`"
    if track == "cluster":
        if not missing and twin_ok:
            return f"READY: the real kind cluster can run here ({up})"
        return ("NOT READY for the real cluster: fix the FAIL lines above"
                + ("; meanwhile the lab runs on the twin" if twin_ok else ""))
    if not twin_ok:
        return "NOT READY for the lab: fix the FAIL lines of the twin track above"
    if not missing:
        return f"READY for the lab on the twin, and for the real-cluster track ({up})"
    names = [c.name for c in missing]
    needs = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    return (f"READY for the lab on the twin; the real-cluster track (optional) needs {needs} "
            f"first: the [opt ] lines say how, `labkit doctor --profile {profile}` checks it")


def run_doctor(profile: str | None = None, *, track: str | None = None,
               workshop: bool = False, as_json: bool = False, runner: Runner | None = None,
               out=None, twin: Callable[[], list[Check]] | None = None) -> int:
    """Print the report; exit status 0 when the chosen ``track`` can run here, else 1.

    ``track`` "twin" is the lab on the embedded twin (the course and the workshop are
    twin-first): missing Docker, kind or kubectl are then shown as optional, not as failures.
    "cluster" asks whether the real kind cluster for ``profile`` can run here. A ``profile``
    given without a track means "cluster" (what ``labkit doctor --profile all`` always
    checked); neither means "twin". Both tracks are always shown, and the report ends by
    saying which backend ``auto`` picks. ``twin`` replaces the twin-track checks (tests).
    """
    track = track or ("cluster" if profile else "twin")
    if track not in TRACKS:
        from .errors import LabkitError
        raise LabkitError(f"unknown track {track!r}; choose one of {', '.join(TRACKS)}")
    profile = profile or "hpa"
    out = out or sys.stdout
    runner = runner or SubprocessRunner()
    twin_list = (twin or twin_checks)()
    checks = check(profile, runner=runner)
    usable = labkit_cluster_running(runner=runner)
    twin_ok = all(c.ok for c in twin_list if c.required)
    cluster_ok = all(c.ok for c in checks if c.required)
    ok = twin_ok and (cluster_ok or track == "twin")
    record = workshop_record(profile, checks, usable, twin_list, track)
    if as_json and not workshop:
        print(json.dumps(record, indent=2), file=out)
        return 0 if ok else 1
    if workshop:
        print(f"labkit {__version__} pre-flight | Python {record['python']} | "
              f"{record['platform']} | {record['cpus']} CPUs, {record['memory_gib_free']} GiB "
              f"free | {record['notebooks']} notebooks", file=out)
    elif track == "cluster":
        print(f"labkit doctor (profile {profile}): can this machine run the real kind cluster?",
              file=out)
    else:
        print("labkit doctor: can this machine run the lab (on the twin), and the real "
              "cluster?", file=out)
    print("twin track (every notebook, on the embedded twin):", file=out)
    for c in twin_list:
        print("  " + c.line(), file=out)
    optional = track == "twin"
    print(("optional: real-cluster track" if optional else "real-cluster track")
          + f" (profile {profile}; Docker, kind, kubectl)"
          + (", not needed for the twin:" if optional else ":"), file=out)
    for c in checks:
        print("  " + c.line(optional=optional), file=out)
    print(verdict(track, profile, twin_list, checks), file=out)
    print(f"backend=\"auto\" will use the {'kind cluster' if usable[0] else 'embedded twin (sim)'}"
          f": {usable[1]}." + ("" if usable[0] else " Every notebook works on the twin; "
                               + HOW_TO_GET_THE_REAL_CLUSTER + "."), file=out)
    if workshop:
        print("JSON for the instructor: " + json.dumps(
            {k: v_ for k, v_ in record.items() if k not in ("checks", "twin_checks")},
            separators=(",", ":")), file=out)
        if as_json:
            print(json.dumps(record, indent=2), file=out)
    return 0 if ok else 1
