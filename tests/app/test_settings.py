"""Settings from the environment: defaults, accepted values, and what a bad value says."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import DEFAULT_MODEL_PATH, Settings, SettingsError


@pytest.fixture
def env(built) -> dict[str, str]:
    return {"APP_MODEL_PATH": str(built.model_path)}


def test_defaults(env):
    s = Settings.from_env(env)
    assert (s.cpu_work_ms, s.startup_delay_s, s.model_name, s.max_texts, s.host, s.port) == (
        20.0, 0.0, "custom-model", 1000, "127.0.0.1", 8080)
    assert DEFAULT_MODEL_PATH == Path(__file__).resolve().parents[2] / "app/model/model.joblib"


@pytest.mark.parametrize("var, raw, field, value", [
    pytest.param("APP_CPU_WORK_MS", "0", "cpu_work_ms", 0.0, id="cpu-work-off"),
    pytest.param("APP_CPU_WORK_MS", "12.5", "cpu_work_ms", 12.5, id="cpu-work-fraction"),
    pytest.param("APP_STARTUP_DELAY_S", "30", "startup_delay_s", 30.0, id="delay"),
    pytest.param("MODEL_NAME", "sentiment-2", "model_name", "sentiment-2", id="model-name"),
    pytest.param("APP_MAX_TEXTS", "5", "max_texts", 5, id="max-texts"),
    pytest.param("APP_PORT", "9000", "port", 9000, id="port"),
    pytest.param("APP_HOST", "0.0.0.0", "host", "0.0.0.0", id="host"),
])
def test_accepted_values(env, var, raw, field, value):
    assert getattr(Settings.from_env({**env, var: raw}), field) == value


@pytest.mark.parametrize("var, raw, says", [
    pytest.param("APP_CPU_WORK_MS", "abc", "not a valid float; accepted: float from 0 to 10000",
                 id="cpu-work-not-number"),
    pytest.param("APP_CPU_WORK_MS", "-1", "out of range; accepted: float from 0 to 10000",
                 id="cpu-work-negative"),
    pytest.param("APP_CPU_WORK_MS", "nan", "out of range", id="cpu-work-nan"),
    pytest.param("APP_STARTUP_DELAY_S", "3601", "out of range; accepted: float from 0 to 3600",
                 id="delay-too-long"),
    pytest.param("APP_MAX_TEXTS", "0", "out of range; accepted: int from 1 to 100000",
                 id="max-texts-zero"),
    pytest.param("APP_MAX_TEXTS", "2.5", "not a valid int", id="max-texts-fraction"),
    pytest.param("APP_PORT", "70000", "accepted: int from 1 to 65535", id="port-too-big"),
    pytest.param("MODEL_NAME", "Custom_Model", "DNS-1123 label", id="model-name-bad"),
    pytest.param("MODEL_NAME", "", "DNS-1123 label", id="model-name-empty"),
    pytest.param("APP_MODEL_PATH", "/no/such/model.joblib", "python -m app.train --out",
                 id="model-missing"),
    pytest.param("APP_HOST", "", "is not a host", id="host-empty"),
])
def test_rejected_values_name_the_variable_and_range(env, var, raw, says):
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**env, var: raw})
    assert str(err.value).startswith(f"{var}={raw!r}")
    assert says in str(err.value)


def test_keywords_win_over_environment_and_are_validated(env):
    s = Settings.from_env({**env, "APP_CPU_WORK_MS": "50"}, cpu_work_ms=5, port=None)
    assert (s.cpu_work_ms, s.port) == (5.0, 8080)
    with pytest.raises(SettingsError, match="APP_STARTUP_DELAY_S=-3 is out of range"):
        Settings.from_env(env, startup_delay_s=-3)
    with pytest.raises(SettingsError, match="unknown setting.*cpu_ms"):
        Settings.from_env(env, cpu_ms=5)
