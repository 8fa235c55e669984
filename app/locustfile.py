"""Load for the sentiment app, as in the course: ``locust -f app/locustfile.py -H URL``.

Each simulated user waits 1-5 s between requests and sends 1-99 review sentences per request.
Environment switches (read when locust starts):

- ``LOCUST_PATH``: ``predict`` (default) posts ``{"text": [...]}`` to ``/predict``; ``v1``
  posts ``{"instances": [...]}`` to ``/v1/models/<LOCUST_MODEL_NAME>:predict`` (KServe V1);
  ``jobs`` posts ``{"text": [...]}`` to ``/jobs`` (the asynchronous mode: 202 with a job id
  at once, so each user is a producer sending one job per think time).
- ``LOCUST_MODEL_NAME``: the KServe model name (default ``custom-model``).
- ``LOCUST_SEED``: seed of the sentence picker (default 42); user *i* uses seed + *i*.
- ``LOCUST_WAIT_MIN`` / ``LOCUST_WAIT_MAX``: the think time ``between(min, max)`` (default 1, 5).
- ``LOCUST_HOST_HEADER``: a ``Host`` header for every request (Knative/KServe behind Kourier).
- ``LOCUST_LABKIT_TOKEN``: set by labkit for each run. Then every request to locust's web API
  that changes something (POST) must carry it in an ``X-Labkit-Token`` header.

Locust's web API has no authentication of its own. This file guards it: requests whose
``Host`` is not 127.0.0.1/localhost are refused (DNS rebinding), so are cross-site requests
(an ``Origin`` other than the web UI's own) and POSTs without the run's token, and ``/swarm``
may not re-aim the swarm at another host than the one locust was started with (``-H``), which
labkit checked to be loopback.

Run locust as a subprocess: importing it in a Jupyter kernel hangs the kernel (gevent).
"""

from __future__ import annotations

import hmac
import itertools
import os
import random
import sys
from pathlib import Path
from urllib.parse import urlsplit

from locust import HttpUser, between, events, task

sys.path.insert(0, str(Path(__file__).resolve().parent))  # as locust does: find reviews.py
from reviews import request_for  # noqa: E402

_SEED = int(os.environ.get("LOCUST_SEED", "42"))
_PATH = os.environ.get("LOCUST_PATH", "predict")
_MODEL_NAME = os.environ.get("LOCUST_MODEL_NAME", "custom-model")
_WAIT = (float(os.environ.get("LOCUST_WAIT_MIN", "1")), float(os.environ.get("LOCUST_WAIT_MAX", "5")))
_HEADERS = {"Host": os.environ["LOCUST_HOST_HEADER"]} if os.environ.get("LOCUST_HOST_HEADER") \
    else None
if _PATH not in ("predict", "v1", "jobs"):
    raise SystemExit(f"LOCUST_PATH={_PATH!r} is not a known route; accepted: predict, v1 or "
                     "jobs")
_users = itertools.count()
_TOKEN = os.environ.get("LOCUST_LABKIT_TOKEN", "")
_LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")


def refusal(method: str, path: str, headers, form, *, token: str, started_host: str | None
            ) -> str | None:
    """Why a request to locust's web API is refused, or None to let it through."""
    host = urlsplit(f"//{headers.get('Host', '')}").hostname or ""
    if f"[{host}]" not in _LOCAL_NAMES and host not in _LOCAL_NAMES:
        return f"Host {headers.get('Host')!r} is not 127.0.0.1 or localhost"
    origin = headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != headers.get("Host"):
        return f"cross-site request from {origin}"
    if method == "POST":
        if token and not hmac.compare_digest(headers.get("X-Labkit-Token", ""), token):
            return "missing or wrong X-Labkit-Token (labkit's per-run token)"
        wanted = form.get("host")
        if path == "/swarm" and wanted and started_host and wanted.rstrip("/") != \
                started_host.rstrip("/"):
            return f"this locust sends load to {started_host} only, not {wanted}"
    return None


@events.init.add_listener
def _guard_web_ui(environment, **_kwargs) -> None:
    """Refuse foreign Hosts, cross-site requests, untokened changes and re-aimed swarms."""
    if environment.web_ui is None:
        return
    from flask import request

    started_host = environment.host

    @environment.web_ui.app.before_request
    def _check():
        why = refusal(request.method, request.path, request.headers, request.form,
                      token=_TOKEN, started_host=started_host)
        if why is not None:
            return {"success": False, "message": f"refused by app/locustfile.py: {why}"}, 403
        return None


class AppUser(HttpUser):
    """A reader who sends a batch of reviews every 1-5 s."""

    wait_time = between(*_WAIT)

    def on_start(self) -> None:
        self.rng = random.Random(_SEED + next(_users))

    @task
    def predict(self) -> None:
        url, body = request_for(self.rng, _PATH, _MODEL_NAME)
        # One stats name per route, whatever the batch size.
        self.client.post(url, json=body, name=url, headers=_HEADERS)
