"""Request bodies of /predict and the KServe V1 predict route; pydantic turns misfits into 422."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

MAX_TEXT_CHARS = 10_000
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]


class PredictRequest(BaseModel):
    """``{"text": ["a review", ...]}``: at least one text, at most APP_MAX_TEXTS."""

    text: list[Text] = Field(min_length=1, description="The sentences to classify.")


class PredictResponse(BaseModel):
    """``{"probs": [[P(negative), P(positive)], ...]}``, one row per text, in order."""

    probs: list[list[float]]


class InferRequest(BaseModel):
    """KServe V1: ``{"instances": ["a review", ...]}``."""

    instances: list[Text] = Field(min_length=1, description="The sentences to classify.")


class InferResponse(BaseModel):
    """KServe V1: ``{"predictions": [[P(negative), P(positive)], ...]}``."""

    predictions: list[list[float]]
