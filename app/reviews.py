"""What the load sends: 1-99 short movie reviews per request, drawn by a seeded RNG.

Kept apart from app/locustfile.py so tests can check it without importing locust, which
monkey-patches the whole process (gevent).
"""

from __future__ import annotations

import random

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


def request_for(rng: random.Random, path: str, model_name: str) -> tuple[str, dict]:
    """The URL path and JSON body of one request with 1-99 sentences drawn by ``rng``."""
    texts = rng.choices(SENTENCES, k=rng.randint(MIN_SENTENCES, MAX_SENTENCES))
    if path == "v1":
        return f"/v1/models/{model_name}:predict", {"instances": texts}
    if path == "jobs":   # the asynchronous mode: answered 202 with a job id
        return "/jobs", {"text": texts}
    return "/predict", {"text": texts}
