"""Is there a widget front end to draw a live figure in, or only a headless executor?

Neither papermill nor nbval tells the kernel it is headless (both start an ordinary ipykernel
with the parent's environment), so we look at who started the kernel: the nearest ancestor
process we recognise decides. JupyterLab, Notebook, Voila and VS Code show widgets;
papermill, nbval/pytest, nbconvert and ``jupyter execute`` do not. ``LABKIT_LIVE=0`` or
``=1`` overrides the guess.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Command-line fragments of kernel parents that render widgets.
WIDGET_HOSTS: tuple[str, ...] = ("jupyter-lab", "jupyter-notebook", "jupyter-server",
                                 "jupyterlab", "jupyter_server", "notebook.app", "voila",
                                 "vscode", "jupyter lab", "jupyter notebook")

#: Command-line fragments of kernel parents that execute notebooks without a front end.
HEADLESS_HOSTS: tuple[str, ...] = ("papermill", "nbval", "pytest", "nbconvert", "nbclient",
                                   "jupyter-execute", "jupyter execute", "labkit verify")

_ANCESTORS = 8


def _cmdline(pid: int) -> tuple[str, int]:
    """(command line, parent pid) of ``pid``; ("", 0) when it cannot be read."""
    try:
        import psutil
    except ImportError:  # psutil comes with locust; /proc covers Linux without it
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            stat = Path(f"/proc/{pid}/stat").read_text()
            return raw.decode(errors="replace"), int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return "", 0
    try:
        p = psutil.Process(pid)
        return " ".join(p.cmdline()), p.ppid()
    except (psutil.Error, OSError):
        return "", 0


def classify_parents(cmdlines: list[str]) -> bool | None:
    """True (widgets), False (headless) or None (unknown) from ancestors' command lines.

    The nearest recognised ancestor wins, so a JupyterLab started by pytest (the browser
    test) still counts as a front end.
    """
    for cmd in cmdlines:
        low = cmd.lower()
        # widget hosts first: JupyterLab's own command line may hold a pytest tmp path
        if any(h in low for h in WIDGET_HOSTS):
            return True
        if any(h in low for h in HEADLESS_HOSTS):
            return False
    return None


def in_kernel() -> bool:
    """True inside an IPython kernel (ipykernel), False in a plain interpreter or terminal IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def widget_frontend() -> bool:
    """Whether a live widget will be seen: a kernel whose parent is a widget front end."""
    forced = os.environ.get("LABKIT_LIVE", "").strip().lower()
    if forced in ("0", "false", "no", "static"):
        return False
    if forced in ("1", "true", "yes", "live"):
        return True
    if not in_kernel():
        return False
    cmdlines, pid = [], os.getppid()
    for _ in range(_ANCESTORS):
        if pid <= 1:
            break
        cmd, pid = _cmdline(pid)
        cmdlines.append(cmd)
    verdict = classify_parents(cmdlines)
    return True if verdict is None else verdict
