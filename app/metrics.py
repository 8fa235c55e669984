"""Prometheus metrics of one app instance, and the ASGI middleware that records them.

Each app gets its own ``CollectorRegistry`` (no global state), so tests can run several apps
in one process. The in-flight gauge is what KEDA and the Knative/KServe lessons scale on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets (s): a prediction costs ~20 ms of CPU by default; queueing stretches it.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
#: Paths the in-flight gauge does not count: a scrape would otherwise always see itself.
NOT_IN_FLIGHT = frozenset({"/metrics"})


@dataclass(frozen=True)
class Metrics:
    """The app's metrics, all in ``registry``."""

    registry: CollectorRegistry
    requests_total: Counter
    requests_in_flight: Gauge
    request_duration_seconds: Histogram
    model_loaded: Gauge
    ready: Gauge


def new_metrics() -> Metrics:
    """A fresh registry holding the app's metrics, all at zero."""
    registry = CollectorRegistry(auto_describe=True)
    return Metrics(
        registry=registry,
        requests_total=Counter(
            "app_requests", "HTTP requests served, by route template, method and status code.",
            ["endpoint", "method", "status"], registry=registry),
        requests_in_flight=Gauge(
            "app_requests_in_flight", "HTTP requests being served right now (not /metrics).",
            registry=registry),
        request_duration_seconds=Histogram(
            "app_request_duration_seconds", "Time from request to last response byte.",
            ["endpoint", "method"], buckets=BUCKETS, registry=registry),
        model_loaded=Gauge("app_model_loaded", "1 once the model is loaded, else 0.",
                           registry=registry),
        ready=Gauge("app_ready", "1 once /readyz answers 200 (model loaded, start-up delay over).",
                    registry=registry),
    )


class MetricsMiddleware:
    """Pure ASGI middleware: count, time and track in-flight HTTP requests.

    The endpoint label is the route template (``/v1/models/{name}:predict``), never the raw
    path, so label values stay few; a path no route matches is labelled ``other``.
    """

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counted = scope["path"] not in NOT_IN_FLIGHT
        status = 500  # if the app raises before it starts a response
        started = time.perf_counter()

        async def send_and_watch(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        if counted:
            self.metrics.requests_in_flight.inc()
        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            if counted:
                self.metrics.requests_in_flight.dec()
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "other"
            method = scope["method"]
            self.metrics.requests_total.labels(endpoint, method, str(status)).inc()
            self.metrics.request_duration_seconds.labels(endpoint, method).observe(
                time.perf_counter() - started)
