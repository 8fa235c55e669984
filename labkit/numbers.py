"""One check for every number a learner types: profiles, durations, speeds and ports.

A NaN never compares true, so ``t >= duration`` never ends a run and ``users < 0`` lets a
negative count through; an infinity overflows ``int()`` and ``round()``. :func:`number`
refuses both, and values out of range, with one LabkitError that names the field::

    number(float("nan"), "duration", above=0, maximum=MAX_DURATION)
    # LabkitError: duration must be a finite number of seconds, got nan

:func:`arg` wraps the same check as an argparse ``type=`` so the CLI answers with a usage
error instead of a traceback.
"""

from __future__ import annotations

import argparse
import math
from numbers import Real
from typing import Any, Callable

from .errors import LabkitError

#: The longest run: seven days, the control panel's own cap (labkit/live/panel.py).
MAX_DURATION = 7 * 86400.0
#: The most users a profile may ask for; the twin handles 10 million in under a second, locust
#: on a laptop far fewer.
MAX_USERS = 10_000_000.0
#: Fastest spawn rate (users per second) a profile may ask for.
MAX_SPAWN_RATE = 10_000_000.0
#: TCP ports (0 only where the caller allows "any free port").
MAX_PORT = 65535


def number(value: Any, field: str, *, minimum: float | None = None, above: float | None = None,
           maximum: float | None = None, unit: str = "", integer: bool = False,
           where: str = "") -> float:
    """``value`` as a float if it is a finite real number within the bounds, else LabkitError.

    ``minimum`` is inclusive, ``above`` exclusive, ``maximum`` inclusive. ``where`` prefixes the
    message (e.g. ``"spike profile"``); ``unit`` names what the number counts.
    """
    prefix = f"{where}: " if where else ""
    what = f"a finite number{' of ' + unit if unit else ''}"
    if integer:
        what = f"a whole number{' of ' + unit if unit else ''}"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise LabkitError(f"{prefix}{field} must be {what}, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise LabkitError(f"{prefix}{field} must be {what}, got {value!r}")
    if integer and x != int(x):
        raise LabkitError(f"{prefix}{field} must be {what}, got {value!r}")
    if minimum is not None and x < minimum:
        raise LabkitError(f"{prefix}{field} must be >= {minimum:g}{' ' + unit if unit else ''}, "
                          f"got {value!r}")
    if above is not None and x <= above:
        raise LabkitError(f"{prefix}{field} must be > {above:g}{' ' + unit if unit else ''}, "
                          f"got {value!r}")
    if maximum is not None and x > maximum:
        raise LabkitError(f"{prefix}{field} must be <= {maximum:g}{' ' + unit if unit else ''}, "
                          f"got {value!r}")
    return x


def duration(value: Any, field: str = "duration", *, where: str = "") -> float:
    """A run length: more than 0 and at most :data:`MAX_DURATION` seconds."""
    return number(value, field, above=0, maximum=MAX_DURATION, unit="s", where=where)


def users(value: Any, field: str = "users", *, where: str = "") -> float:
    """A user count: 0 to :data:`MAX_USERS`."""
    return number(value, field, minimum=0, maximum=MAX_USERS, unit="users", where=where)


def port(value: Any, field: str = "port", *, allow_zero: bool = False) -> int:
    """A TCP port: 1-65535 (0, "any free port", only with ``allow_zero``)."""
    return int(number(value, field, minimum=0 if allow_zero else 1, maximum=MAX_PORT,
                      integer=True))


def arg(check: Callable[..., float], parse: Callable[[str], Any] = float,
        **bounds: Any) -> Callable[[str], Any]:
    """An argparse ``type=`` that parses a string and applies ``check`` (a usage error if not)."""
    def convert(text: str) -> Any:
        try:
            return check(parse(text), "value", **bounds)
        except (ValueError, LabkitError) as e:
            msg = str(e).removeprefix("value ") if isinstance(e, LabkitError) else \
                f"must be a number, got {text!r}"
            raise argparse.ArgumentTypeError(msg) from None
    convert.__name__ = getattr(check, "__name__", "number")
    return convert
