"""Each variant's starting load in the panel shows it scaling, on the real twin.

A learner who picks a variant and presses Start should see it scale out and, where the
variant can, come back to its minimum (zero for the scale-to-zero ones) within the default
duration: the load and duration come from :data:`labkit.lab.PANEL_LOADS`.
"""

from __future__ import annotations

import pytest

from labkit import lab
from labkit.live import Lab
from labkit.scorecard import scorecard

#: hpa-v2 scales on memory too, which holds a pod or two after the spike (notebook 02)
STAYS_OUT = {"hpa-v2"}


@pytest.mark.parametrize("variant", [v for v in lab.PANEL_LOADS if v != "base"])
def test_the_starting_load_scales_out_and_back(variant):
    panel = Lab("sim", variant=variant, live=True, speed=None)
    tl = panel.run(paced=False)
    card = scorecard(tl)
    assert card["time_to_first_scale_out"] is not None, f"{variant} never scaled out"
    if variant not in STAYS_OUT:
        assert card["time_back_to_min"] is not None, (
            f"{variant} did not return to {tl.meta.get('min_replicas')} pods within "
            f"{panel.duration.value} s")
    if tl.meta.get("min_replicas") == 0:
        assert int(tl.samples.spec_replicas.iloc[-1]) == 0


def test_choosing_a_variant_loads_its_starting_load():
    panel = Lab("sim", variant="hpa-v1", live=True)
    assert (panel.users.value, panel.duration.value) == (60, 600)
    panel.variant.value = "knative"
    want = lab.PANEL_LOADS["knative"]
    assert (panel.profile.value, panel.users.value, panel.spawn_rate.value,
            panel.duration.value) == (want["profile"], want["users"], want["spawn_rate"],
                                      want["duration"])
    assert panel.settings()["base_users"] == 0
    assert "load: spike: 0 users, 100 from t = 30 s" in panel.status.value


def test_the_panel_fires_the_load_the_text_describes():
    # 01's text: "Two users browse quietly; at t = 30 s, 60 users arrive and stay for 150 s"
    panel = Lab("sim", variant="hpa-v1", live=True, users=60, duration=600,
                shape={"base_users": 2, "start": 30, "length": 150})
    assert "spike: 2 users, 60 from t = 30 s for 150 s" in panel.status.value
    panel.profile.value = "constant"  # the fixed shape belongs to the spike only
    assert "base_users" not in panel.settings()
    assert "constant: 60 users" in panel.status.value
