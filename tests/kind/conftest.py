"""Fixtures for the kind backend's edge tests, and the e2e switch.

Real-cluster tests are marked ``@pytest.mark.e2e`` and skipped unless ``--run-e2e`` is given
(``pytest tests/kind --run-e2e``) or ``LABKIT_E2E=1`` is set (the kind GitHub workflow does).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest

from labkit.backends.kind.runner import Completed

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-e2e", action="store_true", default=False,
                     help="run tests that need a real kind cluster (labkit up first)")


def e2e_enabled(config: pytest.Config) -> bool:
    try:
        flag = bool(config.getoption("--run-e2e"))
    except ValueError:  # option not registered (this conftest was not an initial one)
        flag = False
    return flag or os.environ.get("LABKIT_E2E") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if e2e_enabled(config):
        return
    skip = pytest.mark.skip(reason="E2E tests need a real kind cluster; they are not enabled. "
                                   "Use --run-e2e or LABKIT_E2E=1 (after `labkit up`).")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


def load_fixture(name: str) -> Any:
    path = FIXTURES / name
    return json.loads(path.read_text()) if path.suffix == ".json" else path.read_text()


@pytest.fixture
def fixture() -> Callable[[str], Any]:
    return load_fixture


from fakerunner import FakeRunner  # noqa: E402  (a module, so tests can import it by name)


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner()


class FakeApi:
    """An in-memory :class:`ClusterApi`: apply stores, delete removes, get/list read."""

    def __init__(self):
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.applied: list[str] = []
        self.deleted: list[str] = []
        self.missing_kinds: set[str] = set()
        self.ready_on_apply = False   # Deployments report all replicas ready once applied

    def _check(self, kind: str) -> None:
        from labkit.errors import BackendError
        if kind in self.missing_kinds:
            raise BackendError(f"the cluster has no {kind}")

    def put(self, doc: dict, namespace: str = "default") -> None:
        self.objects[(doc["kind"], namespace, doc["metadata"]["name"])] = copy.deepcopy(doc)

    def get(self, api_version, kind, name, namespace):
        self._check(kind)
        return copy.deepcopy(self.objects.get((kind, namespace or "default", name)))

    def list(self, api_version, kind, namespace, *, label_selector=None):
        self._check(kind)
        out = []
        for (k, ns, _), doc in self.objects.items():
            if k != kind or ns != (namespace or "default"):
                continue
            labels = (doc.get("metadata") or {}).get("labels") or {}
            if label_selector and not all(labels.get(s.split("=")[0]) == s.split("=")[1]
                                          for s in label_selector.split(",")):
                continue
            out.append(copy.deepcopy(doc))
        return out

    def apply(self, doc, namespace):
        self._check(doc["kind"])
        self.applied.append(f"{doc['kind']}/{doc['metadata']['name']}")
        doc = copy.deepcopy(dict(doc))
        if self.ready_on_apply and doc["kind"] == "Deployment":
            doc["status"] = {"readyReplicas": doc.get("spec", {}).get("replicas", 1)}
        self.put(doc, namespace)
        return doc

    def delete(self, api_version, kind, name, namespace):
        self._check(kind)
        self.deleted.append(f"{kind}/{name}")
        return self.objects.pop((kind, namespace or "default", name), None) is not None

    def pod_proxy(self, namespace, pod, port, path):
        from labkit.errors import BackendError
        raise BackendError("the API server answered 503 Service Unavailable: no endpoint")


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def make_runner() -> Callable[..., FakeRunner]:
    """``make_runner(tools=[...])``: a FakeRunner with only some tools on PATH."""
    return FakeRunner
