"""Load for the sentiment app, as in the course: ``locust -f app/locustfile.py -H URL``.

Each simulated user waits 1-5 s between requests and sends 1-99 review sentences per request.
Environment switches (read when locust starts):

- ``LOCUST_PATH``: ``predict`` (default) posts ``{"text": [...]}`` to ``/predict``; ``v1``
  posts ``{"instances": [...]}`` to ``/v1/models/<LOCUST_MODEL_NAME>:predict`` (KServe V1).
- ``LOCUST_MODEL_NAME``: the KServe model name (default ``custom-model``).
- ``LOCUST_SEED``: seed of the sentence picker (default 42); user *i* uses seed + *i*.

Run locust as a subprocess: importing it in a Jupyter kernel hangs the kernel (gevent).
"""

from __future__ import annotations

import itertools
import os
import random

from locust import HttpUser, between, task

# Short reviews in the style of the training data (written for this kit, not taken from it).
SENTENCES = (
    "A warm, funny and quietly moving film that earns every one of its tears.",
    "The plot collapses under the weight of its own twists.",
    "One of the most inventive animated features in years.",
    "Two hours of my life I will never get back.",
    "The cast is terrific, and the script gives each of them a moment to shine.",
    "It looks expensive but feels strangely empty.",
    "A sharp, confident debut from a director worth watching.",
    "The jokes land about as often as the sequel's release date was pushed back.",
    "Beautifully shot, tightly edited and never boring.",
    "By the final act I had stopped caring who the killer was.",
    "An old-fashioned adventure told with real affection.",
    "The dialogue is so wooden you could build a cabin with it.",
    "Her performance alone is worth the price of admission.",
    "Slow, muddled and far too pleased with itself.",
    "A smart thriller that trusts its audience.",
    "Every scene drags on a minute longer than it should.",
    "The soundtrack is gorgeous and the story is even better.",
    "A lazy remake that adds nothing to the original.",
    "Surprisingly tender, with a final scene that stays with you.",
    "The special effects cannot hide how thin the characters are.",
    "A delight from start to finish.",
    "It mistakes noise for excitement and volume for emotion.",
    "Clever, heartfelt and often very funny.",
    "The first half is promising; the second half is a mess.",
    "A gripping documentary that asks hard questions and refuses easy answers.",
    "Predictable, preachy and painfully long.",
    "The chemistry between the leads carries the film over its rough patches.",
    "Even the talented cast cannot save this tired material.",
    "A rare sequel that improves on the original.",
    "I laughed once, and I am not sure it was at a joke.",
    "Visually stunning and emotionally rich.",
    "A muddled script sinks what could have been a fine little thriller.",
)
MIN_SENTENCES, MAX_SENTENCES = 1, 99
_SEED = int(os.environ.get("LOCUST_SEED", "42"))
_PATH = os.environ.get("LOCUST_PATH", "predict")
_MODEL_NAME = os.environ.get("LOCUST_MODEL_NAME", "custom-model")
if _PATH not in ("predict", "v1"):
    raise SystemExit(f"LOCUST_PATH={_PATH!r} is not a known route; accepted: predict or v1")
_users = itertools.count()


def request_for(rng: random.Random, path: str, model_name: str) -> tuple[str, dict]:
    """The URL path and JSON body of one request with 1-99 sentences drawn by ``rng``."""
    texts = rng.choices(SENTENCES, k=rng.randint(MIN_SENTENCES, MAX_SENTENCES))
    if path == "v1":
        return f"/v1/models/{model_name}:predict", {"instances": texts}
    return "/predict", {"text": texts}


class AppUser(HttpUser):
    """A reader who sends a batch of reviews every 1-5 s."""

    wait_time = between(1, 5)

    def on_start(self) -> None:
        self.rng = random.Random(_SEED + next(_users))

    @task
    def predict(self) -> None:
        url, body = request_for(self.rng, _PATH, _MODEL_NAME)
        # One stats name per route, whatever the batch size.
        self.client.post(url, json=body, name=url)
