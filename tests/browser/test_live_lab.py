"""The live lab in a real browser: JupyterLab + Debian's headless Chromium via Playwright.

Opens notebooks/demo-live.ipynb (a copy, so autosave never touches the repo), runs all cells,
presses Start and checks that the live figure's replica trace grows. Saves a screenshot to
artifacts/live-lab.png and the refresh rate the page saw to artifacts/live-lab-refresh.json.

Only Debian's /usr/bin/chromium is used (``apt-get install -y chromium fonts-liberation``);
Playwright's own browser download cannot work here. Every request not to 127.0.0.1 or
localhost is aborted.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
from urllib.parse import urlsplit

import psutil
import pytest

from labkit import _procs

REPO = _procs.REPO_ROOT
ARTIFACTS = REPO / "artifacts"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium"
                                        if os.path.exists("/usr/bin/chromium") else None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed; install it "
                       "with `apt-get install -y chromium fonts-liberation` (.ci/run does)"),
]

# the plot's first trace is "spec replicas" (labkit.live.figure.TRACES)
REPLICA_POINTS = ("(() => { const p = document.querySelector('.js-plotly-plot');"
                  " return p && p.data && p.data[0].x ? p.data[0].x.length : -1; })()")


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab on 127.0.0.1 with a token, private config/data dirs and no news pop-up."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(REPO / "notebooks" / "demo-live.ipynb", root / "demo-live.ipynb")
    settings = tmp_path / "app-settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(json.dumps({
        "@jupyterlab/apputils-extension:notification": {"fetchNews": "false",
                                                        "checkForUpdates": False}}))
    token, port = secrets.token_hex(16), _procs.free_port()
    env = {**os.environ,
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "IPYTHONDIR": str(tmp_path / "ipython"),
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH"))
                                         if p)}
    env.pop("LABKIT_LIVE", None)
    cmd = [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser",
           "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", f"--LabApp.app_settings_dir={settings}",
           f"--LabApp.user_settings_dir={tmp_path / 'user-settings'}",
           f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"]
    log = (tmp_path / "jupyterlab.log").open("wb")
    proc = _procs.spawn(cmd, env=env, cwd=str(root), log=log)
    try:
        _procs.wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc,
                         timeout=60, what="JupyterLab", log_path=str(tmp_path / "jupyterlab.log"))
        yield f"http://127.0.0.1:{port}", token
    finally:
        kernels = [p for p in psutil.Process(proc.pid).children(recursive=True)]
        _procs.terminate(proc, timeout=15)  # SIGTERM: the server shuts its kernels down
        log.close()
        for k in kernels:
            try:
                k.wait(10)
            except psutil.TimeoutExpired:
                k.kill()
                pytest.fail(f"kernel {k.pid} outlived JupyterLab")
            except psutil.NoSuchProcess:
                pass


def _local_only(route) -> None:
    host = urlsplit(route.request.url).hostname or ""
    if host in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()


def test_start_moves_the_live_figure(jupyterlab):
    playwright = pytest.importorskip("playwright.sync_api")
    base, token = jupyterlab
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 2000})
            context.route("**/*", _local_only)
            page = context.new_page()
            page.goto(f"{base}/lab/tree/demo-live.ipynb?token={token}")
            page.wait_for_function("window.jupyterapp && document.querySelector("
                                   "'.jp-Notebook .jp-Cell')", timeout=60_000)
            # wait for the notebook's own kernel, then run all without awaiting the promise
            page.evaluate("async () => { const w = window.jupyterapp.shell.currentWidget;"
                          " await w.sessionContext.ready; }")
            page.evaluate("() => { window.jupyterapp.commands.execute("
                          "'notebook:run-all-cells'); }")
            start = page.locator("button[title='start the run with these settings']")
            try:
                start.wait_for(timeout=60_000)
            except playwright.Error:
                page.screenshot(path=str(ARTIFACTS / "live-lab-failure.png"), full_page=True)
                raise
            page.wait_for_function(f"{REPLICA_POINTS} >= 0", timeout=60_000)
            before = page.evaluate(REPLICA_POINTS)
            start.click()
            t0, samples = time.monotonic(), []
            while time.monotonic() - t0 < 12:
                samples.append((time.monotonic() - t0, page.evaluate(REPLICA_POINTS)))
                if "done" in (page.locator(".widget-html-content").first.inner_text() or ""):
                    break
                page.wait_for_timeout(50)
            page.wait_for_timeout(500)
            after = page.evaluate(REPLICA_POINTS)
            start.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "live-lab.png"), full_page=True)
            status = page.locator(".widget-html-content").first.inner_text()
        finally:
            browser.close()

    changes = [(t, n) for (t, n), (_, prev) in zip(samples[1:], samples) if n != prev]
    span = changes[-1][0] - changes[0][0] if len(changes) > 1 else 0.0
    rate = (len(changes) - 1) / span if span else 0.0
    (ARTIFACTS / "live-lab-refresh.json").write_text(json.dumps(
        {"redraws_seen": len(changes), "seconds": round(span, 2),
         "redraws_per_second": round(rate, 2), "points_before": before,
         "points_after": after}, indent=1))
    assert before == 0
    assert after > before, f"the replica trace did not grow (status: {status!r})"
    assert len(changes) >= 3, f"the figure changed only {len(changes)} times while running"
    assert rate >= 2.0, f"the page saw {rate:.2f} redraws per second"
    assert "done" in status or "running" in status
