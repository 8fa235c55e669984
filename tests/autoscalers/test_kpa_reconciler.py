"""KPA reconciler: bounds, initial scale, SKS mode, activators, Active condition, scale to zero (§2.6–2.8)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from labkit.autoscalers.kpa import KPASettings
from labkit.autoscalers.kpa_reconciler import (
    ACTIVATION_TIMEOUT, PAState, apply_bounds, handle_scale_to_zero, new_pa_state,
    number_of_activators, reconcile_pa, sks_mode,
)

S = KPASettings()


@pytest.mark.parametrize("lo, hi, x, expected", [
    pytest.param(0, 0, 7, 7, id="unbounded"), pytest.param(2, 0, 1, 2, id="below-min"),
    pytest.param(0, 5, 9, 5, id="above-max"), pytest.param(1, 5, -1, 1, id="no-decision-to-min"),
])
def test_apply_bounds(lo, hi, x, expected):
    assert apply_bounds(lo, hi, x) == expected


@pytest.mark.parametrize("tbc, ready, expected", [
    pytest.param(211, 3, 6, id="k3-three-ready-6"), pytest.param(0, 50, 2, id="tbc-0-min-2"),
    pytest.param(211, 0, 3, id="idle-ceil-2.11"), pytest.param(-1, 5, 5, id="tbc-minus-1-no-extra"),
    pytest.param(-1, 0, 2, id="tbc-minus-1-idle-2"),
])
def test_number_of_activators(tbc, ready, expected):
    assert number_of_activators(KPASettings(target_burst_capacity=tbc), ready) == expected


@pytest.mark.parametrize("want, ebc, inactive, mode", [
    pytest.param(3, 39, False, "Serve", id="k3-ebc-39-serve"),
    pytest.param(2, -61, False, "Proxy", id="k3-ebc-minus-61-proxy"),
    pytest.param(0, 10, False, "Proxy", id="at-zero-proxy"),
    pytest.param(-1, 0, True, "Proxy", id="no-decision-inactive-proxy"),
    pytest.param(-1, 0, False, "Serve", id="no-decision-active-serve"),
    pytest.param(2, -1, False, "Proxy", id="tbc-minus-1-always-proxy"),
    pytest.param(2, 0, False, "Serve", id="tbc-0-serve-above-zero"),
])
def test_sks_mode(want, ebc, inactive, mode):
    assert sks_mode(want, ebc, inactive=inactive) == mode


def active(since=0.0, mode="Serve", proxy_since=None):
    return PAState(active_status="True", active_transition_time=since, sks_mode=mode,
                   proxy_since=proxy_since, scale_target_initialized=True)


def inactive(since, mode="Proxy", proxy_since=None):
    return PAState(active_status="False", active_reason="NoTraffic", active_transition_time=since,
                   sks_mode=mode, proxy_since=proxy_since if proxy_since is not None else since,
                   scale_target_initialized=True)


# ---------------------------------------------------------------- scale-to-zero machine (§2.7)

@pytest.mark.parametrize("settings, state, now, expected", [
    pytest.param(S, active(0), 30, (1, True, 30), id="active-less-than-window-holds-1"),
    pytest.param(S, active(0), 60, (0, False, 0.0), id="active-window-elapsed-marks-inactive"),
    pytest.param(replace(S, enable_scale_to_zero=False), active(0), 600, (1, True, None),
                 id="scale-to-zero-disabled-holds-1"),
    pytest.param(S, new_pa_state(0), 630, (-1, False, 1.0), id="activating-630-not-yet"),
    pytest.param(S, new_pa_state(0), 630.5, (0, True, None), id="activating-timeout-strict"),
    pytest.param(S, new_pa_state(0), 30, (-1, False, 600), id="activating-requeue-remaining"),
    pytest.param(S, inactive(100, mode="Serve"), 200, (0, False, 1.0), id="inactive-probe-fails"),
    pytest.param(replace(S, target_burst_capacity=-1), inactive(100, mode="Serve"), 130,
                 (0, True, None), id="tbc-minus-1-skips-probe"),
    pytest.param(S, inactive(100, proxy_since=0), 100, (0, True, None),
                 id="proxy-already-30s-fast-path"),
    pytest.param(S, inactive(100), 100, (0, False, 30), id="proxy-just-started-wait-grace"),
    pytest.param(S, inactive(100), 130, (0, True, None), id="inactive-grace-elapsed"),
])
def test_handle_scale_to_zero(settings, state, now, expected):
    assert handle_scale_to_zero(settings, state, 0, now=now) == expected


def test_desired_above_zero_passes_through():
    assert handle_scale_to_zero(S, inactive(0), 3, now=1) == (3, True, None)


@pytest.mark.parametrize("now, expected", [
    pytest.param(100, (0, False, 120), id="retention-not-reached"),
    pytest.param(219, (0, False, 1), id="one-second-left"),
    pytest.param(220, (0, True, None), id="retention-2m-reached"),
])
def test_pod_retention_period(now, expected):
    s = replace(S, scale_to_zero_pod_retention_period=120)
    assert handle_scale_to_zero(s, inactive(100, proxy_since=0), 0, now=now) == expected


# ---------------------------------------------------------------- full reconciles

def run_idle(settings, state, *, start, stop, ready=1, spec=1, ebc=-111, step=1.0):
    """Reconcile with desired 0 at every step (and at requeue 0), returning the time of the write to 0."""
    t = start
    while t <= stop:
        d = reconcile_pa(settings, state, desired=0, ebc=ebc, ready_pods=ready,
                         spec_replicas=spec, reachable=True, now=t)
        state = d.state
        if d.want_replicas == 0:
            return t, state
        if d.requeue_after == 0.0:
            continue
        t += step
    return None, state


@pytest.mark.parametrize("proxy_before, retention, removed_at", [
    pytest.param(True, 0, 60, id="k4-small-revision-already-proxy"),
    pytest.param(False, 0, 90, id="k4-serve-until-60-then-grace"),
    pytest.param(True, 120, 180, id="k4-retention-2m"),
])
def test_k4_scale_to_zero_timing(proxy_before, retention, removed_at):
    # Active since long ago; the stable average reaches 0 at t = 60 (last request at t = 0).
    s = replace(S, scale_to_zero_pod_retention_period=retention)
    st = active(since=-500, mode="Proxy" if proxy_before else "Serve",
                proxy_since=-500 if proxy_before else None)
    t, st = run_idle(s, st, start=60, stop=400, ebc=-111 if proxy_before else 5)
    assert t == removed_at
    assert st.active_status == "False" and st.active_reason == "NoTraffic"


def test_active_for_less_than_window_scales_down_to_one():
    d = reconcile_pa(S, active(since=100), desired=0, ebc=-111, ready_pods=3, spec_replicas=3,
                     reachable=True, now=130)
    assert (d.want_replicas, d.requeue_after, d.state.active_status) == (1, 30, "True")


def test_marking_inactive_moves_sks_to_proxy():
    d = reconcile_pa(S, active(since=0), desired=0, ebc=5, ready_pods=1, spec_replicas=1,
                     reachable=True, now=60)
    assert (d.want_replicas, d.want, d.sks_mode) == (None, 0, "Proxy")
    assert d.state.proxy_since == 60 and d.state.active_transition_time == 60
    cond = {c.type: c for c in d.conditions}["Active"]
    assert (cond.status, cond.reason) == ("False", "NoTraffic")


def test_new_revision_initial_scale_and_activation():
    st = new_pa_state(0)
    # No decision yet, activating: min-scale 0 → want 0 not applied, stays activating (queued).
    d = reconcile_pa(S, st, desired=-1, ebc=-111, ready_pods=0, spec_replicas=1, reachable=True, now=0)
    assert (d.want_replicas, d.want, d.state.active_status, d.state.active_reason) == (
        None, -1, "Unknown", "Queued")
    assert d.sks_mode == "Proxy"
    # The first pod gets ready: initial target reached, Active.
    d = reconcile_pa(S, d.state, desired=-1, ebc=-111, ready_pods=1, spec_replicas=1,
                     reachable=True, now=8)
    assert d.state.scale_target_initialized and d.state.active_status == "True"


def test_initial_scale_is_a_floor_until_initialized():
    s = replace(S, initial_scale=3)
    d = reconcile_pa(s, new_pa_state(0), desired=1, ebc=0, ready_pods=0, spec_replicas=3,
                     reachable=True, now=1)
    assert d.want == 3 and d.want_replicas is None and d.state.active_status == "Unknown"
    d = reconcile_pa(s, d.state, desired=1, ebc=0, ready_pods=3, spec_replicas=3, reachable=True, now=20)
    assert d.state.scale_target_initialized and d.state.active_status == "True"
    d = reconcile_pa(s, d.state, desired=1, ebc=0, ready_pods=3, spec_replicas=3, reachable=True, now=22)
    assert d.want_replicas == 1


def test_min_scale_ignored_when_unreachable():
    s = replace(S, min_scale=2)
    st = active(0)
    reach = reconcile_pa(s, st, desired=0, ebc=0, ready_pods=2, spec_replicas=2, reachable=True, now=5)
    unreach = reconcile_pa(s, st, desired=0, ebc=0, ready_pods=2, spec_replicas=2, reachable=False, now=5)
    assert reach.want == 2 and reach.want_replicas is None
    assert unreach.want == 1 and unreach.want_replicas == 1   # active < window: hold 1


def test_max_scale_caps_the_write():
    d = reconcile_pa(replace(S, max_scale=4), active(0), desired=9, ebc=0, ready_pods=2,
                     spec_replicas=2, reachable=True, now=5)
    assert d.want_replicas == 4


def test_activation_from_zero_goes_through_activating():
    st = inactive(0)
    d = reconcile_pa(S, st, desired=1, ebc=-111, ready_pods=0, spec_replicas=0, reachable=True, now=500)
    assert (d.want_replicas, d.state.active_status, d.state.active_reason, d.sks_mode) == (
        1, "Unknown", "Queued", "Proxy")
    d = reconcile_pa(S, d.state, desired=1, ebc=-111, ready_pods=1, spec_replicas=1,
                     reachable=True, now=510)
    assert d.state.active_status == "True" and d.state.active_transition_time == 510


def test_activating_too_long_times_out_to_zero():
    st = PAState(active_status="Unknown", active_reason="Queued", active_transition_time=0,
                 sks_mode="Proxy", proxy_since=0, scale_target_initialized=True)
    d = reconcile_pa(S, st, desired=0, ebc=-111, ready_pods=0, spec_replicas=1, reachable=True,
                     now=ACTIVATION_TIMEOUT + 1)
    assert d.want_replicas == 0
    assert (d.state.active_status, d.state.active_reason) == ("False", "TimedOut")


def test_no_decision_while_inactive_changes_nothing():
    st = inactive(0)
    d = reconcile_pa(S, st, desired=-1, ebc=0, ready_pods=0, spec_replicas=0, reachable=True, now=5)
    assert d.want_replicas is None and d.want == -1 and d.sks_mode == "Proxy"
    assert d.state.active_status == "False"
