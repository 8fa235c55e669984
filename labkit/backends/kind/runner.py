"""One small door to the command-line tools (docker, kind, kubectl), so tests can record calls.

``run(["kind", "get", "clusters"])`` returns a :class:`Completed`; a missing tool raises
:class:`~labkit.errors.ToolMissingError` saying what to install. Tests pass a fake runner with
the same ``run`` signature (see ``tests/kind/conftest.py``) and assert on the recorded commands.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import Protocol, Sequence

from ...errors import LabkitError, ToolMissingError

#: What to do when a tool is missing: one line each.
INSTALL_HINTS: dict[str, str] = {
    "docker": "install Docker Desktop (macOS, Windows) or Docker Engine (Linux): "
              "https://docs.docker.com/get-docker/",
    "kind": "install kind v0.33.0: https://kind.sigs.k8s.io/docs/user/quick-start/#installation "
            "(e.g. `brew install kind` or `go install sigs.k8s.io/kind@v0.33.0`)",
    "kubectl": "install kubectl v1.36: https://kubernetes.io/docs/tasks/tools/ "
               "(e.g. `brew install kubectl`)",
}


@dataclass(frozen=True)
class Completed:
    """What a command returned."""

    args: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandError(LabkitError):
    """A tool ran but failed; the message carries the command and the end of its stderr."""

    def __init__(self, result: Completed, what: str = ""):
        self.result = result
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        cmd = " ".join(result.args)
        super().__init__(f"{what + ': ' if what else ''}`{cmd}` failed with exit status "
                         f"{result.returncode}" + (":\n  " + "\n  ".join(tail) if tail else ""))


class Runner(Protocol):
    """Runs a command; ``check=True`` raises :class:`CommandError` on a non-zero exit."""

    def run(self, args: Sequence[str], *, check: bool = True, timeout: float | None = None,
            input: str | None = None, stream: bool = False) -> Completed: ...

    def which(self, tool: str) -> str | None: ...


class SubprocessRunner:
    """The real runner: ``subprocess.run`` with text I/O and a timeout."""

    def which(self, tool: str) -> str | None:
        return shutil.which(tool)

    def run(self, args: Sequence[str], *, check: bool = True, timeout: float | None = None,
            input: str | None = None, stream: bool = False) -> Completed:
        args = tuple(str(a) for a in args)
        if self.which(args[0]) is None:
            raise ToolMissingError(f"`{args[0]}` is not installed or not on PATH; "
                                   f"{INSTALL_HINTS.get(args[0], 'install it')}")
        try:
            if stream:  # long steps (kind create, docker build): show their own output live
                p = subprocess.run(args, text=True, timeout=timeout, input=input,
                                   stdout=None, stderr=subprocess.PIPE)
                done = Completed(args, p.returncode, "", p.stderr or "")
            else:
                p = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                                   input=input)
                done = Completed(args, p.returncode, p.stdout, p.stderr)
        except subprocess.TimeoutExpired as e:
            done = Completed(args, 124, "", f"timed out after {timeout:g} s ({e})")
        except FileNotFoundError as e:
            raise ToolMissingError(f"`{args[0]}` could not be started ({e}); "
                                   f"{INSTALL_HINTS.get(args[0], 'install it')}") from e
        if check and not done.ok:
            raise CommandError(done)
        return done
