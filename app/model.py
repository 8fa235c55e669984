"""Load the trained sentiment model and predict class probabilities."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib


@dataclass(frozen=True)
class SentimentModel:
    """A fitted scikit-learn pipeline whose classes are 0 = negative, 1 = positive."""

    pipeline: Any
    class_names: tuple[str, ...]
    accuracy: float | None

    def predict_proba(self, texts: list[str]) -> list[list[float]]:
        """``[[P(negative), P(positive)], ...]``, one row per text, rounded to 6 digits."""
        probs = self.pipeline.predict_proba(texts)
        return [[round(float(p), 6) for p in row] for row in probs]


def load_model(path: Path) -> SentimentModel:
    """Read the model ``python -m app.train`` wrote, and its ``.json`` report if present."""
    pipeline = joblib.load(path)
    report_path = path.with_suffix(path.suffix + ".json")
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    classes = [int(c) for c in pipeline.classes_]
    if classes != [0, 1]:
        raise ValueError(f"{path}: expected a 2-class model with classes [0, 1], got {classes}")
    return SentimentModel(pipeline=pipeline,
                          class_names=tuple(report.get("class_names", ("negative", "positive"))),
                          accuracy=report.get("accuracy"))
