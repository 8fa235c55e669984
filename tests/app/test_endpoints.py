"""Every endpoint of the real app, served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

REVIEWS = ["A triumph: warm, witty and wonderfully acted.", "A dull, joyless slog."]


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from Prometheus text."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def requests_total(app, endpoint: str, method: str, status: int) -> float:
    key = ("app_requests_total", (("endpoint", endpoint), ("method", method),
                                  ("status", str(status))))
    return samples(app.metrics_text()).get(key, 0.0)


def test_probes_when_ready(app_default):
    assert app_default.get("/healthz").json() == {"status": "alive"}
    r = app_default.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"status": "ready"})


def test_predict_returns_one_probability_pair_per_text(app_default):
    r = app_default.post("/predict", json={"text": REVIEWS})
    assert r.status_code == 200
    probs = r.json()["probs"]
    assert len(probs) == 2 and all(len(p) == 2 and abs(sum(p) - 1) < 1e-5 for p in probs)
    assert probs[0][1] > 0.5 > probs[1][1]  # [P(negative), P(positive)]


def test_kserve_v1_protocol(app_default):
    assert app_default.get("/v1/models").json() == {"models": ["custom-model"]}
    r = app_default.get("/v1/models/custom-model")
    assert (r.status_code, r.json()) == (200, {"name": "custom-model", "ready": True})
    r = app_default.post("/v1/models/custom-model:predict", json={"instances": REVIEWS})
    assert r.status_code == 200
    plain = app_default.post("/predict", json={"text": REVIEWS}).json()["probs"]
    assert r.json() == {"predictions": plain}


@pytest.mark.parametrize("method, path, body", [
    pytest.param("GET", "/v1/models/other-model", None, id="ready"),
    pytest.param("POST", "/v1/models/other-model:predict", {"instances": ["good"]}, id="predict"),
])
def test_kserve_unknown_model_is_404(app_default, method, path, body):
    r = app_default.get(path) if method == "GET" else app_default.post(path, json=body)
    assert r.status_code == 404
    assert "'other-model' not found; this server serves 'custom-model'" in r.json()["error"]


@pytest.mark.parametrize("path, body, says", [
    pytest.param("/predict", {"text": []}, "body.text: List should have at least 1 item",
                 id="empty-list"),
    pytest.param("/predict", {"text": [1, 2]}, "body.text.0: Input should be a valid string",
                 id="not-strings"),
    pytest.param("/predict", {"text": "one review"}, "body.text: Input should be a valid list",
                 id="not-a-list"),
    pytest.param("/predict", {"texts": ["typo"]}, "body.text: Field required", id="wrong-key"),
    pytest.param("/predict", {"text": ["x"] * 1001},
                 "List should have at most 1000 items, not 1001 (the limit is APP_MAX_TEXTS=1000)",
                 id="too-many"),
    pytest.param("/predict", {"text": ["x" * 10_001]}, "at most 10000 characters",
                 id="text-too-long"),
    pytest.param("/v1/models/custom-model:predict", {"instances": []},
                 "body.instances: List should have at least 1 item", id="kserve-empty"),
    pytest.param("/v1/models/custom-model:predict", {"instances": ["x"] * 1001},
                 "at most 1000 items", id="kserve-too-many"),
])
def test_bad_bodies_get_422_with_a_clear_message(app_default, path, body, says):
    r = app_default.post(path, json=body)
    assert r.status_code == 422
    assert r.json()["message"].startswith("invalid request body: ")
    assert says in r.json()["message"]
    assert r.json()["detail"][0]["loc"][0] == "body"


def test_body_that_is_not_json_says_how_to_send_it(app_default):
    r = app_default.post("/predict", content=b'text=hello',
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 422
    assert "Content-Type: application/json" in r.json()["message"]


def test_metrics_count_time_and_report_the_model(app_default):
    before = requests_total(app_default, "/predict", "POST", 200)
    for _ in range(3):
        assert app_default.post("/predict", json={"text": REVIEWS}).status_code == 200
    app_default.post("/predict", json={"text": []})
    text = app_default.metrics_text()
    got = samples(text)
    assert requests_total(app_default, "/predict", "POST", 200) == before + 3
    assert got[("app_requests_total", (("endpoint", "/predict"), ("method", "POST"),
                                       ("status", "422")))] >= 1
    count = got[("app_request_duration_seconds_count", (("endpoint", "/predict"),
                                                        ("method", "POST")))]
    assert count >= before + 4
    assert "app_request_duration_seconds_bucket{" in text and 'le="0.025"' in text
    assert got[("app_model_loaded", ())] == 1.0
    assert got[("app_ready", ())] == 1.0
    assert got[("app_requests_in_flight", ())] == 0.0  # /metrics does not count itself
    app_default.get("/nowhere")
    assert requests_total(app_default, "other", "GET", 404) >= 1  # raw paths never become labels


def test_in_flight_gauge_counts_a_request_being_served(start_app):
    app = start_app(APP_CPU_WORK_MS="1000")
    slow = threading.Thread(target=app.post, args=("/predict",), kwargs={"json": {"text": ["ok"]}})
    slow.start()
    try:
        deadline, seen = time.monotonic() + 5, 0.0
        while seen < 1 and time.monotonic() < deadline:
            seen = samples(app.metrics_text())[("app_requests_in_flight", ())]
            time.sleep(0.02)
        assert seen == 1.0
    finally:
        slow.join(10)
    assert samples(app.metrics_text())[("app_requests_in_flight", ())] == 0.0


def test_readiness_flips_after_the_startup_delay(start_app):
    started = time.monotonic()
    app = start_app(wait_ready=False, APP_STARTUP_DELAY_S="1", MODEL_NAME="slow-model")
    # Alive at once, not ready: the probes, KServe and /predict all say so.
    assert app.get("/healthz").status_code == 200
    r = app.get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "loading model" or r.json()["status"].startswith("starting: ")
    assert app.get("/v1/models/slow-model").json() == {"name": "slow-model", "ready": False}
    r = app.post("/predict", json={"text": REVIEWS})
    assert r.status_code == 503 and r.json()["detail"].startswith("not ready: ")
    while app.get("/readyz").status_code != 200:
        assert time.monotonic() - started < 15, "never became ready"
        time.sleep(0.05)
    assert time.monotonic() - started >= 1.0
    assert app.get("/v1/models/slow-model").status_code == 200
    assert app.post("/v1/models/slow-model:predict", json={"instances": REVIEWS}).status_code == 200
    got = samples(app.metrics_text())
    assert got[("app_requests_total", (("endpoint", "/readyz"), ("method", "GET"),
                                       ("status", "503")))] >= 1
