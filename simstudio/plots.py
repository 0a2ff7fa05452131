"""Plotly figures from plain data (lists and arrays); no training imports, so any layer above can draw."""

from __future__ import annotations

import plotly.graph_objects as go


def empty_figure(message: str = "") -> go.Figure:
    """A blank figure carrying a short note (shown before a job has produced anything)."""
    fig = go.Figure()
    fig.update_layout(
        xaxis={"visible": False}, yaxis={"visible": False}, height=280,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        annotations=[{"text": message, "showarrow": False, "font": {"size": 14}}] if message else [],
    )
    return fig
