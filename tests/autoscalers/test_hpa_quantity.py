"""Kubernetes quantities as milli-units (Quantity.MilliValue())."""

from __future__ import annotations

import pytest

from labkit.autoscalers.quantity import InvalidQuantityError, parse_quantity_milli
from labkit.errors import LabkitError


@pytest.mark.parametrize("q, milli", [
    pytest.param("200m", 200, id="milli-cpu"),
    pytest.param("1", 1000, id="one-core"),
    pytest.param("0.05", 50, id="decimal-fraction"),
    pytest.param(".5", 500, id="leading-dot"),
    pytest.param("2.", 2000, id="trailing-dot"),
    pytest.param("+2", 2000, id="plus-sign"),
    pytest.param("256Mi", 268435456000, id="mebibytes"),
    pytest.param("1Gi", 1073741824000, id="gibibyte"),
    pytest.param("1.5Ki", 1536000, id="fractional-binary"),
    pytest.param("1k", 1_000_000, id="kilo"),
    pytest.param("1M", 1_000_000_000, id="mega-not-milli"),
    pytest.param("500u", 1, id="micro-rounds-up"),
    pytest.param("0.0001", 1, id="sub-milli-rounds-up"),
    pytest.param("1e3", 1_000_000, id="exponent"),
    pytest.param("1E-3", 1, id="negative-exponent"),
    pytest.param("100n", 1, id="nano-rounds-up"),
    pytest.param(80, 80_000, id="int"),
    pytest.param(0.05, 50, id="float"),
    pytest.param(" 30 ", 30_000, id="surrounding-space"),
])
def test_parse_quantity_milli(q, milli):
    assert parse_quantity_milli(q) == milli


@pytest.mark.parametrize("q", [
    pytest.param("", id="empty"),
    pytest.param("abc", id="word"),
    pytest.param("1mi", id="lowercase-binary"),
    pytest.param("1 m", id="inner-space"),
    pytest.param("1.2.3", id="two-dots"),
    pytest.param(True, id="bool"),
    pytest.param(None, id="none"),
    pytest.param(float("nan"), id="nan"),
])
def test_invalid_quantities_raise_a_labkit_error(q):
    with pytest.raises(InvalidQuantityError) as e:
        parse_quantity_milli(q)
    assert isinstance(e.value, LabkitError)
    assert "quantity" in str(e.value) or "number" in str(e.value)
