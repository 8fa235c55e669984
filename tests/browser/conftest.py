"""One JupyterLab and one headless Chromium for the whole browser session.

The server runs on 127.0.0.1 with a token and private config, data, settings and workspace
directories, serving what ``make lab`` serves: the learner's copies (solutions removed) in a
fresh folder, but without the LABKIT_LEARNER=1 that ``labkit lab`` sets: the copies must say
"Not yet" on their own, however a learner opens them (plain ``jupyter lab`` included). The
browser is Debian's /usr/bin/chromium (``apt-get install -y chromium fonts-liberation``;
Playwright's own browser download cannot work here) and every request not to 127.0.0.1 or
localhost is aborted. One page stays open across the tests: JupyterLab loads once, each test
opens its notebook in a new tab and closes it (kernel shut down) at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from labkit import _procs, student
from labkit.checks import LEARNER_ENV

import jlab

REPO = _procs.REPO_ROOT
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium"
                                        if os.path.exists("/usr/bin/chromium") else None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
#: A common laptop screen: the panel must be usable at this size.
VIEWPORT = {"width": 1366, "height": 768}


def pytest_collection_modifyitems(items):
    skip = pytest.mark.skip(reason="Debian's chromium is not installed; install it with "
                            "`apt-get install -y chromium fonts-liberation` (.ci/run does)")
    for item in items:
        if "browser" in item.keywords and CHROMIUM is None:
            item.add_marker(skip)


# Module scope: JupyterLab and its kernels are gone before later test folders (tests/load)
# check that labkit left no child process running.
@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """(base URL, token, root dir, log file) of a JupyterLab serving the learner copies."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # no screenshot left from an earlier run
    tmp = tmp_path_factory.mktemp("jupyterlab")
    root = tmp / "learner"
    written, _ = student.learner_copies(root)
    assert written, "no learner copies were written"
    settings = REPO / "labkit" / "data" / "lab-settings"  # labkit lab's: no news pop-up
    token, port = secrets.token_hex(16), _procs.free_port()
    env = {**os.environ,
           "JUPYTER_CONFIG_DIR": str(tmp / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "IPYTHONDIR": str(tmp / "ipython"),
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH"))
                                         if p)}
    env.pop("LABKIT_LIVE", None)  # the kernels must see JupyterLab as their front end
    env.pop(LEARNER_ENV, None)  # the copies' own marker must be enough
    cmd = [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser",
           "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", f"--LabApp.app_settings_dir={settings}",
           f"--LabApp.user_settings_dir={tmp / 'user-settings'}",
           f"--LabApp.workspaces_dir={tmp / 'workspaces'}"]
    log_path = tmp / "jupyterlab.log"
    log = log_path.open("wb")
    proc = _procs.spawn(cmd, env=env, cwd=str(root), log=log)
    try:
        _procs.wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc,
                         timeout=60, what="JupyterLab", log_path=str(log_path))
        yield f"http://127.0.0.1:{port}", token, root, log_path
    finally:
        kernels = list(psutil.Process(proc.pid).children(recursive=True))
        _procs.terminate(proc, timeout=15)  # SIGTERM: the server shuts its kernels down
        log.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log_path, ARTIFACTS / "jupyterlab.log")
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


class Console:
    """JavaScript errors of the page (console.error and uncaught exceptions), per test."""

    def __init__(self):
        self.messages: list[str] = []
        self.mark = 0

    def on_console(self, msg) -> None:
        if msg.type == "error":
            self.messages.append(f"console.error: {msg.text}")

    def on_pageerror(self, err) -> None:
        self.messages.append(f"uncaught: {err}")

    def since_mark(self) -> list[str]:
        return self.messages[self.mark:]


@pytest.fixture(scope="module")
def lab_page(lab_server):
    """(page, console) of JupyterLab in headless Chromium at a laptop's screen size."""
    sync_api = pytest.importorskip("playwright.sync_api")
    base, token, _, _ = lab_server
    console = Console()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.route("**/*", _local_only)
            page = context.new_page()
            page.on("console", console.on_console)
            page.on("pageerror", console.on_pageerror)
            page.goto(f"{base}/lab?token={token}")
            jlab.wait_for_app(page)
            yield page, console
        finally:
            browser.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
