"""The live figure: replicas, scaling metric, load and latency on one shared time axis.

Four stacked panels (what ``kubectl get hpa -w`` and locust's charts show, side by side):

1. replicas: spec, ready, desired (the autoscaler's recommendation), pending pods, with
   min/max replicas as dashed lines and one marker per event (hover: reason and message);
2. the scaling metric against its target;
3. users and requests per second (RPS on the right axis);
4. latency p50/p95 against the SLO.

Knative's panic mode and cold starts (``ColdStart`` events, until a pod more is ready) are
shaded across all panels. :class:`FigureModel` turns Timeline rows into trace arrays and
consumes only rows it has not seen; :class:`LiveFigure` polls a source from a background
thread and pushes the arrays into a ``FigureWidget`` inside ``batch_update()``.
"""

from __future__ import annotations

import bisect
import re
import threading
import time
from collections import deque
from typing import Any, Callable, Iterable, Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..timeline import Timeline, TimelineRecorder

_NEW_SIZE = re.compile(r"New size:\s*(\d+)")

#: Trace name -> (panel row, on the secondary y axis, line style). Order = trace index.
#: Spec replicas is a wide pale band under the thin ready line, so both stay visible where
#: they agree.
TRACES: dict[str, tuple[int, bool, dict[str, Any]]] = {
    "spec replicas": (1, False, {"color": "rgba(31,119,180,0.45)", "width": 6, "shape": "hv"}),
    "ready replicas": (1, False, {"color": "#2ca02c", "width": 2, "shape": "hv"}),
    "desired replicas": (1, False, {"color": "#ff7f0e", "dash": "dot", "width": 2,
                                    "shape": "hv"}),
    "pending pods": (1, False, {"color": "#9467bd", "width": 1, "shape": "hv"}),
    "min replicas": (1, False, {"color": "grey", "dash": "dash", "width": 1}),
    "max replicas": (1, False, {"color": "black", "dash": "dash", "width": 1}),
    "events": (1, False, {}),
    "metric": (2, False, {"color": "#d62728", "width": 2}),
    "target": (2, False, {"color": "#d62728", "dash": "dash", "width": 1}),
    "users": (3, False, {"color": "#8c564b", "width": 2, "shape": "hv"}),
    "rps": (3, True, {"color": "#17becf", "width": 1.5}),
    "latency p50": (4, False, {"color": "#7f7f7f", "width": 1.5}),
    "latency p95": (4, False, {"color": "#e377c2", "width": 2}),
    "SLO": (4, False, {"color": "red", "dash": "dash", "width": 1}),
}
#: Legend text where it differs from the trace's key (the panel's title says the rest).
LABELS = {"spec replicas": "spec", "ready replicas": "ready", "desired replicas": "desired",
          "pending pods": "pending", "min replicas": "min / max", "latency p50": "p50",
          "latency p95": "p95"}
_INDEX = {name: i for i, name in enumerate(TRACES)}
#: Sample column behind each per-sample trace.
_COLUMNS = {"spec replicas": "spec_replicas", "ready replicas": "ready_replicas",
            "desired replicas": "desired_replicas", "pending pods": "pending_pods",
            "metric": "metric_value", "target": "metric_target", "users": "users",
            "rps": "rps", "latency p50": "latency_p50", "latency p95": "latency_p95"}
_PANELS = ("replicas", "scaling metric vs target", "users and RPS", "latency (ms)")
#: Shaded band -> (fill colour, its name in the key above the plot, the axis it spans).
_SHADE = {"panic": ("rgba(214,39,40,0.14)", "panic mode", "paper"),
          "cold start": ("rgba(31,119,180,0.18)", "cold start", "paper"),
          "over SLO": ("rgba(255,127,14,0.25)", "p95 over SLO", "y5 domain")}
#: The live figure's height in pixels: with the panel's controls it fits a 1366x768 screen.
HEIGHT = 430
#: plotly.js's width when it cannot measure its container.
PLOTLY_DEFAULT_WIDTH = 700
_EVENT_COLOURS = {"Warning": "#d62728", "Normal": "#ff7f0e"}
_ROW_HEIGHTS = (0.38, 0.2, 0.2, 0.22)


def base_figure(*, height: int = 820, title: str = "", duration: float | None = None,
                compact: bool = False) -> go.Figure:
    """The empty four-panel figure with every trace in place (data comes from FigureModel).

    ``duration`` fixes the time axis to the whole run, so the plot fills from the left
    instead of being squeezed again at every redraw. ``compact`` is the live panel's
    layout: smaller fonts and margins so panel and figure fit a laptop screen.
    """
    fig = make_subplots(rows=4, cols=1, shared_xaxes=True,
                        vertical_spacing=0.045 if compact else 0.05,
                        row_heights=list(_ROW_HEIGHTS), subplot_titles=_PANELS,
                        specs=[[{}], [{}], [{"secondary_y": True}], [{}]])
    small = 10 if compact else 11
    for name, (row, secondary, line) in TRACES.items():
        legend = f"legend{row}" if row > 1 else "legend"
        if name == "events":
            trace = go.Scatter(name=name, mode="markers", x=[], y=[], legend=legend,
                               marker={"symbol": "diamond", "size": 9,
                                       "color": _EVENT_COLOURS["Normal"],
                                       "line": {"width": 1, "color": "black"}},
                               hovertemplate="%{text}<extra></extra>", text=[])
        else:
            extra: dict[str, Any] = {}
            if name == "pending pods":
                extra = {"fill": "tozeroy", "fillcolor": "rgba(148,103,189,0.25)"}
            elif name in ("min replicas", "max replicas"):  # one legend entry for both
                extra = {"legendgroup": "bounds", "showlegend": name == "min replicas"}
            # latency has a gap in seconds without a completed request; drawn joined, so
            # a quiet stretch is a line and not dotted fragments (the data keeps the gap)
            joined = name in ("latency p50", "latency p95")
            trace = go.Scatter(name=LABELS.get(name, name), mode="lines", x=[], y=[],
                               line=line, legend=legend, connectgaps=joined, **extra)
        fig.add_trace(trace, row=row, col=1, secondary_y=secondary)
    # one legend beside each panel, at the top of its y domain
    for row in range(1, 5):
        domain = fig.get_subplot(row, 1).yaxis.domain
        key = "legend" if row == 1 else f"legend{row}"
        fig.layout[key] = {"y": domain[1], "yanchor": "top", "x": 1.02,
                           "font": {"size": small}, "tracegroupgap": 0,
                           "itemsizing": "constant"}
    for annotation in fig.layout.annotations:  # the panel titles
        annotation.font = {"size": small + 1}
    # the key to the shaded bands, top right
    key = " ".join(f"<span style='color:{_opaque(c)}'>\u25a0</span> {label}"
                   for c, label, _ in _SHADE.values())
    fig.add_annotation(text=f"shaded: {key}", xref="paper", yref="paper", x=1, y=1,
                       xanchor="right", yanchor="bottom", yshift=18 if compact else 26,
                       showarrow=False, font={"size": small}, name="band key")
    margin = ({"l": 50, "r": 10, "t": 34, "b": 30} if compact
              else {"l": 60, "r": 10, "t": 60, "b": 40})
    fig.update_layout(height=height, margin=margin, hovermode="x", uirevision="labkit",
                      title={"text": title or None, "font": {"size": small + 3},
                             "x": 0.01, "xanchor": "left"})
    fig.update_xaxes(title_text="seconds since start", row=4, col=1)
    if duration:
        fig.update_xaxes(range=[0, float(duration)], autorange=False)
    fig.update_yaxes(title_text="pods", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=2, col=1)
    fig.update_yaxes(title_text="users", rangemode="tozero", row=3, col=1, secondary_y=False)
    fig.update_yaxes(title_text="req/s", rangemode="tozero", tickmode="auto", showgrid=False,
                     row=3, col=1, secondary_y=True)
    # log scale: a cold start's seconds and a warm pod's tens of milliseconds both stay
    # readable, with the SLO line between them
    fig.update_yaxes(title_text="ms (log)", type="log", dtick=1, row=4, col=1)
    if compact:
        fig.update_xaxes(title_text=None, row=4, col=1)
        fig.update_yaxes(title_font={"size": small}, tickfont={"size": small})
        fig.update_xaxes(tickfont={"size": small})
    return fig


def _opaque(rgba: str, alpha: float = 0.6) -> str:
    """The same colour, less transparent (for the key's squares)."""
    return re.sub(r",\s*[0-9.]+\)$", f",{alpha})", rgba)


def run_title(meta: Mapping[str, Any]) -> str:
    """A figure title in words: "hpa-v2 on the twin · spike, up to 60 users · 600 s".

    Built from a Timeline's meta (``backend``, ``variant`` and the load profile's
    ``describe()`` text, e.g. ``spike(duration=600.0, ..., peak_users=60, ...)``).
    """
    where = {"sim": "the twin", "kind": "kind"}.get(str(meta.get("backend", "")),
                                                     str(meta.get("backend") or ""))
    head = " on ".join(str(x) for x in (meta.get("variant"), where) if x)
    parts = [head] if head else []
    text = str(meta.get("profile") or "")
    m = re.match(r"(\w+)\((.*)\)$", text)
    if m:
        kind, fields = m.group(1), dict(re.findall(r"(\w+)=([^,]+)", m.group(2)))
        peak = next((fields[k] for k in ("peak_users", "users", "end_users") if k in fields),
                    None)
        load = f"{kind} load" + (f", up to {_num(peak)} users" if peak else "")
        parts.append(load)
        if "duration" in fields:
            parts.append(f"{_num(fields['duration'])} s")
    elif text:
        parts.append(text)
    return " · ".join(parts)


def _num(text: str) -> str:
    try:
        return f"{float(text):g}"
    except ValueError:
        return text


class FigureModel:
    """Trace arrays built from Timeline rows; each row is read once (incremental).

    ``add(rows, events, meta)`` appends new sample rows; ``traces()`` gives the arrays to
    assign and ``shapes()`` the shaded intervals. No plotting happens here.
    """

    def __init__(self, slo_ms: float = 500.0):
        self.slo_ms = float(slo_ms)
        #: the run in progress: its length and speed label (None for a finished Timeline);
        #: kept across reset(), which a new deploy triggers after Start
        self.duration: float | None = None
        self.speed: str | None = None
        self.reset()

    def reset(self) -> None:
        self.x: list[float] = []
        self.y: dict[str, list[Any]] = {col: [] for col in _COLUMNS.values()}
        self.events: list[Mapping[str, Any]] = []
        self.meta: dict[str, Any] = {}
        self.metric_name = ""
        self._panic: list[list[float]] = []
        self._panic_open = False
        self._over: list[list[float]] = []
        self._over_open = False
        self._written: dict[int, tuple[dict[str, Any], ...]] = {}

    def __len__(self) -> int:
        return len(self.x)

    def add(self, rows: Iterable[Mapping[str, Any]], events: list[Mapping[str, Any]] | None = None,
            meta: Mapping[str, Any] | None = None) -> int:
        """Append sample rows; replace the events and meta; return the number of new rows."""
        n = 0
        for row in rows:
            t = float(row["time"])
            self.x.append(t)
            for col, values in self.y.items():
                values.append(_number(row.get(col)))
            if row.get("metric_name"):
                self.metric_name = str(row["metric_name"])
            # panic intervals grow while consecutive samples are in panic mode
            if bool(row.get("panic_mode") or False):
                if self._panic_open:
                    self._panic[-1][1] = t
                else:
                    self._panic.append([t, t])
                self._panic_open = True
            else:
                if self._panic_open:
                    self._panic[-1][1] = t
                self._panic_open = False
            # seconds whose p95 is above the SLO, merged into intervals the same way
            p95 = _number(row.get("latency_p95"))
            if p95 is not None and p95 > self._slo(meta):
                if self._over_open:
                    self._over[-1][1] = t + 1
                else:
                    self._over.append([t, t + 1])
                self._over_open = True
            else:
                self._over_open = False
            n += 1
        if events is not None:
            self.events = list(events)
        if meta is not None:
            self.meta = dict(meta)
        return n

    def _slo(self, meta: Mapping[str, Any] | None = None) -> float:
        m = meta if meta is not None else self.meta
        return float(m.get("slo_ms", self.slo_ms) if m else self.slo_ms)

    @property
    def now(self) -> float | None:
        """Simulated seconds of the newest row (None before the first)."""
        return self.x[-1] if self.x else None

    def progress(self) -> str:
        """The live figure's title: where the run is, out of how long, at what speed."""
        if self.duration is None:
            return ""
        now = self.now or 0.0
        speed = f" · {self.speed} speed" if self.speed else ""
        return (f"t = {now:.0f} s of {self.duration:g} s{speed}"
                f" · {run_title({**self.meta, 'profile': None})}").rstrip(" ·")

    def target_label(self) -> str:
        """The target's legend entry with its value and unit, e.g. "target 50 %"."""
        values = [v for v in self.y["metric_target"] if v is not None]
        if not values:
            return "target"
        unit = re.search(r"\(([^)]*)\)\s*$", self.metric_name)
        unit_text = unit.group(1) if unit else ""
        sep = "" if unit_text in ("", "%") else " "
        return f"target {values[-1]:g}{' ' if unit_text == '%' else sep}{unit_text}".strip()

    def _span(self) -> list[float]:
        return [self.x[0], self.x[-1]] if self.x else []

    def _bound(self, key: str) -> list[Any]:
        value = self.meta.get(key)
        return [value, value] if value is not None and self.x else []

    def traces(self) -> dict[str, dict[str, Any]]:
        """Trace name -> the properties to assign (``x``, ``y`` and for events ``text``)."""
        x = tuple(self.x)
        out = {name: {"x": x, "y": tuple(self.y[col])} for name, col in _COLUMNS.items()}
        span = tuple(self._span())
        out["min replicas"] = {"x": span, "y": tuple(self._bound("min_replicas"))}
        out["max replicas"] = {"x": span, "y": tuple(self._bound("max_replicas"))}
        slo = self.meta.get("slo_ms", self.slo_ms)
        out["SLO"] = {"x": span, "y": (slo, slo) if span else ()}
        ex, ey, text, colours = [], [], [], []
        for ev in self.events:
            t = _number(ev.get("time"))
            if t is None:
                continue
            m = _NEW_SIZE.search(str(ev.get("message", "")))
            ex.append(t)
            ey.append(int(m.group(1)) if m else self._value_at("spec_replicas", t))
            colours.append(_EVENT_COLOURS.get(str(ev.get("type", "Normal")), "#ff7f0e"))
            text.append(f"<b>{ev.get('reason', '')}</b> ({ev.get('type', 'Normal')}) "
                        f"t={t:g}s<br>{ev.get('object', '')}<br>"
                        f"{_wrap(str(ev.get('message', '')))}")
        out["events"] = {"x": tuple(ex), "y": tuple(ey), "text": tuple(text),
                         "marker": {"color": tuple(colours)}}
        out["target"]["name"] = self.target_label()
        return out

    def _value_at(self, col: str, t: float) -> Any:
        i = bisect.bisect_right(self.x, t) - 1
        return self.y[col][i] if i >= 0 else 0

    def shapes(self) -> tuple[dict[str, Any], ...]:
        """Shaded intervals across all panels: panic mode, then cold starts."""
        spans = [("panic", a, b) for a, b in self._panic if b > a]
        ready = self.y["ready_replicas"]
        for ev in self.events:
            if ev.get("reason") != "ColdStart" or _number(ev.get("time")) is None or not self.x:
                continue
            start = float(ev["time"])
            i = max(bisect.bisect_left(self.x, start), 0)
            before = ready[i - 1] if i > 0 else (ready[0] if ready else 0)
            end = self.x[-1]
            # the cold start lasts until one more pod is ready than when it began
            for j in range(i, len(self.x)):
                if (ready[j] or 0) > (before or 0):
                    end = self.x[j]
                    break
            spans.append(("cold start", start, max(end, start + 0.5)))
        spans += [("over SLO", a, b) for a, b in self._over]
        return tuple({"type": "rect", "xref": "x", "yref": _SHADE[kind][2], "x0": a, "x1": b,
                      "y0": 0, "y1": 1, "fillcolor": _SHADE[kind][0], "line": {"width": 0},
                      "layer": "below", "name": kind} for kind, a, b in spans)

    def now_marker(self) -> tuple[dict[str, Any], ...]:
        """A vertical "now" line across all panels while a run is in progress."""
        if self.duration is None or self.now is None:
            return ()
        return ({"type": "line", "xref": "x", "yref": "paper", "x0": self.now,
                 "x1": self.now, "y0": 0, "y1": 1, "name": "now",
                 "line": {"color": "rgba(0,0,0,0.55)", "width": 1.5}},)

    def write(self, fig: go.Figure) -> None:
        """Assign the arrays, shapes and the metric panel's title to ``fig``."""
        for name, props in self.traces().items():
            fig.data[_INDEX[name]].update(props)
        shapes = self.shapes() + self.now_marker()
        if self._written.get(id(fig)) != shapes:
            fig.layout.shapes = shapes
            self._written[id(fig)] = shapes
        if self.metric_name:
            fig.layout.annotations[1].text = f"{self.metric_name} vs target"
        if self.duration is not None:
            fig.layout.title.text = self.progress()
            fig.update_xaxes(range=(0, self.duration), autorange=False)


def _number(v: Any) -> Any:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f  # NaN -> gap


def _wrap(text: str, width: int = 60) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + len(w) + 1 > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return "<br>".join(lines + [line])


# -- sources --------------------------------------------------------------------------------

#: reader(since) -> (generation key, new rows, events, meta)
Reader = Callable[[int], tuple[Any, list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]]


def reader(source: Any) -> Reader:
    """Incremental reads from a TimelineRecorder, a backend, a Timeline or a callable.

    A backend with a ``recorder`` (the twin) is read row by row; one that only offers
    ``timeline()`` is snapshotted and sliced. The generation key changes when the backend
    starts a new recorder (a new ``deploy``), which resets the figure.
    """
    if isinstance(source, TimelineRecorder) or isinstance(
            getattr(source, "recorder", None), TimelineRecorder):
        cleared = [0]

        def read_recorder(since: int):
            rec = source if isinstance(source, TimelineRecorder) else source.recorder
            if len(rec) < since:  # cleared: start over
                cleared[0] += 1
                since = 0
            rows, events = rec.rows_since(since)
            return (id(rec), cleared[0]), rows, events, dict(rec.meta)
        return read_recorder

    if isinstance(source, Timeline):
        get: Callable[[], Timeline] = lambda: source  # noqa: E731
    elif callable(getattr(source, "timeline", None)):
        get = source.timeline
    elif callable(source):
        get = source
    else:
        raise TypeError(f"cannot read a timeline from {type(source).__name__}; pass a "
                        "Backend, TimelineRecorder, Timeline or a function returning one")

    generation = [0]

    def read_snapshot(since: int):
        tl = get()
        if len(tl) < since:  # the source started over
            generation[0] += 1
            since = 0
        rows = tl.samples.iloc[since:].to_dict("records")
        return generation[0], rows, tl.events.to_dict("records"), dict(tl.meta)
    return read_snapshot


class LiveFigure:
    """A FigureWidget kept up to date from ``source`` by a background thread.

    ``interval`` is the polling period (0.25 s = 4 refreshes a second). Only rows not yet
    drawn are read; plotly has no "extend traces" from Python, so each refresh assigns the
    arrays once inside ``batch_update()`` (one message to the browser).
    """

    def __init__(self, source: Any = None, *, slo_ms: float = 500.0, interval: float = 0.25,
                 height: int = HEIGHT, title: str = "", duration: float | None = None):
        self.model = FigureModel(slo_ms)
        self.model.duration = duration
        self.interval = interval
        fig = base_figure(height=height, title=title, duration=duration, compact=True)
        fig.update_layout(autosize=True)
        self.widget = go.FigureWidget(fig)
        self._fits: deque[float] = deque(maxlen=8)
        self.widget.observe(self._on_layout_delta, names="_js2py_layoutDelta")
        self._read: Reader | None = reader(source) if source is not None else None
        self._key: Any = None
        self._n_events = 0
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.error: Exception | None = None
        self.polls = 0
        self.updates = 0
        self._update_times: deque[float] = deque(maxlen=200)
        self._poll_times: deque[float] = deque(maxlen=200)

    # -- filling the cell's width ---------------------------------------------------------
    # plotly's widget draws its first frame before JupyterLab attaches it to the page, where
    # plotly.js cannot measure the cell and falls back to its default width (700 px), and
    # the anywidget view never resizes afterwards. Each view reports its layout back once
    # drawn; while it reports that default width, switching autosize off and on again makes
    # plotly.js measure the now attached cell (its relayout with autosize=true does).
    # Read in plotly 7.1.0's package_data/widgetbundle.js (the anywidget render calls
    # newPlot at once; resize handling exists only for Lumino messages, which anywidget
    # does not forward) and in the plotly.js it bundles: plots.js plotAutoSize takes the
    # width from getComputedStyle (none while detached, so layout.width's default 700);
    # plot_api.js _relayout clears width/height for autosize=true and measures again.
    def _on_layout_delta(self, change: dict[str, Any]) -> None:
        delta = (change.get("new") or {}).get("layout_delta") or {}
        if delta.get("width") != PLOTLY_DEFAULT_WIDTH:
            return
        now = time.monotonic()
        if len(self._fits) == self._fits.maxlen and now - self._fits[0] < 60:
            return  # a view that cannot be measured (hidden): stop asking
        self._fits.append(now)
        timer = threading.Timer(0.3, self.fit_width)
        timer.daemon = True
        timer.start()

    def fit_width(self) -> None:
        """Ask every view to size the figure to its cell's width (two relayout messages)."""
        with self._lock:
            self.widget.layout.autosize = False
            self.widget.layout.autosize = True

    def show_run(self, duration: float | None, speed: str | None = None) -> None:
        """Fix the time axis to a run of ``duration`` seconds and title it with progress."""
        with self._lock:
            self.model.duration = None if duration is None else float(duration)
            self.model.speed = speed
            with self.widget.batch_update():
                self.model.write(self.widget)

    def attach(self, source: Any) -> None:
        """Follow another source (clears the figure)."""
        with self._lock:
            self._read = reader(source)
            self._key = None
            self.model.reset()
            self._n_events = 0
            with self.widget.batch_update():
                self.model.write(self.widget)

    def refresh(self) -> int:
        """Read new rows and redraw if anything changed; return the number of new rows."""
        with self._lock:
            if self._read is None:
                return 0
            since = len(self.model)
            key, rows, events, meta = self._read(since)
            self.polls += 1
            self._poll_times.append(time.monotonic())
            if key != self._key:  # a new run: start the figure over
                self.model.reset()
                self._key = key
                self._n_events = 0
                if since:
                    key, rows, events, meta = self._read(0)
            if not rows and len(events) == self._n_events and meta == self.model.meta:
                return 0
            n = self.model.add(rows, events, meta)
            self._n_events = len(events)
            with self.widget.batch_update():
                self.model.write(self.widget)
            self.updates += 1
            self._update_times.append(time.monotonic())
            return n

    def start(self) -> None:
        """Poll in a background thread until :meth:`stop` (the kernel stays free)."""
        if self._thread and self._thread.is_alive():
            return
        self._halt.clear()
        self._thread = threading.Thread(target=self._loop, name="labkit-live-figure",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._halt.is_set():
            try:
                self.refresh()
            except Exception as e:  # keep it for the panel to show; a thread has no caller
                self.error = e
                return
            self._halt.wait(self.interval)

    def stop(self) -> None:
        """Stop polling after one last refresh."""
        self._halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None
        self.refresh()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @staticmethod
    def _rate(times: deque[float]) -> float:
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    @property
    def poll_rate(self) -> float:
        """Refreshes attempted per second, over the last 200."""
        return self._rate(self._poll_times)

    @property
    def update_rate(self) -> float:
        """Redraws (new data pushed to the widget) per second, over the last 200."""
        return self._rate(self._update_times)

    def static(self) -> go.Figure:
        """A plain ``go.Figure`` copy with the current data (kept by saved notebooks)."""
        with self._lock:
            return go.Figure(self.widget)


def figure(tl: Timeline, *, slo_ms: float | None = None, height: int = 820,
           title: str | None = None) -> go.Figure:
    """The static four-panel figure of a Timeline."""
    model = FigureModel(slo_ms if slo_ms is not None else tl.meta.get("slo_ms", 500))
    model.add(tl.samples.to_dict("records"), tl.events.to_dict("records"), tl.meta)
    if title is None:
        title = run_title(tl.meta)
    fig = base_figure(height=height, title=title)
    model.write(fig)
    return fig
