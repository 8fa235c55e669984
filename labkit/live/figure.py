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
TRACES: dict[str, tuple[int, bool, dict[str, Any]]] = {
    "spec replicas": (1, False, {"color": "#1f77b4", "width": 2.5, "shape": "hv"}),
    "ready replicas": (1, False, {"color": "#2ca02c", "width": 2, "shape": "hv"}),
    "desired replicas": (1, False, {"color": "#ff7f0e", "dash": "dot", "shape": "hv"}),
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
_INDEX = {name: i for i, name in enumerate(TRACES)}
#: Sample column behind each per-sample trace.
_COLUMNS = {"spec replicas": "spec_replicas", "ready replicas": "ready_replicas",
            "desired replicas": "desired_replicas", "pending pods": "pending_pods",
            "metric": "metric_value", "target": "metric_target", "users": "users",
            "rps": "rps", "latency p50": "latency_p50", "latency p95": "latency_p95"}
_PANELS = ("replicas", "scaling metric vs target", "users and RPS", "latency (ms)")
_SHADE = {"panic": "rgba(214,39,40,0.12)", "cold start": "rgba(31,119,180,0.15)"}


def base_figure(*, height: int = 820, title: str = "") -> go.Figure:
    """The empty four-panel figure with every trace in place (data comes from FigureModel)."""
    fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        subplot_titles=_PANELS,
                        specs=[[{}], [{}], [{"secondary_y": True}], [{}]])
    for name, (row, secondary, line) in TRACES.items():
        legend = f"legend{row}" if row > 1 else "legend"
        if name == "events":
            trace = go.Scatter(name=name, mode="markers", x=[], y=[], legend=legend,
                               marker={"symbol": "diamond", "size": 10, "color": "#ff7f0e",
                                       "line": {"width": 1, "color": "black"}},
                               hovertemplate="%{text}<extra></extra>", text=[])
        else:
            trace = go.Scatter(name=name, mode="lines", x=[], y=[], line=line, legend=legend,
                               connectgaps=False)
        fig.add_trace(trace, row=row, col=1, secondary_y=secondary)
    # one legend beside each panel, at the top of its y domain
    for row in range(1, 5):
        domain = fig.get_subplot(row, 1).yaxis.domain
        key = "legend" if row == 1 else f"legend{row}"
        fig.layout[key] = {"y": domain[1], "yanchor": "top", "x": 1.02, "font": {"size": 10}}
    fig.update_layout(height=height, margin={"l": 60, "r": 10, "t": 60, "b": 40},
                      title=title or None, hovermode="x", uirevision="labkit")
    fig.update_xaxes(title_text="seconds since start", row=4, col=1)
    fig.update_yaxes(title_text="pods", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=2, col=1)
    fig.update_yaxes(title_text="users", rangemode="tozero", row=3, col=1, secondary_y=False)
    fig.update_yaxes(title_text="req/s", rangemode="tozero", row=3, col=1, secondary_y=True)
    fig.update_yaxes(title_text="ms", rangemode="tozero", row=4, col=1)
    return fig


class FigureModel:
    """Trace arrays built from Timeline rows; each row is read once (incremental).

    ``add(rows, events, meta)`` appends new sample rows; ``traces()`` gives the arrays to
    assign and ``shapes()`` the shaded intervals. No plotting happens here.
    """

    def __init__(self, slo_ms: float = 500.0):
        self.slo_ms = float(slo_ms)
        self.reset()

    def reset(self) -> None:
        self.x: list[float] = []
        self.y: dict[str, list[Any]] = {col: [] for col in _COLUMNS.values()}
        self.events: list[Mapping[str, Any]] = []
        self.meta: dict[str, Any] = {}
        self.metric_name = ""
        self._panic: list[list[float]] = []
        self._panic_open = False
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
            n += 1
        if events is not None:
            self.events = list(events)
        if meta is not None:
            self.meta = dict(meta)
        return n

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
        ex, ey, text = [], [], []
        for ev in self.events:
            t = _number(ev.get("time"))
            if t is None:
                continue
            m = _NEW_SIZE.search(str(ev.get("message", "")))
            ex.append(t)
            ey.append(int(m.group(1)) if m else self._value_at("spec_replicas", t))
            text.append(f"<b>{ev.get('reason', '')}</b> ({ev.get('type', 'Normal')}) "
                        f"t={t:g}s<br>{ev.get('object', '')}<br>"
                        f"{_wrap(str(ev.get('message', '')))}")
        out["events"] = {"x": tuple(ex), "y": tuple(ey), "text": tuple(text)}
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
        return tuple({"type": "rect", "xref": "x", "yref": "paper", "x0": a, "x1": b,
                      "y0": 0, "y1": 1, "fillcolor": _SHADE[kind], "line": {"width": 0},
                      "layer": "below", "name": kind} for kind, a, b in spans)

    def write(self, fig: go.Figure) -> None:
        """Assign the arrays, shapes and the metric panel's title to ``fig``."""
        for name, props in self.traces().items():
            fig.data[_INDEX[name]].update(props)
        shapes = self.shapes()
        if self._written.get(id(fig)) != shapes:
            fig.layout.shapes = shapes
            self._written[id(fig)] = shapes
        if self.metric_name:
            fig.layout.annotations[1].text = f"{self.metric_name} vs target"


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
                 height: int = 820, title: str = ""):
        self.model = FigureModel(slo_ms)
        self.interval = interval
        self.widget = go.FigureWidget(base_figure(height=height, title=title))
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
        m = tl.meta
        title = " · ".join(str(v) for v in (m.get("backend"), m.get("variant"), m.get("profile"))
                           if v)
    fig = base_figure(height=height, title=title)
    model.write(fig)
    return fig
