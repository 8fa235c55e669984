"""The app's knobs: read from environment variables, validated once at start."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Where ``python -m app.train`` writes the model by default (and the Dockerfile bakes it).
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "model" / "model.joblib"

# A DNS-1123 label, as KServe and Kubernetes require for a model/service name.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_QUEUE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class SettingsError(ValueError):
    """An environment variable (or keyword) holds a value the app cannot use.

    The message names the variable, the value, and the accepted range.
    """


def _number(kind: type, low: float, high: float, unit: str) -> Callable[[str, Any], Any]:
    def parse(env: str, raw: Any) -> Any:
        accepted = f"accepted: {kind.__name__} from {low:g} to {high:g} ({unit})"
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            raise SettingsError(f"{env}={raw!r} is not a valid {kind.__name__}; {accepted}") from None
        if isinstance(value, float) and not math.isfinite(value) or not low <= value <= high:
            raise SettingsError(f"{env}={raw!r} is out of range; {accepted}")
        return value
    return parse


def _model_name(env: str, raw: Any) -> str:
    value = str(raw)
    if not _DNS_LABEL.match(value):
        raise SettingsError(
            f"{env}={raw!r} is not a valid model name; accepted: a DNS-1123 label "
            "(lower-case letters, digits and '-', 1 to 63 characters, e.g. custom-model)")
    return value


def _model_path(env: str, raw: Any) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file():
        raise SettingsError(
            f"{env}={str(raw)!r}: no model file there; accepted: the path of a model written by "
            f"`python -m app.train --out {path}` (run that first, or point {env} at the file)")
    return path


def _redis_url(env: str, raw: Any) -> str:
    value = str(raw).strip()
    if value and not value.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(
            f"{env}={raw!r} is not a Redis URL; accepted: redis://HOST:PORT/DB (e.g. "
            "redis://127.0.0.1:6379/0), rediss://... or unix://..., or empty to turn the "
            "asynchronous mode off")
    return value


def _queue_name(env: str, raw: Any) -> str:
    value = str(raw)
    if not _QUEUE.match(value):
        raise SettingsError(
            f"{env}={raw!r} is not a queue name; accepted: 1 to 64 letters, digits, '-', '_' "
            "or '.' (it must equal the KEDA redis trigger's listName)")
    return value


def _host(env: str, raw: Any) -> str:
    value = str(raw).strip()
    if not value or any(c.isspace() for c in value):
        raise SettingsError(f"{env}={raw!r} is not a host; accepted: an address such as "
                            "127.0.0.1 (this machine only) or 0.0.0.0 (in a container)")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the app can be told, with its environment variable and default.

    - ``cpu_work_ms`` (``APP_CPU_WORK_MS``, 20): CPU time each prediction burns on top of the
      model, so that CPU-based autoscaling shows on a laptop; 0 turns it off.
    - ``startup_delay_s`` (``APP_STARTUP_DELAY_S``, 0): seconds from start before ``/readyz``
      says ready, to act out a slow model load (cold-start lessons).
    - ``model_name`` (``MODEL_NAME``, ``custom-model``): the KServe V1 model name.
    - ``model_path`` (``APP_MODEL_PATH``): the joblib file ``python -m app.train`` wrote.
    - ``max_texts`` (``APP_MAX_TEXTS``, 1000): most texts one request may carry.
    - ``host`` / ``port`` (``APP_HOST`` / ``APP_PORT``): where ``python -m app`` listens.
    - ``redis_url`` (``APP_REDIS_URL``, empty): the Redis that holds the job queue; empty
      turns the asynchronous mode (``/jobs``, ``python -m app.worker``) off.
    - ``queue_name`` (``APP_QUEUE``, ``inference-jobs``): the Redis list of waiting job ids,
      the name a KEDA redis trigger's ``listName`` reads.
    - ``max_queue`` (``APP_MAX_QUEUE``, 10000): ``POST /jobs`` answers 429 past this many
      waiting jobs.
    - ``result_ttl_s`` (``APP_RESULT_TTL_S``, 3600): how long a finished job's result is kept.
    - ``lease_s`` (``APP_WORKER_LEASE_S``, 10): a worker silent this long is presumed dead
      and its jobs go back to the queue.
    - ``max_attempts`` (``APP_MAX_ATTEMPTS``, 3): deliveries of one job before it is marked
      failed (a job that kills every worker must not loop forever).
    """

    cpu_work_ms: float = 20.0
    startup_delay_s: float = 0.0
    model_name: str = "custom-model"
    model_path: Path = DEFAULT_MODEL_PATH
    max_texts: int = 1000
    host: str = "127.0.0.1"
    port: int = 8080
    redis_url: str = ""
    queue_name: str = "inference-jobs"
    max_queue: int = 10_000
    result_ttl_s: int = 3600
    lease_s: float = 10.0
    max_attempts: int = 3

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            env, parse = _FIELDS[field.name]
            object.__setattr__(self, field.name, parse(env, getattr(self, field.name)))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the settings from ``environ`` (default ``os.environ``); keywords win over it.

        Raises
        ------
        SettingsError
            If a value is malformed or out of range, or a keyword is unknown.
        """
        environ = os.environ if environ is None else environ
        unknown = sorted(set(overrides) - set(_FIELDS))
        if unknown:
            raise SettingsError(f"unknown setting(s) {', '.join(unknown)}; accepted: "
                                f"{', '.join(_FIELDS)}")
        values = {name: environ[env] for name, (env, _) in _FIELDS.items() if env in environ}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def env_name(self, name: str) -> str:
        """The environment variable that sets field ``name``."""
        return _FIELDS[name][0]


_FIELDS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "cpu_work_ms": ("APP_CPU_WORK_MS", _number(float, 0, 10_000, "milliseconds of CPU per request")),
    "startup_delay_s": ("APP_STARTUP_DELAY_S", _number(float, 0, 3_600, "seconds before ready")),
    "model_name": ("MODEL_NAME", _model_name),
    "model_path": ("APP_MODEL_PATH", _model_path),
    "max_texts": ("APP_MAX_TEXTS", _number(int, 1, 100_000, "texts per request")),
    "host": ("APP_HOST", _host),
    "port": ("APP_PORT", _number(int, 1, 65_535, "TCP port")),
    "redis_url": ("APP_REDIS_URL", _redis_url),
    "queue_name": ("APP_QUEUE", _queue_name),
    "max_queue": ("APP_MAX_QUEUE", _number(int, 1, 10_000_000, "waiting jobs")),
    "result_ttl_s": ("APP_RESULT_TTL_S", _number(int, 1, 604_800, "seconds a result is kept")),
    "lease_s": ("APP_WORKER_LEASE_S", _number(float, 0.5, 3_600, "seconds of worker silence")),
    "max_attempts": ("APP_MAX_ATTEMPTS", _number(int, 1, 100, "deliveries per job")),
}
