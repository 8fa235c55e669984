"""Kubernetes resource quantities ("500m", "1Gi", "80", "1e3") as integer milli-units.

The HPA works on ``Quantity.MilliValue()`` everywhere (spec/autoscalers.md §1.4), so this module
parses a quantity exactly (``decimal``, no float rounding) and returns its value times 1000,
rounded *up* to a whole milli-unit as ``MilliValue()`` does (``"0.0001"`` -> 1).

Simplifies: no canonical re-serialization and no int64 overflow (Python ints are unbounded).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

from ..errors import LabkitError

__all__ = ["InvalidQuantityError", "parse_quantity_milli", "parse_quantity"]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}
# sign, digits (with an optional fraction), then one suffix: binary, decimal SI or exponent.
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")


class InvalidQuantityError(LabkitError, ValueError):
    """A string is not a Kubernetes quantity (what the API server rejects)."""


def parse_quantity(q: str | int | float) -> Decimal:
    """Exact value of a Kubernetes quantity: ``"200m"`` -> ``Decimal("0.2")``.

    Raises
    ------
    InvalidQuantityError
        When ``q`` is not a quantity, as ``kubectl apply`` would refuse it.
    """
    if isinstance(q, bool):
        raise InvalidQuantityError(f"{q!r} is a boolean, not a quantity; write a number "
                                   "such as 500m, 0.5 or 1Gi")
    if isinstance(q, int):
        return Decimal(q)
    if isinstance(q, float):
        if not math.isfinite(q):
            raise InvalidQuantityError(f"{q!r} is not a finite number")
        return Decimal(repr(q))
    if not isinstance(q, str):
        raise InvalidQuantityError(f"{q!r} ({type(q).__name__}) is not a quantity; write a "
                                   "number such as 500m, 0.5 or 1Gi")
    m = _QUANTITY.match(q.strip())
    if not m:
        raise InvalidQuantityError(
            f"{q!r} is not a Kubernetes quantity: expected a number with an optional suffix "
            "(m, k, M, G, Ki, Mi, Gi, ... or an exponent like 1e3), e.g. 500m or 256Mi")
    try:
        number = Decimal(m.group(1))
    except InvalidOperation as e:  # pragma: no cover - the regex already rules this out
        raise InvalidQuantityError(f"{q!r} is not a Kubernetes quantity") from e
    suffix = m.group(2) or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number.scaleb(int(suffix[1:]))


def parse_quantity_milli(q: str | int | float) -> int:
    """``Quantity.MilliValue()``: the value in thousandths, rounded up.

    ``"200m"`` -> 200, ``"1"`` -> 1000, ``"256Mi"`` -> 268435456000, ``"0.05"`` -> 50,
    ``80`` -> 80000.
    """
    return math.ceil(parse_quantity(q) * 1000)
