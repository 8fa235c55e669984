"""Static figures: one finished run, and several runs side by side.

These are plain ``go.Figure`` objects shown with plotly's mimetype renderer, which stores the
figure's JSON in the notebook (JupyterLab draws it with its bundled plotly extension). Never
the ``notebook_connected``/CDN renderers: they fetch plotly.js from the internet.
"""

from __future__ import annotations

from typing import Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..scorecard import compare
from ..timeline import Timeline
from .figure import figure
from .frontend import in_kernel

#: The renderer for static figures in a kernel: JSON in the notebook, no plotly.js download.
RENDERER = "plotly_mimetype"


def display_figure(fig: go.Figure, *, html_path: str | None = None) -> None:
    """Show ``fig`` in a kernel; in a plain script only write ``html_path`` (offline plotly.js)."""
    if html_path:
        fig.write_html(html_path, include_plotlyjs=True)
    if in_kernel():
        fig.show(renderer=RENDERER)


def show(tl: Timeline, *, slo_ms: float | None = None, html_path: str | None = None) -> None:
    """Display the static four-panel figure of a finished Timeline (see :func:`figure`)."""
    display_figure(figure(tl, slo_ms=slo_ms), html_path=html_path)


def compare_figure(timelines: Mapping[str, Timeline], *, slo_ms: float | None = None,
                   height: int = 700) -> go.Figure:
    """Several runs on one figure: replicas over time, p95 latency, and their scorecards.

    Top: spec.replicas of each run; middle: p95 latency with the SLO; bottom: pod-seconds
    (cost) and seconds over the SLO per run, the trade-off the comparison notebook discusses.
    """
    table = compare(timelines, slo_ms)
    fig = make_subplots(rows=3, cols=1, vertical_spacing=0.1, row_heights=[0.4, 0.3, 0.3],
                        subplot_titles=("spec replicas over time", "latency p95 (ms) over time",
                                        "cost (pod-seconds) and seconds over the SLO, per run"),
                        specs=[[{}], [{}], [{"secondary_y": True}]])
    slo = slo_ms
    for i, (name, tl) in enumerate(timelines.items()):
        color = _PALETTE[i % len(_PALETTE)]
        s = tl.samples
        fig.add_trace(go.Scatter(x=s.time, y=s.spec_replicas, name=name, legendgroup=name,
                                 line={"color": color, "shape": "hv"}), row=1, col=1)
        fig.add_trace(go.Scatter(x=s.time, y=s.latency_p95, name=name, legendgroup=name,
                                 showlegend=False, line={"color": color}), row=2, col=1)
        slo = slo if slo is not None else tl.meta.get("slo_ms")
    slo = 500.0 if slo is None else slo
    fig.add_hline(y=slo, line={"color": "red", "dash": "dash", "width": 1}, row=2, col=1,
                  annotation_text=f"SLO {slo:g} ms")
    names = list(table.index)
    fig.add_trace(go.Bar(x=names, y=table.pod_seconds, name="pod-seconds",
                         marker_color="#1f77b4", offsetgroup="cost"), row=3, col=1)
    fig.add_trace(go.Bar(x=names, y=table.seconds_over_slo, name="seconds over SLO",
                         marker_color="#d62728", offsetgroup="slo"),
                  row=3, col=1, secondary_y=True)
    # time axes: units on the ticks instead of an axis title (a title there runs into the
    # bar chart's heading); counts never go below zero and get their own round ticks
    fig.update_xaxes(ticksuffix=" s", row=1, col=1)
    fig.update_xaxes(ticksuffix=" s", row=2, col=1)
    fig.update_yaxes(title_text="pods", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="ms", rangemode="tozero", row=2, col=1)
    fig.update_yaxes(title_text="pod-s", rangemode="tozero", tickformat="~s", row=3, col=1,
                     secondary_y=False)
    seconds_over = [float(v) for v in table.seconds_over_slo]
    fig.update_yaxes(title_text="s over SLO", rangemode="tozero", tickmode="auto",
                     showgrid=False, row=3, col=1, secondary_y=True, nticks=5,
                     range=None if max(seconds_over, default=0) > 0 else [0, 10])
    fig.update_layout(height=height, barmode="group", margin={"t": 50, "b": 40})
    return fig


_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f")
