"""Every course notebook and demo-live, run as a learner runs them: in JupyterLab, in Chromium,
on the learner's copies that ``make lab`` opens (exercises unsolved).

For each notebook: open it, restart the kernel, Run All, and fail on any error output, any
code cell left unexecuted, or any JavaScript error in the page. Where the notebook shows
labkit's control panel, the panel must fit a laptop screen; Start must move the live figure
and Stop must end the run (the status line says where it stopped, the plot stops growing).
Each notebook leaves screenshots in artifacts/browser/ (``<notebook>-panel.png`` where a
panel is shown, ``<notebook>-end.png`` for the end of the notebook), and the panel's timings
go to artifacts/browser/live-timings.json.

Headless executors (papermill, nbval, ``labkit verify``) skip the widget cells, so this is the
only test of what a learner reaches by clicking.
"""

from __future__ import annotations

import json
import time

import pytest

import jlab
from labkit import _procs

pytestmark = pytest.mark.browser

NOTEBOOKS = sorted(p.name for p in (_procs.REPO_ROOT / "notebooks").glob("*.ipynb"))
#: Seconds a Run All may take here (the slowest notebook needs ~6 s on 2 shared cores).
RUN_ALL_TIMEOUT = 180.0
#: Seconds of live updates watched after Start, before Stop is pressed.
WATCH = 2.0

_timings: dict[str, dict] = {}


def test_every_notebook_is_collected():
    assert {"00-setup.ipynb", "01-hpa-v1.ipynb", "demo-live.ipynb"} <= set(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS, ids=[n.removesuffix(".ipynb") for n in NOTEBOOKS])
def test_notebook_runs_all_in_jupyterlab(name, lab_page, artifacts):
    page, console = lab_page
    console.mark = len(console.messages)
    stem = name.removesuffix(".ipynb")
    t_open = time.monotonic()
    jlab.open_notebook(page, name)
    opened = time.monotonic() - t_open
    try:
        run_all = jlab.restart_and_run_all(page, RUN_ALL_TIMEOUT)
        report = jlab.cells(page)
        outputs = jlab.output_texts(page)
        errors = [f"cell {c.index}: {e}" for c in report for e in c.errors]
        unexecuted = [f"cell {c.index}: {c.source.splitlines()[0] if c.source else ''!r}"
                      for c in report if c.execution_count is None and c.source.strip()]
        panels = jlab.widget_cells(page)
        live = None
        if panels and not errors:
            try:
                live = _exercise_panel(page, panels[0], artifacts / f"{stem}-panel.png")
                if stem == "demo-live":  # the dropdowns too: another variant, another run
                    live.update(_another_variant(page, artifacts / f"{stem}-knative.png"))
            except Exception:
                page.screenshot(path=str(artifacts / f"{stem}-failure.png"))
                raise
        jlab.scroll_to_end(page)
        page.screenshot(path=str(artifacts / f"{stem}-end.png"))
        js_errors = console.since_mark()
    finally:
        jlab.close_notebook(page)
    _timings[stem] = {"open_s": round(opened, 2), "run_all_s": round(run_all, 2),
                      **(live or {})}
    (artifacts / "live-timings.json").write_text(json.dumps(_timings, indent=1))

    assert not errors, f"{name}: error outputs after Run All:\n" + "\n".join(errors)
    if name[:2].isdigit() and name[:2] != "00":  # every course notebook has an exercise
        assert any("Not yet" in text for text in outputs), (
            f"{name}: the verification cell of an unsolved exercise should say 'Not yet'")
    assert not unexecuted, f"{name}: cells left unexecuted:\n" + "\n".join(unexecuted)
    assert not js_errors, f"{name}: JavaScript errors in the page:\n" + "\n".join(js_errors)
    if live is not None:
        assert live["fits"], (f"{name}: the panel is {live['panel_px']:.0f} px tall, but only "
                              f"{live['visible_px']:.0f} px of the notebook are visible at "
                              "1366x768")
        assert live["first_change_s"] is not None, f"{name}: Start did not move the figure"
        assert live["running_before_stop"], (f"{name}: the run was over before Stop was "
                                             "pressed, so Stop went untested")
        assert live["stopped"], f"{name}: after Stop the status says {live['status']!r}"
        assert live["grew_after_stop"] == 0, (f"{name}: the plot grew by "
                                              f"{live['grew_after_stop']} points after Stop")
    if live is not None and "second_status" in live:
        assert live["second_loaded"], (f"{name}: choosing knative did not load its starting "
                                       f"load: {live['second_load_text']!r}")
        assert live["second_stopped"], (f"{name}: the second run did not stop: "
                                        f"{live['second_status']!r}")
        assert "trace CSV field" in live["trace_error"], live["trace_error"]


def _another_variant(page, screenshot) -> dict:
    """Pick knative in the variant dropdown, Start, see the figure start over, Stop."""
    panel = jlab.Panel(page)
    panel.root.locator("select").first.select_option("knative")
    page.wait_for_function("(sel) => document.querySelector(sel + ' .labkit-status')"
                           ".textContent.includes('100 from t = 30 s')",
                           arg=jlab.Panel.SELECTOR, timeout=10_000)
    load_text = panel.status()
    seconds = panel.root.locator("input[type=number]").first.input_value()
    before = panel.points()
    panel.start.click()
    # a new deploy starts the figure over: fewer points than the first run left
    page.wait_for_function("([sel, n]) => { const p = document.querySelector(sel + "
                           "' .js-plotly-plot'); return p && p.data[0].x.length !== n; }",
                           arg=[jlab.Panel.SELECTOR, before], timeout=20_000)
    page.wait_for_timeout(1000)
    panel.stop.click()
    page.wait_for_function("(sel) => document.querySelector(sel + ' .labkit-status')"
                           ".textContent.includes('stopped at')", arg=jlab.Panel.SELECTOR,
                           timeout=15_000)
    status = panel.status()
    page.screenshot(path=str(screenshot))
    # the trace profile without a CSV file: the panel says what is missing, nothing breaks
    panel.root.locator("select").nth(1).select_option("trace")
    trace_field = panel.root.get_by_placeholder("time,users or time,rps")
    trace_field.wait_for(state="visible", timeout=5_000)
    panel.start.click()
    page.wait_for_function("(sel) => document.querySelector(sel + ' .labkit-status')"
                           ".textContent.includes('error')", arg=jlab.Panel.SELECTOR,
                           timeout=15_000)
    trace_error = panel.status()
    return {"second_load_text": load_text, "second_status": status,
            "second_loaded": "100 from t = 30 s" in load_text and seconds == "300",
            "second_stopped": "stopped at" in status, "trace_error": trace_error}


def _exercise_panel(page, cell: int, screenshot) -> dict:
    """Start, watch, Stop: the numbers a learner would notice (and the screenshot)."""
    jlab.scroll_to_cell(page, cell)
    panel = jlab.Panel(page)
    panel.wait()
    panel.scroll_to_top()  # what a learner does: the panel at the top of the screen
    box, visible = panel.box(), jlab.visible_height(page)
    before = panel.points()
    panel.start_sampler()
    t_click = panel.now_ms()
    panel.start.click()
    # the first visible change, then WATCH seconds of updates
    deadline = time.monotonic() + 20
    first = None
    while time.monotonic() < deadline:
        samples = page.evaluate("() => window.__labkitSamples")
        first = next((t for t, n in samples if t >= t_click and n != before), None)
        if first is not None:
            break
        page.wait_for_timeout(50)
    if first is not None:
        page.wait_for_timeout(int(WATCH * 1000))
    running = "running" in panel.status()
    panel.stop.click()
    page.wait_for_function("(sel) => { const b = [...document.querySelectorAll(sel + ' button')]"
                           ".find(b => b.textContent.includes('Start')); return b && !b.disabled; }",
                           arg=jlab.Panel.SELECTOR, timeout=15_000)
    samples = panel.stop_sampler()
    page.wait_for_timeout(700)  # one last redraw comes after Stop; nothing after that
    settled = panel.points()
    page.wait_for_timeout(700)
    grew = panel.points() - settled
    status = panel.status()
    plot = panel.plot_box()
    page.screenshot(path=str(screenshot))

    changes = [t for (t, n), (_, prev) in zip(samples[1:], samples) if n != prev and t >= t_click]
    while_running = [t for t in changes if first is not None and t <= first + WATCH * 1000]
    span = (while_running[-1] - while_running[0]) / 1000 if len(while_running) > 1 else 0.0
    return {"panel_px": box["height"], "visible_px": visible,
            "plot_width_px": plot["width"], "panel_width_px": box["width"],
            "fits": box["height"] <= visible,
            "first_change_s": None if first is None else round((first - t_click) / 1000, 3),
            "redraws_per_s": round((len(while_running) - 1) / span, 2) if span else 0.0,
            "running_before_stop": running,
            "stopped": "stopped at" in status, "grew_after_stop": grew, "status": status}


def test_the_server_logged_no_traceback(lab_server, lab_page):
    """Last (file order): nothing the notebooks did made JupyterLab's server fail."""
    log = lab_server[3].read_text(errors="replace")
    assert "Traceback (most recent call last)" not in log, log[-3000:]
    assert "[E " not in log, [ln for ln in log.splitlines() if "[E " in ln]
