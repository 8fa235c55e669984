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

Run locust as a subprocess: importing it in a Jupyter kernel hangs the kernel (gevent).
"""

from __future__ import annotations

import itertools
import os
import random
import sys
from pathlib import Path

from locust import HttpUser, between, task

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
