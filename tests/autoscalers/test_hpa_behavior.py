"""HPA normalization (spec §1.9 legacy path, §1.10 behavior path), one row per rule."""

from __future__ import annotations

import pytest

from labkit.autoscalers.behavior import (
    Behavior, HPAState, Recommendation, ScaleEvent, ScalingPolicy, ScalingRules,
    default_behavior, normalize_legacy, normalize_with_behavior, replicas_change_per_period,
    scale_down_limit, scale_up_limit, seed_state, stabilize_legacy, stabilize_with_behavior,
    store_scale_event)

UP_DEFAULT = ScalingRules(0, "Max", (ScalingPolicy("Pods", 4, 15),
                                     ScalingPolicy("Percent", 100, 15)), None)
DOWN_DEFAULT = ScalingRules(300, "Max", (ScalingPolicy("Percent", 100, 15),), None)


# ----------------------------------------------------------------------------- defaulting
DEFAULTING_CASES = [
    pytest.param(Behavior(), Behavior(UP_DEFAULT, DOWN_DEFAULT), id="empty-behavior"),
    pytest.param(Behavior(scale_up=ScalingRules(select_policy="Min")),
                 Behavior(ScalingRules(0, "Min", UP_DEFAULT.policies, None), DOWN_DEFAULT),
                 id="only-selectPolicy-written"),
    pytest.param(Behavior(scale_up=ScalingRules(stabilization_window_seconds=60)),
                 Behavior(ScalingRules(60, "Max", UP_DEFAULT.policies, None), DOWN_DEFAULT),
                 id="only-window-written"),
    pytest.param(Behavior(scale_up=ScalingRules(policies=(ScalingPolicy("Pods", 1, 60),))),
                 Behavior(ScalingRules(0, "Max", (ScalingPolicy("Pods", 1, 60),), None),
                          DOWN_DEFAULT),
                 id="written-policies-replace-the-whole-default-list"),
    pytest.param(Behavior(scale_down=ScalingRules(stabilization_window_seconds=0)),
                 Behavior(UP_DEFAULT, ScalingRules(0, "Max", DOWN_DEFAULT.policies, None)),
                 id="scale-down-window-0-kept"),
    pytest.param(Behavior(scale_down=ScalingRules(tolerance=0.05)),
                 Behavior(UP_DEFAULT, ScalingRules(300, "Max", DOWN_DEFAULT.policies, 0.05)),
                 id="tolerance-kept"),
    pytest.param(Behavior(scale_down=ScalingRules(select_policy="Disabled")),
                 Behavior(UP_DEFAULT, ScalingRules(300, "Disabled", DOWN_DEFAULT.policies,
                                                   None)),
                 id="disabled-kept"),
]


@pytest.mark.parametrize("written, defaulted", DEFAULTING_CASES)
def test_default_behavior_field_by_field(written, defaulted):
    assert default_behavior(written) == defaulted


def test_scale_down_window_comes_from_the_controller_flag():
    assert default_behavior(Behavior(), downscale_stabilization=120).scale_down \
        .stabilization_window_seconds == 120
    assert default_behavior(Behavior(), downscale_stabilization=None).scale_down \
        .stabilization_window_seconds is None


def test_defaulting_is_idempotent():
    once = default_behavior(Behavior(scale_up=ScalingRules(select_policy="Min")))
    assert default_behavior(once) == once


# ----------------------------------------------------------------------------- stabilization
def recs(*pairs):
    return tuple(Recommendation(r, t) for r, t in pairs)


def test_legacy_window_is_a_rolling_maximum_including_the_boundary():
    history = recs((10, -300.0), (8, -100.0), (6, -400.0))
    stab, new = stabilize_legacy(history, 4, 0.0, 300.0)
    assert stab == 10                               # -300 is not older than now - 300
    assert new == recs((10, -300.0), (8, -100.0), (4, 0.0))   # overwrote the old -400 entry


def test_legacy_store_overwrites_the_last_old_entry_and_keeps_the_others():
    history = recs((1, -900.0), (2, -800.0), (3, -10.0))
    _, new = stabilize_legacy(history, 5, 0.0, 300.0)
    assert new == recs((1, -900.0), (5, 0.0), (3, -10.0))


def test_legacy_store_appends_when_nothing_is_old():
    _, new = stabilize_legacy(recs((3, -10.0)), 5, 0.0, 300.0)
    assert new == recs((3, -10.0), (5, 0.0))


STABILIZE_CASES = [
    # id, history, desired, current, up window, down window, expected, reason
    pytest.param(recs((3, -50.0), (8, -40.0), (5, -10.0)), 9, 4, 60, 300, 4,
                 "ScaleUpStabilized", id="E11-scale-up-to-lowest-recent"),
    pytest.param(recs((10, -250.0), (8, -100.0), (6, -20.0)), 4, 10, 0, 300, 10,
                 "ScaleDownStabilized", id="E12-scale-down-to-highest-recent"),
    pytest.param(recs((10, -300.0), (8, -100.0)), 4, 10, 0, 300, 8,
                 "ScaleDownStabilized", id="entry-exactly-at-window-edge-not-counted"),
    pytest.param(recs((3, -50.0)), 9, 4, 0, 300, 9, "ScaleUpStabilized",
                 id="up-window-0-immediate"),
    pytest.param(recs((12, -20.0)), 4, 10, 0, 0, 4, "ScaleDownStabilized",
                 id="down-window-0-immediate"),
]


@pytest.mark.parametrize("history, desired, current, up, down, expected, reason",
                         STABILIZE_CASES)
def test_stabilize_with_behavior(history, desired, current, up, down, expected, reason):
    stab, why, _, new = stabilize_with_behavior(history, desired=desired, current=current,
                                                up_window=up, down_window=down, now=0.0)
    assert (stab, why) == (expected, reason)
    assert new[-1] == Recommendation(desired, 0.0) or Recommendation(desired, 0.0) in new


def test_behavior_store_reuses_only_entries_older_than_both_windows():
    history = recs((1, -400.0), (2, -100.0), (3, -350.0))
    _, _, _, new = stabilize_with_behavior(history, desired=7, current=3, up_window=60,
                                           down_window=300, now=0.0)
    assert new == recs((1, -400.0), (2, -100.0), (7, 0.0))


def test_seed_state_only_when_empty():
    assert seed_state(None, 3, 5.0).recommendations == recs((3, 5.0))
    kept = HPAState(recommendations=recs((2, 1.0)))
    assert seed_state(kept, 3, 5.0) is kept


# ----------------------------------------------------------------------------- rate limits
def ev(change, t, outdated=False):
    return ScaleEvent(change, t, outdated)


def test_period_counts_events_strictly_newer_than_cutoff():
    events = (ev(4, -15.0), ev(5, -14.0), ev(1, -100.0))
    assert replicas_change_per_period(events, 15, 0.0) == 5


LIMIT_CASES = [
    # id, direction, current, up events, down events, rules, expected limit
    pytest.param("up", 1, (), (), UP_DEFAULT, 5, id="E9-t0-pods-4-beats-percent-100"),
    pytest.param("up", 10, (), (), UP_DEFAULT, 20, id="percent-100-doubles"),
    pytest.param("up", 5, (ev(4, -10.0),), (), UP_DEFAULT, 5, id="period-start-subtracts-adds"),
    pytest.param("up", 1, (), (), ScalingRules(0, "Min", UP_DEFAULT.policies), 2,
                 id="min-select-takes-smaller"),
    pytest.param("up", 3, (), (), ScalingRules(0, "Disabled", UP_DEFAULT.policies), 3,
                 id="disabled-up"),
    pytest.param("up", 3, (), (), ScalingRules(0, "Max", (ScalingPolicy("Percent", 10, 60),)),
                 4, id="percent-ceil-up"),
    pytest.param("down", 80, (), (), ScalingRules(0, "Max", (ScalingPolicy("Pods", 4, 60),
                                                             ScalingPolicy("Percent", 10, 60))),
                 72, id="E10-t0-max-takes-largest-change"),
    pytest.param("down", 72, (), (ev(8, -15.0),),
                 ScalingRules(0, "Max", (ScalingPolicy("Pods", 4, 60),
                                         ScalingPolicy("Percent", 10, 60))),
                 72, id="E10-t15-removed-pods-count-back"),
    pytest.param("down", 80, (), (), ScalingRules(0, "Min", (ScalingPolicy("Pods", 4, 60),
                                                             ScalingPolicy("Percent", 10, 60))),
                 76, id="min-select-down-takes-smaller-change"),
    pytest.param("down", 9, (), (), ScalingRules(0, "Max", (ScalingPolicy("Percent", 50, 60),)),
                 4, id="percent-truncates-down"),
    pytest.param("down", 9, (), (), ScalingRules(0, "Disabled", DOWN_DEFAULT.policies), 9,
                 id="disabled-down"),
    pytest.param("down", 4, (), (), DOWN_DEFAULT, 0, id="percent-100-allows-zero"),
]


@pytest.mark.parametrize("direction, current, up, down, rules, expected", LIMIT_CASES)
def test_policy_limits(direction, current, up, down, rules, expected):
    fn = scale_up_limit if direction == "up" else scale_down_limit
    assert fn(current, up, down, rules, 0.0) == expected


def test_store_scale_event_marks_outdated_and_reuses_the_last_marked_slot():
    b = default_behavior(Behavior(scale_down=ScalingRules(
        policies=(ScalingPolicy("Pods", 4, 60), ScalingPolicy("Percent", 10, 30)))))
    state = HPAState(scale_down_events=(ev(8, -200.0), ev(7, -100.0), ev(6, -10.0)))
    new = store_scale_event(state, b, 20, 15, 0.0)
    # longest period 60 s: both old events are marked, the newer marked slot is reused
    assert new.scale_down_events == (ev(8, -200.0, True), ev(5, 0.0), ev(6, -10.0))
    again = store_scale_event(new, b, 15, 13, 5.0)
    assert again.scale_down_events == (ev(2, 5.0), ev(5, 0.0), ev(6, -10.0))


def test_store_scale_event_appends_and_nil_behavior_records_nothing():
    b = default_behavior(Behavior())
    state = store_scale_event(HPAState(), b, 1, 5, 0.0)
    state = store_scale_event(state, b, 5, 10, 15.0)
    assert state.scale_up_events == (ev(4, 0.0), ev(5, 15.0))
    assert store_scale_event(HPAState(), None, 1, 5, 0.0) == HPAState()


# ----------------------------------------------------------------------------- legacy path
LEGACY_CASES = [
    # id, current, desired, min, max, history, expected, limited reason, able reason
    pytest.param(1, 20, 1, 20, (), 4, "ScaleUpLimit", "ReadyForNewScale",
                 id="E8-first-step-max-2c-4"),
    pytest.param(8, 20, 1, 20, (), 16, "ScaleUpLimit", "ReadyForNewScale", id="E8-doubling"),
    pytest.param(16, 40, 1, 20, (), 20, "TooManyReplicas", "ReadyForNewScale",
                 id="E8-max-reached"),
    pytest.param(10, 30, 1, 20, (), 20, "TooManyReplicas", "ReadyForNewScale",
                 id="up-limit-equal-to-max-is-TooManyReplicas"),
    pytest.param(5, 0, 2, 20, (), 2, "TooFewReplicas", "ReadyForNewScale",
                 id="below-min"),
    pytest.param(10, 4, 1, 20, recs((10, -250.0), (8, -100.0)), 10, "DesiredWithinRange",
                 "ScaleDownStabilized", id="E12-legacy-5-minute-max"),
    pytest.param(10, 4, 1, 20, recs((10, -301.0), (6, -100.0)), 6, "DesiredWithinRange",
                 "ScaleDownStabilized", id="old-recommendation-expired"),
    pytest.param(3, 3, 1, 20, (), 3, "DesiredWithinRange", "ReadyForNewScale", id="no-change"),
]


@pytest.mark.parametrize("current, desired, lo, hi, history, expected, limited, able",
                         LEGACY_CASES)
def test_normalize_legacy(current, desired, lo, hi, history, expected, limited, able):
    n = normalize_legacy(current_replicas=current, metric_desired_replicas=desired,
                         min_replicas=lo, max_replicas=hi,
                         state=HPAState(recommendations=history), now=0.0)
    assert (n.desired_replicas, n.scaling_limited_reason, n.able_to_scale_reason) == \
        (expected, limited, able)
    assert n.scaling_limited == (limited != "DesiredWithinRange")
    assert n.state.recommendations[-1] == Recommendation(desired, 0.0) or \
        Recommendation(desired, 0.0) in n.state.recommendations


# ----------------------------------------------------------------------------- behavior path
BEHAVIOR_CASES = [
    # id, behavior, current, desired, min, max, state, expected, limited reason
    pytest.param(Behavior(), 1, 20, 1, 20, HPAState(), 5, "ScaleUpLimit", id="E9-t0"),
    pytest.param(Behavior(), 5, 20, 1, 20, HPAState(scale_up_events=(ev(4, -15.0),)), 10,
                 "ScaleUpLimit", id="E9-t15-previous-event-just-outside-period"),
    pytest.param(Behavior(), 5, 20, 1, 20, HPAState(scale_up_events=(ev(4, -14.0),)), 5,
                 "ScaleUpLimit", id="event-inside-period-holds-scale-up"),
    pytest.param(Behavior(), 10, 20, 1, 20, HPAState(), 20, "DesiredWithinRange",
                 id="E9-t30-reaches-20"),
    pytest.param(Behavior(), 10, 40, 1, 20, HPAState(), 20, "TooManyReplicas",
                 id="limit-equal-max-is-TooManyReplicas"),
    pytest.param(Behavior(scale_down=ScalingRules(0, None, (ScalingPolicy("Pods", 4, 60),
                                                            ScalingPolicy("Percent", 10, 60)))),
                 80, 10, 1, 100, HPAState(), 72, "ScaleDownLimit", id="E10-t0"),
    pytest.param(Behavior(scale_down=ScalingRules(0)), 5, 0, 2, 20, HPAState(), 2,
                 "TooFewReplicas", id="down-limit-below-min-is-TooFewReplicas"),
    pytest.param(Behavior(scale_down=ScalingRules(0, "Disabled")), 5, 1, 1, 20, HPAState(), 5,
                 "ScaleDownLimit", id="scale-down-disabled"),
    pytest.param(Behavior(scale_up=ScalingRules(select_policy="Disabled")), 5, 9, 1, 20,
                 HPAState(), 5, "ScaleUpLimit", id="scale-up-disabled"),
    pytest.param(Behavior(), 3, 3, 5, 20, HPAState(), 3, "DesiredWithinRange",
                 id="no-change-no-clamp-even-below-min"),
]


@pytest.mark.parametrize("behavior, current, desired, lo, hi, state, expected, limited",
                         BEHAVIOR_CASES)
def test_normalize_with_behavior(behavior, current, desired, lo, hi, state, expected, limited):
    n = normalize_with_behavior(behavior=behavior, current_replicas=current,
                                metric_desired_replicas=desired, min_replicas=lo,
                                max_replicas=hi, state=state, now=0.0)
    assert (n.desired_replicas, n.scaling_limited_reason) == (expected, limited)
    assert n.scaling_limited == (expected != n.stabilized_replicas)


def test_E11_through_normalize_reports_scale_up_stabilized():
    state = HPAState(recommendations=recs((3, -50.0), (8, -40.0), (5, -10.0)))
    n = normalize_with_behavior(behavior=Behavior(scale_up=ScalingRules(60)),
                                current_replicas=4, metric_desired_replicas=9, min_replicas=1,
                                max_replicas=20, state=state, now=0.0)
    assert (n.desired_replicas, n.able_to_scale_reason) == (4, "ScaleUpStabilized")
    assert n.able_to_scale_message.startswith("recent recommendations were lower")
