"""Bodies too large, upstreams that drop or stall, a model that cannot load (review D18-D20)."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import httpx
import pytest
from fastapi.testclient import TestClient

from app.gateway import GatewaySettings, create_app as create_gateway
from app.main import create_app
from app.schemas import MAX_TEXT_CHARS
from app.settings import Settings

from test_gateway import free_port, serve


# -- D18: a body larger than any valid request is refused before it is parsed ----------------------
def _settings(max_texts: int) -> Settings:
    import os

    from labkit.appserver import ensure_model
    from labkit._procs import REPO_ROOT
    path = ensure_model().get("APP_MODEL_PATH") or os.environ.get("APP_MODEL_PATH") or \
        str(REPO_ROOT / "app" / "model" / "model.joblib")
    return Settings(max_texts=max_texts, model_path=path)


def test_app_refuses_an_oversized_body_by_its_length():
    client = TestClient(create_app(_settings(1)))
    big = b'{"text": ["' + b"a" * 2_000_000 + b'"]}'     # one text may hold 10,000 characters
    r = client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "APP_MAX_TEXTS" in r.json()["message"]


def test_app_refuses_an_oversized_body_sent_without_a_length():
    client = TestClient(create_app(_settings(1)))

    def chunks():
        for _ in range(100):
            yield b"a" * 10_000
    r = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_a_full_valid_request_is_under_the_limit():
    from app.bodylimit import body_limit
    texts = ["é" * MAX_TEXT_CHARS] * 3     # non-ASCII: two bytes each in UTF-8
    body = httpx.Request("POST", "http://x/", json={"text": texts}).content
    assert len(body) <= body_limit(3)
    client = TestClient(create_app(_settings(3)))
    r = client.post("/predict", json={"text": ["fine"]})
    assert r.status_code != 413


def test_gateway_refuses_an_oversized_body_without_buffering_it():
    gw = create_gateway(GatewaySettings(upstream="http://127.0.0.1:9", max_texts=1,
                                        hold_timeout_s=0.2, upstream_timeout_s=1))
    with serve(gw, free_port()) as url:
        r = httpx.post(f"{url}/predict", content=b"x" * 2_000_000, timeout=10)
    assert r.status_code == 413


# -- D20: an upstream that drops the connection or never answers -----------------------------------
@contextmanager
def bad_upstream(behaviour: str):
    """A TCP server on 127.0.0.1 that accepts, then closes / sends half an answer / stalls."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    stop = threading.Event()

    def run():
        srv.settimeout(0.1)
        conns = []
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.recv(65536)
            if behaviour == "close":
                conn.close()
            elif behaviour == "partial":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"probs\"")
                conn.close()
            else:
                conns.append(conn)   # stall: never answer
        for c in conns:
            c.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        t.join(5)
        srv.close()


@pytest.mark.parametrize("behaviour, status, words", [
    ("close", 502, "bad gateway"), ("partial", 502, "bad gateway"),
    ("stall", 504, "did not answer within 1 s")])
def test_gateway_answers_json_when_the_upstream_drops_or_stalls(behaviour, status, words):
    with bad_upstream(behaviour) as upstream:
        gw = create_gateway(GatewaySettings(upstream=upstream, hold_timeout_s=2,
                                            retry_interval_s=0.05, upstream_timeout_s=1))
        with serve(gw, free_port()) as url:
            start = time.monotonic()
            r = httpx.post(f"{url}/predict", json={"text": ["hi"]}, timeout=20)
            stats = httpx.get(f"{url}/stats").json()
    assert r.status_code == status and r.headers["content-type"] == "application/json"
    assert words in r.json()["detail"] and upstream in r.json()["detail"]
    assert time.monotonic() - start < 10
    assert stats["in_flight"] == 0 and stats["pending"] == 0


# -- D19: a model that fails to load is reported at once, not after 60 s --------------------------
def test_app_serve_with_a_broken_model_fails_fast(tmp_path):
    from labkit.appserver import AppServer
    from labkit.errors import LabkitError
    broken = tmp_path / "bad.joblib"
    broken.write_bytes(b"\x80\x04not a model" * 50)
    start = time.monotonic()
    with pytest.raises(LabkitError, match="model failed to load"):
        AppServer(env={"APP_MODEL_PATH": str(broken)}, startup_timeout=60).start()
    assert time.monotonic() - start < 30
