"""Load only goes to loopback unless the caller opts in; children never outlive labkit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from labkit import _procs
from labkit.appserver import AppServer
from labkit.errors import LabkitError, UnsafeTargetError
from labkit.load import profile
from labkit.loadgen import LocustProcess, drive


@pytest.mark.parametrize("url, ok", [
    pytest.param("http://127.0.0.1:8080", True, id="ipv4-loopback"),
    pytest.param("http://127.3.4.5:80/", True, id="loopback-net"),
    pytest.param("http://localhost:8080", True, id="localhost"),
    pytest.param("http://[::1]:8080", True, id="ipv6-loopback"),
    pytest.param("http://10.0.0.5:8080", False, id="private-net"),
    pytest.param("http://0.0.0.0:8080", False, id="any-address"),
    pytest.param("https://example.com", False, id="internet-name"),
    pytest.param("http://localhost.evil.com", False, id="lookalike-name"),
])
def test_only_loopback_targets_without_opt_in(url, ok):
    if ok:
        assert _procs.check_target(url) == url
    else:
        with pytest.raises(UnsafeTargetError, match="allow_remote=True"):
            _procs.check_target(url)
        assert _procs.check_target(url, allow_remote=True) == url


def test_refused_before_any_process_starts():
    with pytest.raises(UnsafeTargetError):
        LocustProcess("http://192.168.1.10:8080")
    with pytest.raises(UnsafeTargetError):
        drive(profile("constant", users=1, duration=1), "http://192.168.1.10:8080")
    with pytest.raises(UnsafeTargetError):
        AppServer(host="0.0.0.0")
    assert _procs.running_children() == []


def test_not_a_url_is_refused():
    with pytest.raises(LabkitError, match="http"):
        _procs.check_target("127.0.0.1:8080")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


PARENT = textwrap.dedent("""
    import sys, threading, time
    from labkit import _procs
    box = []
    t = threading.Thread(target=lambda: box.append(_procs.spawn(["sleep", "120"])))
    t.start(); t.join()          # spawned from a thread that is gone now
    print(box[0].pid, flush=True)
    if sys.argv[1] == "exit":
        sys.exit(0)              # ordinary exit: atexit stops the child
    time.sleep(120)              # else wait to be killed
""")


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_children_die_with_their_parent(how):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, how], stdout=subprocess.PIPE,
                              text=True, cwd=str(_procs.REPO_ROOT))
    try:
        child = int(parent.stdout.readline())
        if how == "sigkill":  # what a kernel restart does when the kernel will not stop
            assert _alive(child)  # outlived the thread that spawned it
            parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert _wait_gone(child), f"child {child} outlived its parent ({how})"
    finally:
        parent.kill()
        parent.wait()
