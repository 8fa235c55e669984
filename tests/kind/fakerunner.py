"""A recording stand-in for :class:`labkit.backends.kind.runner.Runner`.

It lives in its own module, not in ``conftest.py``: several test folders have a ``conftest``,
so ``from conftest import ...`` picks whichever was imported first in a full run.
"""
from __future__ import annotations

from typing import Callable, Sequence

from labkit.backends.kind.runner import Completed


Responder = Callable[[tuple[str, ...], str | None], "Completed | None"]


class FakeRunner:
    """Records every command; answers from a list of (predicate, response) rules.

    Tools on PATH are ``tools``; an unmatched command succeeds with empty output.
    """

    def __init__(self, tools: Sequence[str] = ("docker", "kind", "kubectl")):
        self.tools = set(tools)
        self.calls: list[tuple[str, ...]] = []
        self.inputs: list[str | None] = []
        self.rules: list[tuple[Callable[[tuple[str, ...]], bool], Responder]] = []

    def which(self, tool: str) -> str | None:
        return f"/usr/bin/{tool}" if tool in self.tools else None

    def on(self, prefix: Sequence[str] | Callable[[tuple[str, ...]], bool],
           returncode: int = 0, stdout: str = "", stderr: str = "",
           fn: Responder | None = None) -> "FakeRunner":
        match = prefix if callable(prefix) else (lambda a, p=tuple(prefix): a[:len(p)] == p)
        self.rules.insert(0, (match, fn or (lambda a, i: Completed(a, returncode, stdout,
                                                                   stderr))))
        return self

    def run(self, args, *, check=True, timeout=None, input=None, stream=False) -> Completed:
        from labkit.backends.kind.runner import CommandError
        args = tuple(str(a) for a in args)
        self.calls.append(args)
        self.inputs.append(input)
        result = Completed(args, 0, "", "")
        for match, respond in self.rules:
            if match(args):
                got = respond(args, input)
                if got is not None:
                    result = got
                    break
        if check and result.returncode != 0:
            raise CommandError(result)
        return result

    def commands(self) -> list[str]:
        return [" ".join(c) for c in self.calls]
