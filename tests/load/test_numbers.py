"""Every number a learner types is checked once: finite, in range, the field named.

Regression tests for the reliability review's D10 (profiles), D11 (--users), D14 (--out),
D15 (--trace) and D17 (ports): each used to give a traceback, hang, or run forever.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

import labkit
from labkit import numbers as num
from labkit.cli import main
from labkit.errors import LabkitError
from labkit.lab import build_profile, run
from labkit.load import profile

NAN, INF = float("nan"), float("inf")
CODE = Path(labkit.__file__).resolve().parents[1]


@pytest.mark.parametrize("name, params, field", [
    ("constant", {"duration": NAN}, "duration"),
    ("constant", {"duration": INF}, "duration"),
    ("constant", {"duration": 1e10}, "duration"),
    ("constant", {"users": NAN}, "users"),
    ("constant", {"users": -50}, "users"),
    ("constant", {"spawn_rate": NAN}, "spawn_rate"),
    ("constant", {"spawn_rate": INF}, "spawn_rate"),
    ("constant", {"wait_max": INF}, "wait_max"),
    ("constant", {"texts_max": 2.5}, "texts_max"),
    ("diurnal", {"period": 0}, "period"),
    ("diurnal", {"peak_users": INF}, "peak_users"),
    ("step", {"steps": ((0, 5), (NAN, 50))}, "steps[1] time"),
    ("step", {"steps": ((0, 5), (10, -1))}, "steps[1] users"),
    ("spike", {"start": NAN}, "start"),
    ("ramp", {"ramp_seconds": -1}, "ramp_seconds"),
    ("trace", {"times": (0.0, NAN), "values": (1.0, 2.0)}, "times[1]"),
    ("burst", {"jobs": NAN}, "jobs"),
    ("burst", {"jobs": INF}, "jobs"),
    ("burst", {"jobs": -1}, "jobs"),
    ("burst", {"start": NAN}, "start"),
    ("burst", {"length": 0}, "length"),
    ("burst", {"length": INF}, "length"),
])
def test_profile_refuses_bad_numbers_naming_the_field(name, params, field):
    with pytest.raises(LabkitError, match=rf"{name} profile: {field.replace('[', '.').replace(']', '.')} must be"):
        profile(name, **params)


def test_with_checks_too():
    with pytest.raises(LabkitError, match="duration"):
        profile("constant").with_(duration=NAN)


def test_peak_users_is_quick_for_the_longest_run():
    start = time.monotonic()
    p = profile("diurnal", min_users=5, peak_users=100, period=3000, duration=num.MAX_DURATION)
    assert p.users_at(1500) == pytest.approx(100)
    ramp = profile("ramp", start_users=0, end_users=40, ramp_seconds=100, duration=num.MAX_DURATION)
    assert ramp.peak_users == 40
    step = profile("step", steps=((0, 5), (0.5, 70), (2, 5)), duration=10)
    assert step.peak_users == 70     # a step shorter than a second is not missed
    assert time.monotonic() - start < 0.5


@pytest.mark.parametrize("kw", [{"users": NAN}, {"users": INF}, {"users": -50},
                                {"spawn_rate": NAN}, {"duration": NAN}])
def test_build_profile_refuses_before_fitting(kw):
    kw = {"duration": 60, **kw}
    with pytest.raises(LabkitError, match="must be"):
        build_profile("spike", **kw)


@pytest.mark.parametrize("kw", [{"duration": NAN}, {"duration": INF}, {"speed": NAN},
                                {"speed": 0}, {"users": NAN}])
def test_lab_run_refuses_before_deploying(kw):
    kw = {"duration": 60, **kw}
    with pytest.raises(LabkitError, match="must be"):
        run("hpa-v2", "constant", **kw)


def test_drive_never_gets_a_nan_duration():
    # drive() stops at `t >= profile.duration`, which a NaN never satisfies (real load forever):
    # no profile with a NaN duration can exist.
    with pytest.raises(LabkitError):
        labkit.profile("constant", duration=NAN)


def test_number_check():
    assert num.number(3, "x", minimum=3) == 3.0
    assert num.port(0, allow_zero=True) == 0
    for bad in (True, "3", None, NAN, -INF):
        with pytest.raises(LabkitError, match="x must be"):
            num.number(bad, "x")
    with pytest.raises(LabkitError, match="<= 65535"):
        num.port(99999)
    assert math.isfinite(num.duration(1))


# -- the CLI: a usage error, not a traceback -------------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["run", "hpa-v2", "--duration", "nan"], "--duration: must be a finite number of s"),
    (["run", "hpa-v2", "--duration", "inf"], "--duration: must be a finite number of s"),
    (["run", "hpa-v2", "--duration", "1e9"], "--duration: must be <= 604800"),
    (["run", "hpa-v2", "--users", "nan"], "--users: must be a finite number of users"),
    (["run", "hpa-v2", "--users", "-50"], "--users: must be >= 0"),
    (["app", "serve", "--port", "99999"], "--port: must be <= 65535"),
    (["app", "serve", "--port", "-1"], "--port: must be >= 0"),
    (["lab", "--port", "99999"], "--port: must be <= 65535"),
    (["lab", "--port", "0"], "--port: must be >= 1"),
    (["lab", "--port", "http"], "--port: must be a number"),
])
def test_cli_refuses_bad_numbers(capsys, argv, needle):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_out_in_a_missing_directory_is_refused_before_the_run(capsys):
    start = time.monotonic()
    assert main(["run", "hpa-v2", "--duration", "86400", "--out", "/nonexistent/dir/x"]) == 1
    err = capsys.readouterr().err
    assert "/nonexistent/dir does not exist" in err
    assert time.monotonic() - start < 2, "refused before a day of simulation"


def test_trace_profile_from_the_cli(tmp_path, capsys):
    trace = tmp_path / "t.csv"
    trace.write_text("time,users\n0,2\n30,20\n90,2\n")
    assert main(["run", "hpa-v2", "--profile", "trace", "--trace", str(trace),
                 "--duration", "120"]) == 0
    assert "samples over" in capsys.readouterr().out


def test_port_out_of_range_in_the_api():
    from labkit._procs import port_free, require_free_port
    assert port_free(99999) is False
    with pytest.raises(LabkitError, match="port must be <= 65535"):
        require_free_port(99999, "127.0.0.1", "the app")


def test_cli_duration_nan_exits_cleanly():
    proc = subprocess.run([sys.executable, "-m", "labkit.cli", "run", "hpa-v2", "--duration", "nan"],
                          capture_output=True, text=True, timeout=60, cwd=CODE)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
