"""KPA settings, window averages and the decider: spec/autoscalers.md §2.2–2.5 and §2.8 (K1, K2, K3, K5)."""

from __future__ import annotations

import pytest

from labkit.autoscalers.kpa import (
    DeciderState, KPASettings, WindowAverager, decide, excess_burst_capacity,
    initial_excess_burst_capacity, kpa_settings, new_decider_state, panic_window_seconds,
    parse_duration, sample_size, window_average,
)
from labkit.errors import ManifestError

A = "autoscaling.knative.dev/"
DEFAULT = KPASettings()


# ---------------------------------------------------------------- settings and targets (§2.2–2.3)

@pytest.mark.parametrize("annotations, cc, config, target, total", [
    pytest.param({}, 0, None, 70.0, 100.0, id="default-concurrency-70"),
    pytest.param({}, 10, None, 7.0, 10.0, id="container-concurrency-10-gives-7"),
    pytest.param({A + "target": "10"}, 0, None, 7.0, 10.0, id="target-annotation-times-0.7"),
    pytest.param({A + "target": "10", A + "target-utilization-percentage": "100"}, 0, None,
                 10.0, 10.0, id="target-annotation-with-utilization-100"),
    pytest.param({A + "target": "50"}, 10, None, 7.0, 10.0, id="target-capped-by-cc"),
    pytest.param({A + "metric": "rps"}, 0, None, 140.0, 200.0, id="rps-default-140"),
    pytest.param({A + "metric": "rps", A + "target": "100"}, 5, None, 70.0, 100.0,
                 id="rps-target-not-capped-by-cc"),
    pytest.param({}, 0, {"container-concurrency-target-percentage": "0.5"}, 50.0, 100.0,
                 id="config-percentage-as-fraction"),
    pytest.param({A + "target": "0.02", A + "target-utilization-percentage": "1"}, 0, None,
                 0.01, 0.02, id="target-floor-0.01"),
])
def test_target_resolution(annotations, cc, config, target, total):
    s = kpa_settings(annotations, container_concurrency=cc, config=config)
    assert s.target == pytest.approx(target)
    assert s.total == pytest.approx(total)


def test_defaults_match_spec_table():
    s = kpa_settings({})
    assert (s.stable_window, s.panic_window, s.panic_threshold, s.max_scale_up_rate,
            s.max_scale_down_rate, s.target_burst_capacity, s.activator_capacity,
            s.scale_to_zero_grace_period, s.scale_to_zero_pod_retention_period,
            s.scale_down_delay, s.initial_scale, s.min_scale, s.max_scale,
            s.enable_scale_to_zero) == (60, 6, 2.0, 1000, 2, 211, 100, 30, 0, 0, 1, 0, 0, True)


@pytest.mark.parametrize("annotations, config, field", [
    pytest.param({A + "window": "5s"}, None, "window", id="window-below-6s"),
    pytest.param({A + "window": "2h"}, None, "window", id="window-above-1h"),
    pytest.param({A + "window": "60500ms"}, None, "window", id="window-not-whole-seconds"),
    pytest.param({A + "panic-threshold-percentage": "100"}, None, "panic-threshold",
                 id="panic-threshold-below-110"),
    pytest.param({A + "panic-window-percentage": "0"}, None, "panic-window", id="panic-window-0"),
    pytest.param({A + "target-burst-capacity": "-2"}, None, "target-burst", id="tbc-minus-2"),
    pytest.param({A + "metric": "cpu"}, None, "metric", id="kpa-cpu-metric"),
    pytest.param({A + "activation-scale": "1"}, None, "activation-scale", id="activation-scale-1"),
    pytest.param({A + "activation-scale": "5", A + "max-scale": "3"}, None, "activation-scale",
                 id="activation-above-max"),
    pytest.param({A + "initial-scale": "0"}, None, "initial-scale", id="initial-0-not-allowed"),
    pytest.param({A + "min-scale": "5", A + "max-scale": "3"}, None, "min-scale", id="min-above-max"),
    pytest.param({A + "scale-down-delay": "2h"}, None, "scale-down-delay", id="delay-above-1h"),
    pytest.param({A + "target": "abc"}, None, "target", id="target-not-number"),
    pytest.param({A + "target": "0.001"}, None, "target", id="target-below-0.01"),
    pytest.param({}, {"max-scale-up-rate": "1"}, "max-scale-up-rate", id="max-up-rate-1"),
    pytest.param({A + "max-scale": "20"}, {"max-scale-limit": "10"}, "max-scale", id="max-above-limit"),
])
def test_out_of_range_values_name_the_field(annotations, config, field):
    with pytest.raises(ManifestError) as e:
        kpa_settings(annotations, config=config)
    assert field in str(e.value)


def test_initial_zero_allowed_by_config():
    s = kpa_settings({A + "initial-scale": "0"}, config={"allow-zero-initial-scale": "true"})
    assert s.initial_scale == 0


@pytest.mark.parametrize("text, seconds", [
    pytest.param("60s", 60, id="60s"), pytest.param("1m30s", 90, id="1m30s"),
    pytest.param("5m", 300, id="5m"), pytest.param("1h", 3600, id="1h"),
    pytest.param("0", 0, id="zero"), pytest.param("1500ms", 1.5, id="ms"),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


# ---------------------------------------------------------------- averaging (§2.4)

@pytest.mark.parametrize("window, pct, expected", [
    pytest.param(60, 10, 6, id="default-6s"), pytest.param(6, 10, 1, id="floor-1s"),
    pytest.param(60, 1, 1, id="round-0.6-to-1"), pytest.param(45, 10, 5, id="round-half-up-4.5"),
    pytest.param(3600, 100, 3600, id="full-window"),
])
def test_panic_window_seconds(window, pct, expected):
    s = KPASettings(stable_window=window, panic_window_percentage=pct)
    assert panic_window_seconds(s) == expected


@pytest.mark.parametrize("n, expected", [
    pytest.param(0, 0, id="0"), pytest.param(1, 1, id="1"), pytest.param(3, 3, id="3"),
    pytest.param(4, 4, id="4"), pytest.param(10, 7, id="10"), pytest.param(50, 12, id="50"),
    pytest.param(100, 14, id="100"),
])
def test_sample_size(n, expected):
    assert sample_size(n) == expected


def test_partial_window_uses_buckets_since_first_write():
    # One request in flight for the first 3 seconds of data: average 1, not 3/60.
    w = WindowAverager(window=60)
    for t in (100, 101, 102):
        w.record(t + 0.3, 1.0)
    assert w.average(102.5) == 1.0
    assert window_average(w.buckets, now=102, window=60, first_write=100, last_write=102) == 1.0


def test_full_window_average_and_gaps_count_as_zero():
    w = WindowAverager(window=6)
    for t in range(0, 10):
        w.record(t, 6.0 if t != 8 else 0.0)
    # buckets 4..9 → 6,6,6,6,0,6 → 30/6
    assert w.average(9) == 5.0


def test_stale_tail_shrinks_the_divisor():
    w = WindowAverager(window=60)
    for t in range(0, 100):
        w.record(t, 2.0)
    # No writes for 10 s: the 10 stale seconds are dropped and the divisor becomes 50.
    assert w.average(109) == 2.0
    assert w.has_data(109)


def test_no_data_for_a_whole_window_is_zero_and_no_data():
    w = WindowAverager(window=6)
    w.record(0, 5.0)
    assert w.average(6) == 0.0
    assert w.has_data(6) and not w.has_data(7)


def test_gap_longer_than_window_starts_a_new_partial_window():
    w = WindowAverager(window=6)
    for t in range(0, 6):
        w.record(t, 1.0)
    w.record(20, 3.0)
    assert w.first_write == 20
    assert w.average(20) == 3.0


def test_average_rounded_to_six_decimals():
    w = WindowAverager(window=60)
    for t in range(3):
        w.record(t, 1.0 if t == 0 else 0.0)
    assert w.average(2) == 0.333333


# ---------------------------------------------------------------- decider (§2.5, §2.8)

def stable_state():
    return DeciderState()


def test_k1_steady_state():
    r, st = decide(DEFAULT, stable_state(), stable_avg=350, panic_avg=350, ready_pods=5,
                   reachable=True, now=10)
    assert (r.desired_pod_count, r.in_panic, r.valid) == (5, False, True)
    assert (r.stable_pods, r.panic_pods) == (5, 5)
    assert st.panic_time is None


def test_k2_burst_enters_panic_holds_then_steps_down():
    r, st = decide(DEFAULT, stable_state(), stable_avg=350, panic_avg=400, ready_pods=2,
                   reachable=True, now=0)
    assert (r.desired_pod_count, r.in_panic, st.max_panic_pods, st.panic_time) == (6, True, 6, 0)
    # Load falls: dS = dP = 1 but the decider holds 6 until 60 s after the last over-threshold tick.
    for now in range(2, 61, 2):
        r, st = decide(DEFAULT, st, stable_avg=70, panic_avg=70, ready_pods=6, reachable=True, now=now)
        assert r.desired_pod_count == 6 and r.in_panic, now
    r, st = decide(DEFAULT, st, stable_avg=70, panic_avg=70, ready_pods=6, reachable=True, now=62)
    assert (r.desired_pod_count, r.in_panic, st.max_panic_pods) == (3, False, 0)
    r, st = decide(DEFAULT, st, stable_avg=70, panic_avg=70, ready_pods=3, reachable=True, now=64)
    assert r.desired_pod_count == 1


@pytest.mark.parametrize("now, in_panic", [
    pytest.param(60, True, id="at-panicTime+W-still-panic"),
    pytest.param(60.5, False, id="strictly-after-leaves"),
])
def test_leaving_panic_is_strictly_after_panic_time_plus_window(now, in_panic):
    st = DeciderState(panic_time=0, max_panic_pods=4)
    r, st2 = decide(DEFAULT, st, stable_avg=70, panic_avg=70, ready_pods=4, reachable=True, now=now)
    assert r.in_panic is in_panic
    assert r.desired_pod_count == (4 if in_panic else 2)


def test_over_threshold_extends_panic():
    st = DeciderState(panic_time=0, max_panic_pods=4)
    r, st = decide(DEFAULT, st, stable_avg=70, panic_avg=700, ready_pods=4, reachable=True, now=50)
    assert st.panic_time == 50 and r.desired_pod_count == 10


def test_max_panic_pods_holds_the_high_water_mark():
    st = DeciderState(panic_time=0, max_panic_pods=0)
    r, st = decide(DEFAULT, st, stable_avg=700, panic_avg=1400, ready_pods=5, reachable=True, now=2)
    assert r.desired_pod_count == 20
    r, st = decide(DEFAULT, st, stable_avg=350, panic_avg=420, ready_pods=5, reachable=True, now=4)
    assert r.desired_pod_count == 20 and st.max_panic_pods == 20


def test_panic_uses_larger_of_stable_and_panic():
    st = DeciderState(panic_time=0, max_panic_pods=1)
    r, _ = decide(DEFAULT, st, stable_avg=700, panic_avg=70, ready_pods=1, reachable=True, now=2)
    assert r.desired_pod_count == 10


def test_panic_threshold_compares_unclamped_panic_pods():
    s = KPASettings(max_scale_up_rate=1.5)
    r, st = decide(s, stable_state(), stable_avg=0, panic_avg=700, ready_pods=4, reachable=True, now=0)
    # dP = 10 ≥ 2·4 → panic although the clamped panic value is ceil(1.5·4) = 6.
    assert r.in_panic and r.desired_pod_count == 6


@pytest.mark.parametrize("ready, stable, expected", [
    pytest.param(0, 5000, 1000, id="zero-ready-R1-maxup-1000"),
    pytest.param(0, 10**6, 1000, id="zero-ready-capped"),
    pytest.param(3, 10**7, 3000, id="three-ready-maxup-3000"),
])
def test_max_scale_up_rate(ready, stable, expected):
    s = KPASettings(target=1.0, panic_threshold_percentage=1000)
    r, _ = decide(s, stable_state(), stable_avg=stable, panic_avg=0, ready_pods=ready,
                  reachable=True, now=0)
    assert r.desired_pod_count == expected


def test_max_scale_up_rate_with_small_rate_still_grows_by_one():
    s = KPASettings(target=1.0, max_scale_up_rate=1.1, panic_threshold_percentage=1000)
    r, _ = decide(s, stable_state(), stable_avg=3, panic_avg=0, ready_pods=2, reachable=True, now=0)
    assert r.desired_pod_count == 3   # ceil(1.1·2) = 3


@pytest.mark.parametrize("reachable, expected", [
    pytest.param(True, 5, id="reachable-maxdown-floor-10-over-2"),
    pytest.param(False, 0, id="unreachable-maxdown-0"),
])
def test_max_scale_down(reachable, expected):
    r, _ = decide(DEFAULT, stable_state(), stable_avg=0, panic_avg=0, ready_pods=10,
                  reachable=reachable, now=0)
    assert r.desired_pod_count == expected


@pytest.mark.parametrize("stable, panic, expected", [
    pytest.param(70, 0, 3, id="dS-1-raised-to-3"),
    pytest.param(0, 0, 0, id="no-traffic-no-floor"),
    pytest.param(700, 0, 10, id="above-floor-unchanged"),
    pytest.param(0.5, 0, 3, id="tiny-traffic-floor"),
])
def test_activation_scale_is_a_floor_while_there_is_traffic(stable, panic, expected):
    s = KPASettings(activation_scale=3)
    r, _ = decide(s, stable_state(), stable_avg=stable, panic_avg=panic, ready_pods=0,
                  reachable=True, now=0)
    assert r.desired_pod_count == expected


@pytest.mark.parametrize("tbc, ready, panic, expected", [
    pytest.param(0, 3, 50, 0, id="tbc-0"), pytest.param(-1, 3, 50, -1, id="tbc-minus-1"),
    pytest.param(211, 3, 50, 39, id="k3-three-ready-39"),
    pytest.param(211, 2, 50, -61, id="k3-two-ready-minus-61"),
    pytest.param(211, 0, 0.5, -212, id="floor-of-negative"),
])
def test_excess_burst_capacity(tbc, ready, panic, expected):
    s = KPASettings(target_burst_capacity=tbc)
    assert excess_burst_capacity(s, ready, panic) == expected
    r, _ = decide(s, stable_state(), stable_avg=panic, panic_avg=panic, ready_pods=ready,
                  reachable=True, now=0)
    assert r.excess_burst_capacity == expected


def test_initial_ebc_before_first_tick():
    assert initial_excess_burst_capacity(DEFAULT) == -111
    assert initial_excess_burst_capacity(KPASettings(target_burst_capacity=-1)) == -1
    assert initial_excess_burst_capacity(KPASettings(target_burst_capacity=0)) == 0


@pytest.mark.parametrize("stable, panic, ready", [
    pytest.param(None, 1.0, 1, id="no-data"), pytest.param(1.0, None, 1, id="panic-missing"),
    pytest.param(1.0, 1.0, None, id="ready-read-error"),
])
def test_invalid_tick_keeps_state(stable, panic, ready):
    st = DeciderState(panic_time=3, max_panic_pods=7)
    r, st2 = decide(DEFAULT, st, stable_avg=stable, panic_avg=panic, ready_pods=ready,
                    reachable=True, now=10)
    assert (r.valid, r.desired_pod_count, r.excess_burst_capacity) == (False, 0, 0)
    assert st2 is st


@pytest.mark.parametrize("ready, panic_time, max_panic", [
    pytest.param(None, None, 0, id="read-error-0"), pytest.param(0, None, 0, id="zero"),
    pytest.param(1, None, 1, id="one-stable"), pytest.param(4, 100.0, 4, id="four-starts-in-panic"),
])
def test_new_decider_state(ready, panic_time, max_panic):
    st = new_decider_state(DEFAULT, ready, now=100.0)
    assert (st.panic_time, st.max_panic_pods, st.delay_window) == (panic_time, max_panic, None)


def test_decider_created_with_ready_pods_keeps_scale_until_data():
    st = new_decider_state(DEFAULT, 4, now=0)
    r, st = decide(DEFAULT, st, stable_avg=0, panic_avg=0, ready_pods=4, reachable=True, now=2)
    assert r.in_panic and r.desired_pod_count == 4


# ---------------------------------------------------------------- scale-down delay (§2.5 step 7, K5)

def delay_settings(delay=300.0):
    return KPASettings(scale_down_delay=delay)


def test_delay_window_fixed_at_creation():
    st = new_decider_state(delay_settings(300), 0, now=0)
    assert st.delay_window == () and st.delay_buckets == 150
    assert new_decider_state(delay_settings(5), 0, now=0).delay_buckets == 3


@pytest.mark.parametrize("now, expected", [
    pytest.param(300, 8, id="t300-still-counts"), pytest.param(301, 8, id="t301-same-bucket"),
    pytest.param(302, 2, id="t302-gone"),
])
def test_value_recorded_at_t2_expires_after_300s(now, expected):
    s = delay_settings(300)
    st = new_decider_state(s, 0, now=0)
    r, st = decide(s, st, stable_avg=560, panic_avg=0, ready_pods=8, reachable=True, now=2)
    assert r.desired_pod_count == 8
    r, st = decide(s, st, stable_avg=140, panic_avg=0, ready_pods=2, reachable=True, now=now)
    assert r.desired_pod_count == expected


def test_k5_scale_down_delay_holds_maximum_for_five_minutes():
    s = delay_settings(300)
    st = new_decider_state(s, 0, now=0)
    r, st = decide(s, st, stable_avg=560, panic_avg=0, ready_pods=8, reachable=True, now=10)
    assert r.desired_pod_count == 8
    outputs = {}
    for now in range(12, 320, 2):
        r, st = decide(s, st, stable_avg=140, panic_avg=0, ready_pods=8, reachable=True, now=now)
        outputs[now] = r.desired_pod_count
    assert all(v == 8 for t, v in outputs.items() if t <= 308)
    assert outputs[310] == 4     # maxDown = floor(8/2) = 4 while 8 are still ready
    assert all(v == 4 for t, v in outputs.items() if t >= 310)


def test_two_values_in_one_bucket_keep_the_larger():
    s = delay_settings(4)
    st = new_decider_state(s, 0, now=0)
    _, st = decide(s, st, stable_avg=700, panic_avg=0, ready_pods=10, reachable=True, now=10.0)
    r, st = decide(s, st, stable_avg=70, panic_avg=0, ready_pods=10, reachable=True, now=11.0)
    assert r.desired_pod_count == 10 and st.delay_window == ((5, 10),)


def test_unreachable_tick_bypasses_delay_window():
    s = delay_settings(300)
    st = new_decider_state(s, 0, now=0)
    _, st = decide(s, st, stable_avg=560, panic_avg=0, ready_pods=8, reachable=True, now=2)
    r, st2 = decide(s, st, stable_avg=0, panic_avg=0, ready_pods=8, reachable=False, now=4)
    assert r.desired_pod_count == 0 and st2.delay_window == st.delay_window


def test_later_settings_without_delay_keep_the_window():
    st = new_decider_state(delay_settings(300), 0, now=0)
    _, st = decide(DEFAULT, st, stable_avg=560, panic_avg=0, ready_pods=8, reachable=True, now=2)
    r, _ = decide(DEFAULT, st, stable_avg=140, panic_avg=0, ready_pods=8, reachable=True, now=4)
    assert r.desired_pod_count == 8
