"""Live lab: the control panel and live figure in JupyterLab, static figures elsewhere.

The only part of labkit that imports plotly and ipywidgets. ``figure`` draws, ``panel``
holds the widgets, ``static`` shows finished runs, ``frontend`` decides live or static.
"""

from __future__ import annotations

from .figure import FigureModel, LiveFigure, figure
from .frontend import widget_frontend
from .panel import Lab, panel
from .static import compare_figure, show

__all__ = ["FigureModel", "Lab", "LiveFigure", "compare_figure", "figure", "panel", "show",
           "widget_frontend"]
