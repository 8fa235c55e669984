"""The control panel: pick a variant and a load, press Start, watch the figure move.

Every widget is an argument of :func:`labkit.lab.run`; Start calls exactly that function in
a background thread (with the panel's backend, so the figure can poll it), which keeps the
kernel free while the run goes on. Without a widget front end (papermill, nbval, a script)
:func:`panel` runs the same call at once and shows the static figure of the result.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as w

from .. import lab as _lab
from ..backends.base import Backend
from ..load import PROFILES
from ..scorecard import scorecard, table
from ..timeline import Timeline
from .figure import LiveFigure
from .frontend import widget_frontend
from .static import show


def variant_options(variant: str) -> list[str]:
    """The dropdown's choices: the course's variants, and ``variant`` first if it is another
    directory under manifests/ (00-setup's panel starts on ``base``, the app without an
    autoscaler)."""
    options = list(_lab.VARIANTS)
    return options if variant in options else [variant, *options]


def _speed_label(speed: float | None) -> str:
    for label, value in _lab.SPEEDS.items():
        if value == speed:
            return label
    raise ValueError(f"speed must be one of {list(_lab.SPEEDS.values())}, got {speed!r}")


class Lab:
    """Widgets + LiveFigure around one backend; ``lab.run()`` is the same call without widgets.

    Keyword arguments are the widgets' initial values (see :func:`labkit.lab.run`); a load
    setting left out comes from the variant's starting load (:data:`labkit.lab.PANEL_LOADS`),
    and choosing another variant in the dropdown loads that variant's. ``shape`` fixes
    parameters of the load shape (``shape={"base_users": 2, "start": 30, "length": 150}``),
    so the panel fires exactly the load the notebook's text describes; it applies while the
    profile dropdown shows the profile it was given for.
    """

    def __init__(self, backend: str | Backend = "sim", *, variant: str = "hpa-v2",
                 profile: str | None = None, users: int | None = None,
                 spawn_rate: float | None = None, duration: int | None = None,
                 speed: float | None = 10.0, seed: int = 0, slo_ms: float = 500.0,
                 trace_path: str | None = None, interval: float = 0.25,
                 live: bool | None = None, shape: dict[str, Any] | None = None):
        load = dict(_lab.PANEL_LOADS.get(variant, _lab.PANEL_LOADS["hpa-v2"]))
        profile = profile if profile is not None else load["profile"]
        users = users if users is not None else load["users"]
        spawn_rate = spawn_rate if spawn_rate is not None else load["spawn_rate"]
        duration = duration if duration is not None else load["duration"]
        params = dict(shape or {})
        if shape is None and profile == load["profile"]:
            params = dict(load.get("params", {}))
        #: (profile name, parameters) of the load shape fixed beyond the widgets
        self.shape: tuple[str, dict[str, Any]] = (profile, params)
        self.backend = _lab.open_backend(backend, seed=seed, quiet=False)
        self.seed, self.slo_ms = seed, slo_ms
        self.live = widget_frontend() if live is None else live
        self.timeline: Timeline | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.figure = LiveFigure(self.backend, slo_ms=slo_ms, interval=interval,
                                 duration=duration)

        narrow = w.Layout(width="200px")
        self.variant = w.Dropdown(options=variant_options(variant), value=variant,
                                  description="variant", layout=narrow)
        self.profile = w.Dropdown(options=list(PROFILES), value=profile, description="profile",
                                  layout=narrow)
        self.users = w.IntSlider(value=users, min=1, max=500, description="users",
                                 layout=w.Layout(width="300px"))
        self.spawn_rate = w.BoundedFloatText(value=spawn_rate, min=0.1, max=1000, step=1,
                                             description="spawn/s", layout=narrow)
        self.duration = w.BoundedIntText(value=duration, min=1, max=7 * 86400, step=30,
                                         description="seconds", layout=narrow)
        self.speed = w.SelectionSlider(options=list(_lab.SPEEDS), value=_speed_label(speed),
                                       description="speed", layout=w.Layout(width="260px"))
        self.speed.layout.display = None if self.backend.name == "sim" else "none"
        self.trace_path = w.Text(value=trace_path or "", description="trace CSV",
                                 placeholder="time,users or time,rps")
        self.start_button = w.Button(description="Start", button_style="success", icon="play",
                                     tooltip="start the run with these settings")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop",
                                    disabled=True, tooltip="end the run now, keeping its data")
        self.status = w.HTML()
        self.status.add_class("labkit-status")
        self.duration.observe(self._on_axis, names="value")
        self.speed.observe(self._on_axis, names="value")
        self._on_axis()
        self.profile.observe(self._on_profile, names="value")
        self._on_profile({"new": profile})
        self.variant.observe(self._on_variant, names="value")
        for widget in (self.variant, self.profile, self.users, self.spawn_rate, self.duration,
                       self.trace_path):
            widget.observe(self._on_settings, names="value")
        self._on_settings()
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())

    # -- the plain-function path -----------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """The widgets' values as keyword arguments of :func:`labkit.lab.run`."""
        kw: dict[str, Any] = {
            "variant": self.variant.value, "profile": self.profile.value,
            "duration": float(self.duration.value), "users": int(self.users.value),
            "spawn_rate": float(self.spawn_rate.value),
            "speed": _lab.SPEEDS[self.speed.value] if self.backend.name == "sim" else None,
            "seed": self.seed, "slo_ms": self.slo_ms,
        }
        if self.profile.value == "trace":
            kw["trace_path"] = self.trace_path.value or None
        name, params = self.shape
        if params and self.profile.value == name:
            kw.update(params)
        return kw

    def run(self, stop: threading.Event | None = None, *, paced: bool = True) -> Timeline:
        """Run the current settings now, in this thread, and return the Timeline.

        ``paced=False`` ignores the speed slider (nobody is watching: as fast as possible).
        """
        kw = self.settings()
        if not paced:
            kw["speed"] = None
        tl = _lab.run(kw.pop("variant"), kw.pop("profile"), kw.pop("duration"),
                      backend=self.backend, stop=stop, **kw)
        self.timeline = tl
        return tl

    # -- the widgets' path -------------------------------------------------------------------
    def start(self) -> None:
        """Start button: run in a background thread while the figure polls the backend."""
        if self.running:
            return
        self._stop = threading.Event()
        self.error = None
        self.start_button.disabled, self.stop_button.disabled = True, False
        s = self.settings()
        self.status.value = (f"running <b>{s['variant']}</b> under <b>{s['profile']}</b> for "
                             f"{s['duration']:g} s ({self.speed.value})")
        self.figure.start()
        self._thread = threading.Thread(target=self._run_in_background, name="labkit-lab-run",
                                        daemon=True)
        self._thread.start()

    def _run_in_background(self) -> None:
        try:
            duration = self.settings()["duration"]
            tl = self.run(self._stop)
            card = scorecard(tl, self.slo_ms)
            end = float(tl.samples.time.iloc[-1]) if len(tl) else 0.0
            head = (f"stopped at t = {end:.0f} s of {duration:g} s"
                    if self._stop.is_set() and end < duration else f"done: {duration:g} s")
            self.status.value = f"{head}{scorecard_html(card)}"
        except Exception as e:  # shown in the panel: a thread has no caller to raise to
            self.error = e
            text = str(e)
            if self.profile.value == "trace" and not self.trace_path.value:
                text = TRACE_HELP  # the widget to fill, not the keyword argument
            self.status.value = f"<span style='color:#c00'>error: {html.escape(text)}</span>"
        finally:
            self.figure.stop()
            self.start_button.disabled, self.stop_button.disabled = False, True

    def stop(self) -> None:
        """Stop button: end the run early, keeping what was recorded."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> Timeline | None:
        """Block until the background run ends; return its Timeline."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.timeline

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _on_axis(self, _change: Any = None) -> None:
        speed = self.speed.value if self.backend.name == "sim" else None
        self.figure.show_run(float(self.duration.value), speed)

    def load_text(self) -> str:
        """The load Start will fire, in words (what the notebook's text should say too)."""
        s = self.settings()
        if s["profile"] == "trace" and not s.get("trace_path"):
            return f"load: {TRACE_HELP}"
        try:
            p = _lab.build_profile(s["profile"], duration=s["duration"], users=s["users"],
                                   spawn_rate=s["spawn_rate"], trace_path=s.get("trace_path"),
                                   **{k: v for k, v in s.items() if k not in _RUN_KEYS})
        except Exception as e:  # shown, not raised: the learner is still typing
            return f"load: {e}"
        return f"load: {load_in_words(p)}"

    def _on_settings(self, _change: Any = None) -> None:
        if self.running:
            return
        self.status.value = (f"ready: {html.escape(self.backend.name)} backend · "
                             f"{html.escape(self.load_text())}")

    def _on_variant(self, change: dict[str, Any]) -> None:
        """Another variant: its starting load (the one that shows it scaling)."""
        load = _lab.PANEL_LOADS.get(change["new"])
        if load is None or self.running:
            return
        self.shape = (load["profile"], dict(load.get("params", {})))
        self.profile.value = load["profile"]
        self.users.value = load["users"]
        self.spawn_rate.value = load["spawn_rate"]
        self.duration.value = load["duration"]

    def _on_profile(self, change: dict[str, Any]) -> None:
        self.trace_path.layout.display = None if change["new"] == "trace" else "none"

    @property
    def widget(self) -> w.VBox:
        """Controls above the live figure."""
        row1 = w.HBox([self.variant, self.profile, self.users, self.start_button,
                       self.stop_button])
        row2 = w.HBox([self.duration, self.spawn_rate, self.speed, self.trace_path])
        box = w.VBox([row1, row2, self.status, self.figure.widget])
        box.add_class("labkit-panel")
        return box

    def close(self) -> None:
        """Stop the run and the backend's processes."""
        self.stop()
        self.wait(10)
        self.figure.stop()
        self.backend.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "idle"
        return f"<labkit Lab {self.backend.name} {self.variant.value}/{self.profile.value} {state}>"


#: What the trace profile needs, said in the panel's words.
TRACE_HELP = ("the trace profile replays a CSV file: type its path in the trace CSV field "
              "(columns time,users or time,rps), or pick another profile")

#: settings() keys that are not parameters of the load shape
_RUN_KEYS = ("variant", "profile", "duration", "users", "spawn_rate", "speed", "seed",
             "slo_ms", "trace_path")


def load_in_words(p: Any) -> str:
    """A LoadProfile as a sentence: "spike: 2 users, 60 from t = 30 s for 150 s"."""
    def n(x: float) -> str:
        return f"{x:g}"
    kind = p.kind
    if kind == "spike":
        return (f"spike: {n(p.base_users)} users, {n(p.peak_users)} from t = {n(p.start)} s "
                f"for {n(p.length)} s, then {n(p.base_users)}")
    if kind == "constant":
        return f"constant: {n(p.users)} users"
    if kind == "ramp":
        return (f"ramp: {n(p.start_users)} to {n(p.end_users)} users over "
                f"{n(p.ramp_seconds)} s")
    if kind == "step":
        return "step: " + ", ".join(f"{n(u)} users from t = {n(t)} s" for t, u in p.steps)
    return p.describe()


def scorecard_html(card: dict[str, Any]) -> str:
    """The scorecard as a one-row table with units (under the status line)."""
    row = table(card).iloc[0]
    cell = "padding:0 10px 0 0;text-align:right;line-height:1.3"
    head = "".join(f"<th style='{cell};font-weight:normal;color:#555'>{html.escape(str(k))}</th>"
                   for k in row.index)
    values = "".join(f"<td style='{cell}'><b>{html.escape(str(v))}</b></td>" for v in row)
    return (f"<table class='labkit-scorecard' style='border-collapse:collapse;font-size:12px'>"
            f"<tr>{head}</tr><tr>{values}</tr></table>")


def panel(backend: str | Backend = "sim", *, start: bool = False, live: bool | None = None,
          **values: Any) -> Lab:
    """Show the control panel and live figure; headless, run the same settings at once.

    ``values`` are the widgets' initial values (``variant=``, ``profile=``, ``users=``,
    ``spawn_rate=``, ``duration=``, ``speed=``, ``seed=``, ``slo_ms=``, ``trace_path=``) and
    ``shape=`` (fixed parameters of the load shape, see :class:`Lab`).
    With a front end the run starts when Start is pressed (or at once with ``start=True``);
    without one (papermill, nbval, a script) it runs now, as fast as the backend can (no
    pacing), and a static figure is shown, so
    ``lab.timeline`` holds the result either way once the run is over.
    """
    from IPython.display import display

    lab = Lab(backend, live=live, **values)
    if lab.live:
        display(lab.widget)
        if start:
            lab.start()
    else:
        tl = lab.run(paced=False)  # headless: no one watches, so no pacing
        lab.figure.refresh()
        show(tl, slo_ms=lab.slo_ms)
    return lab
