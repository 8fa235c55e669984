"""Verification checks over a Timeline: what an autoscaler did, with tolerant windows.

Each check is a pure function of a :class:`~labkit.timeline.Timeline` that returns a
:class:`Check` (passed or not, what was observed, hints). Notebooks end with one
verification cell that calls :func:`require`::

    require(reached(tl, 4, within=120, after=30),          # scaled up in time
            back_to(tl, 1, within=420, after=150),          # and came back down
            never_removes_more_than(tl, 1, per=60))         # gently

Windows are tolerant on purpose: the same cell must pass on the twin and on a real kind
cluster, where a sync lands anywhere in its 15 s period and metrics are up to 30 s old.
Replica columns are ``spec_replicas`` (what the autoscaler wrote) unless a check says
otherwise; ``ready_replicas`` is what `kubectl get pods` shows as Ready.
"""

from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .errors import LabkitError
from .timeline import Timeline


@dataclass(frozen=True)
class Check:
    """The outcome of one check: its claim, whether it held, what was seen, and hints."""

    claim: str
    passed: bool
    observed: str
    hints: tuple[str, ...] = ()
    #: text to show verbatim under a failing check (the learner's YAML around an error)
    code: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        text = f"[{mark}] {self.claim}: {self.observed}"
        if not self.passed:
            text += "".join(f"\n       hint: {h}" for h in self.hints)
            text += "".join(f"\n       | {line}" for line in self.code.splitlines())
        return text

    def _repr_markdown_(self) -> str:
        # messages quote YAML and parsers ("<block end>", "<your HorizontalPodAutoscaler>"):
        # escaped, or Markdown would take them for HTML tags and drop them. Plain words, no
        # emoji: without an emoji font (minimal Linux, Debian's chromium) they show as boxes
        mark = "PASS" if self.passed else "FAIL"
        text = f"**[{mark}]** **{_md(self.claim)}** — {_md(self.observed)}"
        if not self.passed:
            text += "".join(f"\n\n&nbsp;&nbsp;*hint:* {_md(h)}" for h in self.hints)
            if self.code:
                fence = "````" if "```" in self.code else "```"
                text += f"\n\n{fence}text\n{self.code}\n{fence}"
        return text


def _md(text: str) -> str:
    """Plain text made safe inside Markdown: no HTML tags, no entities."""
    return html.escape(str(text), quote=False)


class VerificationFailed(LabkitError, AssertionError):
    """A verification cell's checks did not all hold; the message lists the failures."""


def _hints(hint: str | Sequence[str] | None) -> tuple[str, ...]:
    if hint is None:
        return ()
    return (hint,) if isinstance(hint, str) else tuple(hint)


def _series(tl: Timeline, column: str, after: float | None = None,
            until: float | None = None) -> pd.DataFrame:
    s = tl.samples
    if column not in s.columns:
        raise LabkitError(f"the Timeline has no column {column!r}; choose one of "
                          f"{', '.join(s.columns)}")
    if after is not None:
        s = s[s.time >= after]
    if until is not None:
        s = s[s.time <= until]
    return s[["time", column]]


def _fmt(t: float) -> str:
    return f"{t:.0f} s"


# -- replicas over time ----------------------------------------------------------------
def reached(tl: Timeline, replicas: int, *, within: float, after: float = 0.0,
            column: str = "ready_replicas", hint: str | Sequence[str] | None = None) -> Check:
    """At least ``replicas`` in ``column`` no later than ``within`` seconds after ``after``."""
    claim = f"at least {replicas} {column.replace('_', ' ')} within {_fmt(within)} of t={_fmt(after)}"
    s = _series(tl, column, after=after)
    hit = s[s[column] >= replicas]
    if hit.empty:
        peak = int(s[column].max()) if len(s) else 0
        return Check(claim, False, f"never reached it (peak {peak})", _hints(hint))
    t = float(hit.time.iloc[0])
    return Check(claim, t - after <= within,
                 f"reached {int(hit[column].iloc[0])} at t={_fmt(t)} ({_fmt(t - after)} after)",
                 _hints(hint))


def back_to(tl: Timeline, replicas: int, *, within: float, after: float,
            column: str = "ready_replicas", hint: str | Sequence[str] | None = None) -> Check:
    """At most ``replicas`` in ``column`` no later than ``within`` seconds after ``after``.

    ``after`` is usually the moment load dropped (the end of a spike).
    """
    claim = (f"back to {replicas} {column.replace('_', ' ')} within {_fmt(within)} "
             f"of t={_fmt(after)}")
    s = _series(tl, column, after=after)
    hit = s[s[column] <= replicas]
    if hit.empty:
        low = int(s[column].min()) if len(s) else 0
        end = float(s.time.iloc[-1]) if len(s) else after
        return Check(claim, False, f"still {low} or more at t={_fmt(end)}", _hints(hint))
    t = float(hit.time.iloc[0])
    return Check(claim, t - after <= within,
                 f"at {int(hit[column].iloc[0])} from t={_fmt(t)} ({_fmt(t - after)} after)",
                 _hints(hint))


def never_exceeds(tl: Timeline, replicas: int, *, column: str = "spec_replicas",
                  hint: str | Sequence[str] | None = None) -> Check:
    """``column`` never goes above ``replicas`` (e.g. maxReplicas holds)."""
    peak = int(tl.samples[column].max()) if len(tl) else 0
    return Check(f"never more than {replicas} {column.replace('_', ' ')}", peak <= replicas,
                 f"peak {peak}", _hints(hint))


def stays_at_least(tl: Timeline, replicas: int, *, after: float = 0.0,
                   until: float | None = None, column: str = "spec_replicas",
                   hint: str | Sequence[str] | None = None) -> Check:
    """``column`` never drops below ``replicas`` between ``after`` and ``until``."""
    s = _series(tl, column, after=after, until=until)
    low = int(s[column].min()) if len(s) else 0
    span = f"t={_fmt(after)}..{_fmt(until)}" if until is not None else f"after t={_fmt(after)}"
    return Check(f"never fewer than {replicas} {column.replace('_', ' ')} {span}",
                 len(s) > 0 and low >= replicas, f"lowest {low}", _hints(hint))


def steps(tl: Timeline, column: str = "spec_replicas") -> pd.DataFrame:
    """Every change of ``column``: columns time, before, after, change (signed)."""
    s = tl.samples[["time", column]].reset_index(drop=True)
    values = s[column].to_numpy()
    idx = np.nonzero(values[1:] != values[:-1])[0] + 1
    out = pd.DataFrame({"time": s.time.to_numpy()[idx], "before": values[idx - 1],
                        "after": values[idx]})
    out["change"] = out["after"] - out["before"]
    return out


def _most_moved(tl: Timeline, per: float, sign: int, column: str) -> tuple[int, float]:
    """Largest number of pods added (sign +1) or removed (-1) in any window (t - per, t]."""
    st = steps(tl, column)
    st = st[np.sign(st.change) == sign]
    best, when = 0, math.nan
    times, moved = st.time.to_numpy(), np.abs(st.change.to_numpy())
    for i, t in enumerate(times):
        total = int(moved[(times > t - per) & (times <= t)].sum())
        if total > best:
            best, when = total, float(t)
    return best, when


def never_removes_more_than(tl: Timeline, pods: int, *, per: float,
                            column: str = "spec_replicas",
                            hint: str | Sequence[str] | None = None) -> Check:
    """No window of ``per`` seconds sees more than ``pods`` pods removed.

    The window is half-open, (t − per, t], as the HPA counts scale events inside a policy's
    ``periodSeconds`` (spec/autoscalers.md §1.10 step B).
    """
    most, when = _most_moved(tl, per, -1, column)
    seen = f"at most {most} removed in any {_fmt(per)}" if most <= pods else \
        f"{most} removed in the {_fmt(per)} up to t={_fmt(when)}"
    return Check(f"never removes more than {pods} pod(s) per {_fmt(per)}", most <= pods, seen,
                 _hints(hint))


def never_adds_more_than(tl: Timeline, pods: int, *, per: float, column: str = "spec_replicas",
                         hint: str | Sequence[str] | None = None) -> Check:
    """No window of ``per`` seconds sees more than ``pods`` pods added."""
    most, when = _most_moved(tl, per, +1, column)
    seen = f"at most {most} added in any {_fmt(per)}" if most <= pods else \
        f"{most} added in the {_fmt(per)} up to t={_fmt(when)}"
    return Check(f"never adds more than {pods} pod(s) per {_fmt(per)}", most <= pods, seen,
                 _hints(hint))


def reversals(tl: Timeline, column: str = "spec_replicas", *, after: float = 0.0,
              until: float | None = None) -> int:
    """How often the direction of scaling flipped (up then down, or down then up)."""
    st = steps(tl.between(after, until if until is not None else math.inf), column)
    signs = np.sign(st.change.to_numpy())
    return int((signs[1:] != signs[:-1]).sum()) if len(signs) > 1 else 0


def flaps(tl: Timeline, *, at_least: int = 2, after: float = 0.0, until: float | None = None,
          column: str = "spec_replicas", hint: str | Sequence[str] | None = None) -> Check:
    """The replica count changed direction at least ``at_least`` times (flapping)."""
    n = reversals(tl, column, after=after, until=until)
    return Check(f"flaps: at least {at_least} direction changes", n >= at_least,
                 f"{n} direction changes, {len(steps(tl, column))} rescales", _hints(hint))


def steady(tl: Timeline, *, max_reversals: int = 1, after: float = 0.0,
           until: float | None = None, column: str = "spec_replicas",
           hint: str | Sequence[str] | None = None) -> Check:
    """The replica count changed direction at most ``max_reversals`` times (no flapping)."""
    n = reversals(tl, column, after=after, until=until)
    return Check(f"no flapping: at most {max_reversals} direction change(s)", n <= max_reversals,
                 f"{n} direction changes, {len(steps(tl, column))} rescales", _hints(hint))


def fights(tl: Timeline, *, at_least: int = 3, reason: str = "SuccessfulRescale",
           hint: str | Sequence[str] | None = None) -> Check:
    """Two autoscalers overwrite each other: consecutive rescales by different objects to
    different sizes, at least ``at_least`` times.

    Read from events, not samples: two controllers syncing at the same instant leave only
    the last write in a per-second sample.
    """
    e = tl.events_with(reason).sort_values("time", kind="stable")
    sizes = e.message.str.extract(r"New size:\s*(\d+)")[0]
    objects = e.object.tolist()
    flips = sum(1 for i in range(1, len(e)) if objects[i] != objects[i - 1]
                and sizes.iloc[i] != sizes.iloc[i - 1])
    who = sorted(set(objects))
    return Check(f"autoscalers fight: at least {at_least} alternating rescales",
                 flips >= at_least, f"{flips} alternations between {', '.join(who) or 'none'}",
                 _hints(hint))


# -- latency, errors, metrics, events --------------------------------------------------
def p95_below(tl: Timeline, ms: float, *, after: float | None = None,
              until: float | None = None, allow_seconds: float = 0.0,
              hint: str | Sequence[str] | None = None) -> Check:
    """The per-second p95 latency stays under ``ms``, except for ``allow_seconds`` seconds.

    Seconds with no completed request (NaN) do not count against the SLO.
    """
    s = _series(tl, "latency_p95", after=after, until=until)
    over = s[s.latency_p95 > ms]
    dt = float(np.median(np.diff(s.time))) if len(s) > 1 else 1.0
    seconds = len(over) * dt
    worst = float(s.latency_p95.max()) if s.latency_p95.notna().any() else math.nan
    claim = f"p95 under {ms:.0f} ms" + (f" (up to {allow_seconds:.0f} s above allowed)"
                                        if allow_seconds else "")
    return Check(claim, seconds <= allow_seconds,
                 f"{seconds:.0f} s above, worst {worst:.0f} ms", _hints(hint))


def p95_above(tl: Timeline, ms: float, *, after: float | None = None,
              until: float | None = None, hint: str | Sequence[str] | None = None) -> Check:
    """The per-second p95 latency went above ``ms`` at least once (a cold start's wait)."""
    s = _series(tl, "latency_p95", after=after, until=until)
    worst = float(s.latency_p95.max()) if s.latency_p95.notna().any() else math.nan
    span = f" after t={_fmt(after)}" if after is not None else ""
    return Check(f"p95 above {ms:.0f} ms at least once{span}", bool(worst > ms),
                 f"worst {worst:.0f} ms" if not math.isnan(worst) else "no request completed",
                 _hints(hint))


def no_errors(tl: Timeline, *, allow: int = 0, hint: str | Sequence[str] | None = None) -> Check:
    """At most ``allow`` failed requests over the run."""
    n = int(tl.samples["errors"].sum())
    return Check(f"at most {allow} failed requests", n <= allow, f"{n} failed", _hints(hint))


def metric_unknown(tl: Timeline, *, after: float = 0.0,
                   hint: str | Sequence[str] | None = None) -> Check:
    """The autoscaler never had a metric value (``kubectl get hpa`` shows ``<unknown>``)."""
    s = _series(tl, "metric_value", after=after)
    known = s.metric_value.notna().sum()
    return Check("the metric stays <unknown>", len(s) > 0 and known == 0,
                 f"{known} samples with a value" if known else "no value in any sample",
                 _hints(hint))


def event_seen(tl: Timeline, reason: str, *, contains: str | None = None, min_count: int = 1,
               after: float | None = None, hint: str | Sequence[str] | None = None) -> Check:
    """At least ``min_count`` events with ``reason`` (and ``contains`` in the message)."""
    e = tl.events_with(reason)
    if contains:
        e = e[e.message.str.contains(contains, regex=False)]
    if after is not None:
        e = e[e.time >= after]
    what = f"event {reason}" + (f" mentioning {contains!r}" if contains else "")
    seen = f"{len(e)} seen" + (f", first at t={_fmt(float(e.time.iloc[0]))}" if len(e) else "")
    return Check(f"{what} (at least {min_count})", len(e) >= min_count, seen, _hints(hint))


def no_event(tl: Timeline, reason: str, *, contains: str | None = None,
             hint: str | Sequence[str] | None = None) -> Check:
    """No event with ``reason`` (and ``contains`` in its message) was recorded."""
    e = tl.events_with(reason)
    if contains:
        e = e[e.message.str.contains(contains, regex=False)]
    what = f"no {reason} event" + (f" mentioning {contains!r}" if contains else "")
    return Check(what, len(e) == 0, f"{len(e)} seen", _hints(hint))


def panicked(tl: Timeline, *, within: float | None = None, after: float = 0.0,
             hint: str | Sequence[str] | None = None) -> Check:
    """Knative's KPA entered panic mode (within ``within`` s of ``after``, if given)."""
    s = tl.samples[(tl.samples.time >= after) & tl.samples.panic_mode]
    claim = "entered panic mode" + (f" within {_fmt(within)} of t={_fmt(after)}" if within else "")
    if s.empty:
        return Check(claim, False, "never panicked", _hints(hint))
    t = float(s.time.iloc[0])
    ok = within is None or t - after <= within
    return Check(claim, ok, f"from t={_fmt(t)}, {len(s)} s in panic", _hints(hint))


def pod_seconds(tl: Timeline, column: str = "ready_replicas") -> float:
    """Pods times seconds over the run (what the cluster paid for)."""
    s = tl.samples
    if len(s) < 2:
        return 0.0
    dt = np.diff(s.time.to_numpy(), append=s.time.iloc[-1])
    return float((s[column].to_numpy() * dt).sum())


def at_most_pod_seconds(tl: Timeline, budget: float, *,
                        hint: str | Sequence[str] | None = None) -> Check:
    """The run used at most ``budget`` pod-seconds of ready pods."""
    used = pod_seconds(tl)
    return Check(f"at most {budget:.0f} pod-seconds", used <= budget, f"{used:.0f} used",
                 _hints(hint))


# -- the queue (asynchronous variants) ---------------------------------------------------
def drain_time(tl: Timeline, *, after: float = 0.0) -> float | None:
    """The time (Timeline seconds) from which no job waits in the queue any more, looking at
    the run from ``after`` on; None if jobs still wait at the end (or the run has no queue)."""
    s = _series(tl, "queue_length", after=after)
    if s.empty or s.queue_length.isna().all():
        return None
    waiting = s[s.queue_length > 0]
    if waiting.empty:
        return float(s.time.iloc[0])
    later = s[s.time > waiting.time.iloc[-1]]
    return float(later.time.iloc[0]) if len(later) else None


def drained(tl: Timeline, *, within: float, after: float,
            hint: str | Sequence[str] | None = None) -> Check:
    """The queue is empty (and stays so) no later than ``within`` seconds after ``after``."""
    claim = f"queue drained within {_fmt(within)} of t={_fmt(after)}"
    t = drain_time(tl, after=after)
    if t is None:
        s = tl.samples
        left = s.queue_length.iloc[-1] if len(s) else math.nan
        return Check(claim, False, f"{left:.0f} job(s) still waiting at the end", _hints(hint))
    return Check(claim, t - after <= within, f"empty from t={_fmt(t)} ({_fmt(t - after)} after)",
                 _hints(hint))


# -- the verification cell ---------------------------------------------------------------
def report(checks: Iterable[Check]) -> str:
    """One line per check (with hints under the failing ones)."""
    return "\n".join(str(c) for c in checks)


#: Set (to 1) by ``labkit lab`` in the kernels of learner copies: there an exercise not yet
#: solved is the normal state, so the verification cell says what is missing, calmly.
#: ("0" turns learner mode off even in a learner copy.)
LEARNER_ENV = "LABKIT_LEARNER"
#: The learner copies also say what they are themselves, so "Not yet" works however they are
#: opened (plain ``jupyter lab``, VS Code, papermill with the folder as cwd): a file of this
#: name in the folder the copies were written to (a kernel runs in its notebook's folder) ...
LEARNER_MARKER = ".labkit-learner-copies"
#: ... and ``{"labkit": {"copy": "learner"}}`` in each copy's notebook metadata, read through
#: the notebook path jupyter_server gives its kernels (``JPY_SESSION_NAME``).
LEARNER_METADATA = ("labkit", "copy", "learner")


def _notebook_says_learner(path: str) -> bool:
    import json
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f).get("metadata", {})
    except (OSError, ValueError, AttributeError):
        return False
    key, field, value = LEARNER_METADATA
    return isinstance(meta.get(key), dict) and meta[key].get(field) == value


def learner_mode() -> bool:
    """True in a kernel running a learner copy (solutions removed).

    Known from ``LABKIT_LEARNER`` (set by ``labkit lab``), else from the copy itself: its
    notebook metadata (when the front end names the notebook in ``JPY_SESSION_NAME``, as
    jupyter_server does) or the marker file in the kernel's working folder.
    """
    flag = os.environ.get(LEARNER_ENV, "").strip().lower()
    if flag in ("1", "true", "yes"):
        return True
    if flag in ("0", "false", "no"):
        return False
    session = os.environ.get("JPY_SESSION_NAME", "")
    if session.endswith(".ipynb") and _notebook_says_learner(session):
        return True
    return os.path.isfile(LEARNER_MARKER)


def require(*checks: Check | Iterable[Check]) -> None:
    """Print every check and raise :class:`VerificationFailed` if any failed.

    Accepts checks or iterables of checks (an exercise result is an iterable of its checks).
    In a learner copy (:func:`learner_mode`), failures that all come from exercises not yet
    solved print "Not yet" with what is missing instead of raising: the learner has work
    to do, not a bug to read a traceback about. Any other failure still raises.
    """
    flat: list[Check] = []
    unsolved: list[Any] = []  # exercise results with a failing check
    for c in checks:
        if isinstance(c, Check):
            flat.append(c)
            continue
        items = list(c)
        flat.extend(items)
        if getattr(c, "exercise", None) and not all(items):
            unsolved.append(c)
    if not flat:
        raise LabkitError("require() got no checks; pass the checks this cell verifies")
    failed = [c for c in flat if not c.passed]
    from_exercises = {id(ch) for r in unsolved for ch in r}
    if failed and learner_mode() and all(id(c) in from_exercises for c in failed):
        print(report([c for c in flat if id(c) not in from_exercises]))
        print(not_yet(unsolved))
        return
    print(report(flat))
    if failed:
        raise VerificationFailed(f"{len(failed)} of {len(flat)} checks failed:\n" + report(failed))


def not_yet(results: Iterable[Any]) -> str:
    """"Not yet" for each unsolved exercise: its goal and each missing check with its hints."""
    lines = []
    for r in results:
        lines.append(f"Not yet: exercise {r.exercise!r} is not solved.")
        lines.append(f"  goal: {r.goal}")
        for ch in r:
            if not ch.passed:
                lines.append(f"  missing: {ch.claim} (your run: {ch.observed})")
                lines += [f"    hint: {h}" for h in ch.hints]
    lines.append("Edit the exercise cell, run it and the cell that checks it, then run this "
                 "cell again.")
    return "\n".join(lines)