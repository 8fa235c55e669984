"""Status vocabulary shared by the autoscaler rules: conditions and events, as kubectl shows them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
    """A status condition (``type``, ``status`` True/False/Unknown, ``reason``, ``message``)."""

    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition_time: float | None = None


@dataclass(frozen=True)
class Event:
    """A Kubernetes event a controller would emit (``kubectl get events``)."""

    reason: str
    message: str
    type: str = "Normal"
