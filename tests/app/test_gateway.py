"""The KEDA gateway for real on 127.0.0.1: proxying, holding while the app is down, 504, /stats."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.gateway import GatewaySettings, create_app

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(app, port: int) -> Iterator[str]:
    """Run an ASGI app with uvicorn on 127.0.0.1:port in a thread; stop it on exit."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


def upstream_app(state: dict) -> Starlette:
    """A stand-in for the inference app: /predict echoes; 503 while state['ready'] is False."""
    async def predict(request: Request) -> JSONResponse:
        if not state.get("ready", True):
            return JSONResponse({"detail": "not ready"}, status_code=503)
        body = await request.json()
        state.setdefault("seen", []).append((request.url.path, request.url.query,
                                             request.headers.get("x-trace")))
        return JSONResponse({"probs": [[0.1, 0.9] for _ in body["text"]]},
                            headers={"x-upstream": "yes"})

    async def missing(_: Request) -> JSONResponse:
        return JSONResponse({"detail": "no such model"}, status_code=404)

    return Starlette(routes=[Route("/predict", predict, methods=["POST"]),
                             Route("/v1/models/other:predict", missing, methods=["POST"])])


def gateway(upstream: str, hold: float = 5.0) -> Starlette:
    return create_app(GatewaySettings(upstream=upstream, hold_timeout_s=hold, retry_interval_s=0.05,
                                      upstream_timeout_s=5))


@pytest.fixture
def up() -> Iterator[tuple[str, dict]]:
    state: dict = {"ready": True}
    with serve(upstream_app(state), free_port()) as url:
        yield url, state


def test_proxies_predictions_with_body_query_and_headers(up):
    upstream, state = up
    with serve(gateway(upstream), free_port()) as gw:
        r = httpx.post(f"{gw}/predict?explain=1", json={"text": ["good", "bad"]},
                       headers={"x-trace": "t1"})
        missing = httpx.post(f"{gw}/v1/models/other:predict", json={"instances": []})
        stats = httpx.get(f"{gw}/stats").json()
    assert r.status_code == 200 and r.json() == {"probs": [[0.1, 0.9], [0.1, 0.9]]}
    assert r.headers["x-upstream"] == "yes" and "x-gateway-held-seconds" not in r.headers
    assert state["seen"] == [("/predict", "explain=1", "t1")]
    assert missing.status_code == 404  # errors other than 503 pass straight through
    assert stats == {"in_flight": 0, "pending": 0, "requests_total": 2, "rps_1m": round(2 / 60, 3)}


def test_holds_while_upstream_is_down_then_succeeds_when_it_comes_up():
    app_port = free_port()  # nothing listens here yet: connections are refused
    with serve(gateway(f"http://127.0.0.1:{app_port}", hold=10), free_port()) as gw, \
            ThreadPoolExecutor(1) as pool:
        future = pool.submit(httpx.post, f"{gw}/predict", json={"text": ["hi"]}, timeout=15)
        deadline = time.monotonic() + 5
        while (stats := httpx.get(f"{gw}/stats").json())["pending"] < 1:
            assert time.monotonic() < deadline, stats
            time.sleep(0.02)
        assert stats["in_flight"] == 1 and stats["pending"] == 1  # held, counted for KEDA
        with serve(upstream_app({"ready": True}), app_port):
            r = future.result(timeout=10)
        after = httpx.get(f"{gw}/stats").json()
    assert r.status_code == 200 and r.json() == {"probs": [[0.1, 0.9]]}
    assert float(r.headers["x-gateway-held-seconds"]) > 0
    assert (after["in_flight"], after["pending"], after["requests_total"]) == (0, 0, 1)


def test_holds_while_upstream_answers_503_until_ready(up):
    upstream, state = up
    state["ready"] = False
    with serve(gateway(upstream, hold=10), free_port()) as gw, ThreadPoolExecutor(1) as pool:
        future = pool.submit(httpx.post, f"{gw}/predict", json={"text": ["hi"]}, timeout=15)
        deadline = time.monotonic() + 5
        while httpx.get(f"{gw}/stats").json()["pending"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        state["ready"] = True
        r = future.result(timeout=10)
    assert r.status_code == 200 and "x-gateway-held-seconds" in r.headers


def test_answers_504_with_a_clear_message_after_the_hold_timeout():
    dead = f"http://127.0.0.1:{free_port()}"
    with serve(gateway(dead, hold=0.5), free_port()) as gw:
        t0 = time.monotonic()
        r = httpx.post(f"{gw}/predict", json={"text": ["hi"]}, timeout=10)
        waited = time.monotonic() - t0
        stats = httpx.get(f"{gw}/stats").json()
    assert r.status_code == 504
    detail = r.json()["detail"]
    assert "held the request 0.5 s" in detail and "refused the connection" in detail
    assert "GATEWAY_HOLD_TIMEOUT_S" in detail
    assert 0.5 <= waited < 5
    assert (stats["in_flight"], stats["pending"], stats["requests_total"]) == (0, 0, 1)


def test_own_endpoints_are_not_proxied_or_counted():
    dead = f"http://127.0.0.1:{free_port()}"
    with serve(gateway(dead), free_port()) as gw:
        health = httpx.get(f"{gw}/healthz")
        stats = httpx.get(f"{gw}/stats").json()
    assert health.status_code == 200 and health.json()["upstream"] == dead
    assert stats == {"in_flight": 0, "pending": 0, "requests_total": 0, "rps_1m": 0.0}


@pytest.mark.parametrize("env, message", [
    pytest.param({"GATEWAY_HOLD_TIMEOUT_S": "soon"}, "GATEWAY_HOLD_TIMEOUT_S='soon' is not a number",
                 id="not-a-number"),
    pytest.param({"GATEWAY_HOLD_TIMEOUT_S": "0"}, "must be above 0", id="zero-timeout"),
    pytest.param({"APP_UPSTREAM": "app-fastapi:8080"}, "must be a URL", id="upstream-not-url"),
])
def test_bad_settings_fail_clearly(env, message):
    with pytest.raises(ValueError, match=message):
        GatewaySettings.from_env(env)


def test_settings_from_env_match_the_manifest():
    from labkit.manifests import load_variant

    c = load_variant("keda").get("Deployment", "app-gateway").doc["spec"]["template"]["spec"]["containers"][0]
    s = GatewaySettings.from_env({e["name"]: e["value"] for e in c["env"]})
    assert (s.upstream, s.hold_timeout_s, s.host, s.port) == ("http://app-fastapi:8080", 60.0, "0.0.0.0", 8080)
    assert GatewaySettings.from_env({}) == GatewaySettings()


def test_python_dash_m_app_gateway_serves():
    import os
    import subprocess
    import sys

    port = free_port()
    env = {**os.environ, "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port),
           "APP_UPSTREAM": f"http://127.0.0.1:{free_port()}"}
    proc = subprocess.Popen([sys.executable, "-m", "app.gateway"], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "python -m app.gateway did not start"
                time.sleep(0.1)
        assert r.json()["status"] == "alive"
    finally:
        proc.terminate()
        proc.wait(10)


def test_python_dash_m_app_gateway_rejects_bad_env():
    import os
    import subprocess
    import sys

    env = {**os.environ, "GATEWAY_PORT": "eighty"}
    out = subprocess.run([sys.executable, "-m", "app.gateway"], env=env, capture_output=True, cwd=REPO,
                         text=True, timeout=30)
    assert out.returncode != 0 and "GATEWAY_PORT='eighty' is not a number" in out.stderr
