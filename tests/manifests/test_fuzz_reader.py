"""Fuzzing the manifest reader and the validator (issue 15, item 5) for a bounded time.

Three generators feed ``labkit validate`` through a real file, as a learner's editor would:

- raw bytes (binary junk, broken encodings, NUL bytes);
- YAML-like text built from YAML's own punctuation (anchors, aliases, flow and block
  collections, tags, document markers), which reaches the parser's corners;
- well-formed manifests of the kinds labkit checks (HPA, ScaledObject, ScaledJob, Knative
  Service, Deployment, ...) whose fields hold random values (NaN, huge numbers, wrong types,
  nested junk), which reaches the schema checks, the lints and the twin's parsers.

Each input must give: no exception but the one a finding stands for, an exit status of 0 or 1,
one line per problem (no line breaks inside a finding, no huge lines), and bounded memory. The
run is derandomized (the same inputs every time, so CI is reproducible) and takes a few
seconds; ``LABKIT_FUZZ_SCALE`` multiplies the counts and ``LABKIT_FUZZ_RANDOM=1`` draws new
inputs, for a longer local session.
"""

from __future__ import annotations

import io
import math
import os
import resource
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from labkit.validate import run_validate  # noqa: E402

#: Inputs per generator in CI (a few seconds in all); LABKIT_FUZZ_SCALE=10 tries ten times more.
SCALE = float(os.environ.get("LABKIT_FUZZ_SCALE", "1"))
MAX_LINE = 2000          # characters in one printed line
MAX_GROWTH_MIB = 300     # resident memory the whole fuzz run may add


def fuzz(examples: int):
    """Hypothesis settings: derandomized unless LABKIT_FUZZ_RANDOM=1 (new inputs each run)."""
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, database=None,
                    derandomize=os.environ.get("LABKIT_FUZZ_RANDOM") != "1",
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])

#: Figures for the closing note: inputs tried, seconds, peak resident memory.
FIGURES: dict[str, dict[str, float]] = {}


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _check(path: Path, data: bytes, name: str) -> None:
    path.write_bytes(data)
    out = io.StringIO()
    with redirect_stdout(out):
        status = run_validate([str(path)])   # any exception fails the test: a traceback
    lines = out.getvalue().splitlines()
    assert status in (0, 1)
    assert lines and lines[-1].startswith(str(path)), "the summary line comes last"
    problems = lines[:-1]
    assert all(ln.startswith(("ERROR ", "WARNING ")) for ln in problems), problems[:3]
    assert all(len(ln) <= MAX_LINE for ln in lines), max(map(len, lines))
    assert (status == 1) == any(ln.startswith("ERROR ") for ln in problems)
    fig = FIGURES.setdefault(name, {"inputs": 0, "seconds": 0.0, "peak_rss_mib": 0.0})
    fig["inputs"] += 1
    fig["peak_rss_mib"] = max(fig["peak_rss_mib"], _rss_mib())


# -- generators ------------------------------------------------------------------------------------
YAML_BITS = ["- ", ": ", "? ", "&a ", "*a", "&b ", "*b", "[", "]", "{", "}", ", ", "!!str ",
             "!!python/object:os.system ", "---\n", "...\n", "|\n", ">-\n", "#", "'", '"',
             "\t", "\n", "\n  ", "\n    ", "apiVersion", "kind", "metadata", "name", "spec",
             "HorizontalPodAutoscaler", "autoscaling/v2", "v1", "1e309", ".nan", "-.inf",
             "0x1F", "2024-01-01", "~", "null", "\\u0000", "\ufeff", "é", "\x85"]

yaml_like = st.lists(st.one_of(st.sampled_from(YAML_BITS), st.text(max_size=6)), max_size=60) \
    .map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass"))

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12), st.sampled_from(["0", "-1", "10%", "100m", "1Gi", "5s"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)

KINDS = [("autoscaling/v2", "HorizontalPodAutoscaler"), ("autoscaling/v1", "HorizontalPodAutoscaler"),
         ("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "ScaledJob"),
         ("serving.knative.dev/v1", "Service"), ("serving.kserve.io/v1beta1", "InferenceService"),
         ("apps/v1", "Deployment"), ("v1", "ConfigMap"), ("v1", "Service")]
FIELDS = ["minReplicas", "maxReplicas", "metrics", "behavior", "scaleTargetRef", "triggers",
          "minReplicaCount", "maxReplicaCount", "idleReplicaCount", "cooldownPeriod",
          "pollingInterval", "jobTargetRef", "template", "predictor", "replicas", "selector",
          "advanced", "fallback", "scalingStrategy"]


@st.composite
def manifests(draw) -> bytes:
    """One to three objects of labkit's kinds with random spec fields, as YAML."""
    docs = []
    for _ in range(draw(st.integers(1, 3))):
        api_version, kind = draw(st.sampled_from(KINDS))
        spec = draw(st.dictionaries(st.sampled_from(FIELDS), values, max_size=5))
        if kind == "HorizontalPodAutoscaler" and draw(st.booleans()):
            spec.setdefault("scaleTargetRef", {"apiVersion": "apps/v1", "kind": "Deployment",
                                               "name": "app"})
            spec.setdefault("maxReplicas", draw(st.integers(-5, 50)))
            spec["behavior"] = {"scaleUp": {"policies": [{"type": draw(st.sampled_from(
                ["Pods", "Percent", "x"])), "value": draw(scalars), "periodSeconds": draw(scalars)}],
                "stabilizationWindowSeconds": draw(scalars)}}
        meta = {"name": draw(st.sampled_from(["app", "x", "a-b"])),
                "annotations": draw(st.dictionaries(st.sampled_from([
                    "autoscaling.knative.dev/target", "autoscaling.knative.dev/min-scale",
                    "autoscaling.knative.dev/max-scale", "autoscaling.knative.dev/window"]),
                    st.text(max_size=6), max_size=2))}
        docs.append({"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": spec})
    return yaml.safe_dump_all(docs, allow_unicode=True).encode("utf-8", "surrogatepass")


# -- the properties --------------------------------------------------------------------------------
def _timed(name: str, fn):
    def run(*args, **kwargs):
        start = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            FIGURES.setdefault(name, {"inputs": 0, "seconds": 0.0, "peak_rss_mib": 0.0})
            FIGURES[name]["seconds"] += time.monotonic() - start
    return run


@pytest.fixture(scope="module", autouse=True)
def _memory_bound():
    before = _rss_mib()
    yield
    grew = _rss_mib() - before
    total = {k: sum(f[k] for f in FIGURES.values()) for k in ("inputs", "seconds")}
    print(f"\nfuzz figures: {FIGURES}; total {total['inputs']:.0f} inputs in "
          f"{total['seconds']:.1f} s; peak RSS {_rss_mib():.0f} MiB (+{grew:.0f} MiB)")
    assert grew < MAX_GROWTH_MIB


@fuzz(300)
@given(data=st.binary(max_size=4096))
def test_fuzz_raw_bytes(tmp_path, data):
    _timed("raw bytes", _check)(tmp_path / "fuzz.yaml", data, "raw bytes")


@fuzz(300)
@given(data=yaml_like)
def test_fuzz_yaml_like_text(tmp_path, data):
    _timed("yaml-like text", _check)(tmp_path / "fuzz.yaml", data, "yaml-like text")


@fuzz(40)
@given(data=manifests())
def test_fuzz_manifests_with_random_values(tmp_path, data):
    _timed("manifests", _check)(tmp_path / "fuzz.yaml", data, "manifests")


def test_figures_are_finite():
    assert all(math.isfinite(v) for f in FIGURES.values() for v in f.values())
