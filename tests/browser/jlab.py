"""A small driver for JupyterLab in a Playwright page: open, restart, run all, read the cells.

Everything goes through JupyterLab's own application object (the server runs with
``--LabApp.expose_app_in_browser=True``, so ``window.jupyterapp`` exists): the same commands
the menus call. Nothing here knows about labkit except :class:`Panel`, which finds the
control panel by its ``labkit-panel`` CSS class.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

#: JS: the notebook panel in the main area, or a clear error.
_CURRENT = """const app = window.jupyterapp; const w = app.shell.currentWidget;
if (!w || !w.sessionContext || !w.content) { throw new Error('no notebook is open'); }"""


@dataclass
class CellReport:
    """One code cell after Run All: its execution count and the errors it printed."""

    index: int
    execution_count: int | None
    errors: list[str] = field(default_factory=list)
    source: str = ""


def wait_for_app(page: Any, timeout_ms: int = 90_000) -> None:
    """Block until JupyterLab's shell is up (the launcher or restored workspace drawn)."""
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell"
                           " && document.querySelector('#jp-main-dock-panel')",
                           timeout=timeout_ms)
    page.evaluate("async () => { await window.jupyterapp.started; await window.jupyterapp.restored; }")


def open_notebook(page: Any, path: str, timeout_ms: int = 60_000) -> None:
    """Open ``path`` (relative to the server root) and wait until its kernel is ready."""
    page.evaluate("async (path) => { const app = window.jupyterapp;"
                  " const w = await app.commands.execute('docmanager:open', {path});"
                  " await w.context.ready; app.shell.activateById(w.id);"
                  " await w.sessionContext.ready; }", path)
    page.wait_for_function("(() => { const w = window.jupyterapp.shell.currentWidget;"
                           " const k = w && w.sessionContext.session"
                           " && w.sessionContext.session.kernel;"
                           " return k && k.status === 'idle'; })()", timeout=timeout_ms)


def settle(page: Any, quiet_ms: int = 300, timeout_ms: int = 30_000) -> None:
    """Wait until the front end has no request to the kernel in flight for ``quiet_ms``.

    Right after a notebook opens, JupyterLab's debugger asks the kernel for its state and
    the widget manager asks for a subshell; a restart before the replies cancels them, and
    JupyterLab logs that as a console error. A learner's first click comes later than that.
    """
    page.evaluate("async ([quiet, timeout]) => {" + _CURRENT + """
        const kernel = () => w.sessionContext.session && w.sessionContext.session.kernel;
        const t0 = performance.now(); let since = null;
        while (performance.now() - t0 < timeout) {
            const k = kernel();
            // KernelConnection keeps its unanswered requests in _futures (JupyterLab 4,
            // @jupyterlab/services src/kernel/default.ts); private, so a missing field
            // only means this wait relies on the kernel status alone
            const busy = !k || k.status !== 'idle' || (k._futures && k._futures.size > 0);
            if (busy) { since = null; } else if (since === null) { since = performance.now(); }
            else if (performance.now() - since >= quiet) { return; }
            await new Promise(r => setTimeout(r, 25));
        }
        throw new Error('the kernel never went quiet');
    }""", [quiet_ms, timeout_ms])


def restart_and_run_all(page: Any, timeout_s: float = 120.0) -> float:
    """Restart the kernel (no dialog), Run All, and wait for the last cell; return seconds.

    JupyterLab's Run All resolves once every cell has an execute reply; after an error the
    kernel aborts the cells queued behind it, so they stay unexecuted (which
    :func:`cells` reports).
    """
    t0 = time.monotonic()
    settle(page)
    page.evaluate("async (ms) => {" + _CURRENT + """
        await w.sessionContext.restartKernel();
        await w.sessionContext.ready;
        const run = app.commands.execute('notebook:run-all-cells');
        const late = new Promise((_, reject) => setTimeout(
            () => reject(new Error('Run All did not finish within ' + ms + ' ms')), ms));
        await Promise.race([run, late]);
    }""", int(timeout_s * 1000))
    # the kernel may still be sending the last outputs: wait until it is idle again
    page.wait_for_function("(() => { const w = window.jupyterapp.shell.currentWidget;"
                           " return w.sessionContext.session.kernel.status === 'idle'; })()",
                           timeout=int(timeout_s * 1000))
    return time.monotonic() - t0


def cells(page: Any) -> list[CellReport]:
    """Every code cell of the current notebook: execution count and error outputs.

    An error is an ``error`` output (a traceback) or a ``stderr`` stream that carries one.
    """
    raw = page.evaluate("() => {" + _CURRENT + """
        const out = []; const cells = w.content.model.cells;
        for (let i = 0; i < cells.length; i++) {
            const c = cells.get(i);
            if (c.type !== 'code') continue;
            out.push({index: i, count: c.executionCount, source: c.sharedModel.getSource(),
                      outputs: c.outputs.toJSON()});
        }
        return out; }""")
    reports = []
    for c in raw:
        errors = []
        for o in c["outputs"]:
            if o.get("output_type") == "error":
                errors.append(f"{o.get('ename')}: {o.get('evalue')}")
            elif o.get("output_type") == "stream" and o.get("name") == "stderr":
                text = "".join(o.get("text", "")) if isinstance(o.get("text"), list) \
                    else str(o.get("text", ""))
                if "Traceback (most recent call last)" in text:
                    errors.append(text.strip().splitlines()[-1])
        reports.append(CellReport(c["index"], c["count"], errors, c["source"]))
    return reports


def output_texts(page: Any) -> list[str]:
    """The text of every stream output of the current notebook (what print() showed)."""
    return page.evaluate("() => {" + _CURRENT + """
        const out = []; const cells = w.content.model.cells;
        for (let i = 0; i < cells.length; i++) {
            const c = cells.get(i);
            if (c.type !== 'code') continue;
            for (const o of c.outputs.toJSON()) {
                if (o.output_type === 'stream') {
                    out.push(Array.isArray(o.text) ? o.text.join('') : String(o.text));
                }
            }
        }
        return out; }""")


def widget_cells(page: Any) -> list[int]:
    """Indexes of the cells whose outputs hold a widget view (for scrolling them into view)."""
    return page.evaluate("() => {" + _CURRENT + """
        const out = []; const cells = w.content.model.cells;
        for (let i = 0; i < cells.length; i++) {
            const c = cells.get(i);
            if (c.type === 'code' && c.outputs.toJSON().some(
                    o => o.data && o.data['application/vnd.jupyter.widget-view+json'])) {
                out.push(i);
            }
        }
        return out; }""")


def scroll_to_cell(page: Any, index: int) -> None:
    """Scroll the notebook so cell ``index`` starts at the top of the visible area."""
    page.evaluate("async (i) => {" + _CURRENT + """
        w.content.activeCellIndex = i;
        await w.content.scrollToItem(i, 'start');
    }""", index)
    page.wait_for_timeout(300)  # let windowed rendering attach the cell's outputs


def scroll_to_end(page: Any) -> None:
    page.evaluate("async () => {" + _CURRENT + """
        const n = w.content.model.cells.length;
        w.content.activeCellIndex = n - 1;
        await w.content.scrollToItem(n - 1, 'end');
    }""")
    page.wait_for_timeout(300)


def visible_height(page: Any) -> float:
    """Height in CSS pixels of the notebook's scrolling area (what a learner sees of it)."""
    return page.evaluate("() => {" + _CURRENT + """
        const outer = w.content.node.querySelector('.jp-WindowedPanel-outer') || w.content.node;
        return outer.getBoundingClientRect().height; }""")


def close_notebook(page: Any) -> None:
    """Shut the current notebook's kernel down and close its tab without saving."""
    page.evaluate("async () => {" + _CURRENT + """
        const id = w.sessionContext.session && w.sessionContext.session.id;
        w.context.model.dirty = false;
        w.dispose();  // widget views go first, so none talks to a kernel being shut down
        if (id) { await app.serviceManager.sessions.shutdown(id); }
    }""")


class Panel:
    """labkit's control panel in the page: Start, Stop, status and the live plot."""

    SELECTOR = ".jp-NotebookPanel:not(.lm-mod-hidden) .labkit-panel"

    def __init__(self, page: Any):
        self.page = page
        self.root = page.locator(self.SELECTOR).first
        self.start = self.root.locator("button", has_text="Start")
        self.stop = self.root.locator("button", has_text="Stop")

    def wait(self, timeout_ms: int = 30_000) -> None:
        self.root.wait_for(timeout=timeout_ms)
        # the plot has been drawn once (plotly sets .data on its div)
        self.page.wait_for_function(
            "(sel) => { const p = document.querySelector(sel + ' .js-plotly-plot');"
            " return p && p.data && p.data.length > 0; }", arg=self.SELECTOR, timeout=timeout_ms)

    def scroll_to_top(self) -> None:
        """Scroll the notebook so the panel's top is at the top of the visible area."""
        self.root.evaluate("e => e.scrollIntoView({block: 'start'})")
        self.page.wait_for_timeout(200)

    def status(self) -> str:
        return self.root.locator(".labkit-status").inner_text()

    def box(self) -> dict[str, float]:
        return self.root.bounding_box()

    def plot_box(self) -> dict[str, float]:
        """The drawn figure (plotly's SVG), not the div around it."""
        return self.root.locator(".js-plotly-plot .main-svg").first.bounding_box()

    def points(self) -> int:
        """Points in the plot's first trace (spec replicas), as drawn in the page."""
        return self.page.evaluate(
            "(sel) => { const p = document.querySelector(sel + ' .js-plotly-plot');"
            " return p && p.data && p.data[0].x ? p.data[0].x.length : -1; }", self.SELECTOR)

    def start_sampler(self) -> None:
        """Record (ms since the page's origin, point count) every 10 ms in the page."""
        self.page.evaluate("""(sel) => {
            window.__labkitSamples = [];
            if (window.__labkitSampler) clearInterval(window.__labkitSampler);
            window.__labkitSampler = setInterval(() => {
                const p = document.querySelector(sel + ' .js-plotly-plot');
                const n = p && p.data && p.data[0].x ? p.data[0].x.length : -1;
                window.__labkitSamples.push([performance.now(), n]);
            }, 10); }""", self.SELECTOR)

    def stop_sampler(self) -> list[tuple[float, int]]:
        return [tuple(s) for s in self.page.evaluate(
            "() => { clearInterval(window.__labkitSampler); window.__labkitSampler = null;"
            " return window.__labkitSamples; }")]

    def now_ms(self) -> float:
        return self.page.evaluate("() => performance.now()")
