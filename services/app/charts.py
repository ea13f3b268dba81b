"""One look for every chart: the Plotly template and one colour per channel, site and status.

Plotly renders a subset of HTML (links, styles) in hovers, tick labels, legends and titles: every
text given to a figure goes through ``_text``, so a name from the data is shown as it is written.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

TEMPLATE = "rencontres"
PALETTE = ["#0B5FA5", "#E07B00", "#2E9E5B", "#B0358C", "#6C5CE7", "#C0392B", "#00A3A3", "#7F8C8D"]
CHANNEL_COLOURS = {
    "social": "#3B5998",
    "newspaper": "#C0392B",
    "email": "#2E9E5B",
    "search": "#E07B00",
    "direct": "#7F8C8D",
    "other": "#B0358C",
}
STATUS_COLOURS = {"attended": "#2E9E5B", "booked": "#0B5FA5", "no_show": "#E07B00", "cancelled": "#B8C2CC"}
FUNNEL_STEPS = ("reached", "booked", "attended", "enrolled")
FUNNEL_COLOURS = dict(zip(FUNNEL_STEPS, ["#B8D4EC", "#5B9BD5", "#0B5FA5", "#073B66"], strict=True))

pio.templates[TEMPLATE] = go.layout.Template(
    layout=go.Layout(
        font={"family": "Source Sans Pro, sans-serif", "size": 13, "color": "#1F2A37"},
        colorway=PALETTE,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        xaxis={"gridcolor": "#E5E9EF"},
        yaxis={"gridcolor": "#E5E9EF"},
    )
)


def _text(value: object) -> object:
    """Text as Plotly shows it literally: it renders a subset of HTML (links, styles) in every label."""
    return html.escape(value, quote=False) if isinstance(value, str) else value


def _texts(values: Iterable[object]) -> list[object]:
    return [_text(value) for value in values]


def pacing_figure(
    current: pd.DataFrame,
    comparison: pd.DataFrame | None,
    names: tuple[str, str | None],
    x_title: str,
    y_title: str,
) -> go.Figure:
    """Cumulative bookings by day relative to the event's first day, this event against the comparison."""
    figure = go.Figure(layout={"template": TEMPLATE})
    figure.add_scatter(
        x=current["day"],
        y=current["bookings"],
        name=_text(names[0]),
        mode="lines",
        line={"color": PALETTE[0], "width": 3},
    )
    if comparison is not None and names[1]:
        figure.add_scatter(
            x=comparison["day"],
            y=comparison["bookings"],
            name=_text(names[1]),
            mode="lines",
            line={"color": PALETTE[7], "width": 2, "dash": "dash"},
        )
    figure.add_vline(x=0, line={"color": "#999", "dash": "dot"})
    figure.update_layout(xaxis_title=_text(x_title), yaxis_title=_text(y_title), height=340)
    return figure


def bookings_by_site_figure(long: pd.DataFrame, status_names: dict[str, str], x_title: str) -> go.Figure:
    """Horizontal bars of bookings per site, stacked by status."""
    figure = go.Figure(layout={"template": TEMPLATE})
    for status, colour in STATUS_COLOURS.items():
        part = long[long["status"] == status]
        figure.add_bar(
            y=_texts(part["site"]),
            x=part["bookings"],
            name=_text(status_names.get(status, status)),
            marker_color=colour,
            orientation="h",
        )
    figure.update_layout(
        barmode="stack", xaxis_title=_text(x_title), height=380, yaxis={"autorange": "reversed"}
    )
    return figure


def funnel_by_site_figure(table: pd.DataFrame, step_names: dict[str, str], x_title: str) -> go.Figure:
    """Horizontal grouped bars of the funnel steps per site."""
    figure = go.Figure(layout={"template": TEMPLATE})
    for step in FUNNEL_STEPS:
        figure.add_bar(
            y=_texts(table["site"]),
            x=table[step],
            name=_text(step_names.get(step, step)),
            marker_color=FUNNEL_COLOURS[step],
            orientation="h",
        )
    figure.update_layout(
        barmode="group", xaxis_title=_text(x_title), height=380, yaxis={"autorange": "reversed"}
    )
    return figure


def timeline_figure(
    schedule: pd.DataFrame, status_names: dict[str, str], overlaps: set[str], first_advisor: str | None = None
) -> go.Figure:
    """One row per advisor (the ``first_advisor`` e-mail on top, then by label), one bar per
    interview from its start to its end, coloured by status."""
    figure = go.Figure(layout={"template": TEMPLATE})
    for status, colour in STATUS_COLOURS.items():
        part = schedule[schedule["status"] == status]
        if part.empty:
            continue
        durations = (part["ends_at"] - part["starts_at"]).dt.total_seconds() * 1000
        figure.add_bar(
            base=part["starts_at"].dt.tz_localize(None),
            x=durations,
            y=_texts(part["advisor_label"]),
            orientation="h",
            name=_text(status_names.get(status, status)),
            marker_color=colour,
            # One colour unless some interview overlaps (plotly checks a list colour by colour).
            marker_line={
                "color": np.where(part["ref"].isin(overlaps), "#C0392B", colour).tolist()
                if part["ref"].isin(overlaps).any()
                else colour,
                "width": 2,
            },
            customdata=part[["candidate", "program_code"]].fillna("").map(_text).to_numpy(),
            hovertemplate="%{base|%H:%M} · %{customdata[0]} · %{customdata[1]}<extra></extra>",
        )
    rows = sorted(schedule["advisor_label"].unique())
    first = schedule.loc[schedule["advisor_email"] == first_advisor, "advisor_label"]
    if not first.empty:
        rows.remove(first.iloc[0])
        rows.insert(0, first.iloc[0])
    figure.update_layout(
        barmode="overlay",
        height=max(220, 60 + 36 * len(rows)),
        xaxis={"type": "date"},
        yaxis={"categoryorder": "array", "categoryarray": _texts(rows), "autorange": "reversed"},
    )
    return figure


def models_figure(
    long: pd.DataFrame, model_names: dict[str, str], channel_names: dict[str, str], y_title: str
) -> go.Figure:
    """Grouped bars: for each channel, its credit under each model."""
    figure = go.Figure(layout={"template": TEMPLATE})
    for i, (model, name) in enumerate(model_names.items()):
        part = long[long["model"] == model]
        figure.add_bar(
            x=_texts(channel_names.get(c, c) for c in part["channel"]),
            y=part["credit"],
            name=_text(name),
            marker_color=PALETTE[i % len(PALETTE)],
        )
    figure.update_layout(barmode="group", yaxis_title=_text(y_title), height=380)
    return figure


def intervals_figure(table: pd.DataFrame, channel_names: dict[str, str], y_title: str) -> go.Figure:
    """Each channel's credit with its 90 % interval."""
    figure = go.Figure(layout={"template": TEMPLATE})
    figure.add_bar(
        x=_texts(channel_names.get(c, c) for c in table["channel"]),
        y=table["credit"],
        marker_color=[CHANNEL_COLOURS.get(c, PALETTE[0]) for c in table["channel"]],
        error_y={
            "type": "data",
            "symmetric": False,
            "array": table["high"] - table["credit"],
            "arrayminus": table["credit"] - table["low"],
            "color": "#1F2A37",
        },
        showlegend=False,
    )
    figure.update_layout(yaxis_title=_text(y_title), height=320)
    return figure


def weekly_figure(long: pd.DataFrame, channel_names: dict[str, str], y_title: str) -> go.Figure:
    """Stacked bars of conversions per week, one colour per channel."""
    figure = go.Figure(layout={"template": TEMPLATE})
    for channel, colour in CHANNEL_COLOURS.items():
        part = long[long["channel"] == channel]
        if not part.empty:
            figure.add_bar(
                x=part["week"],
                y=part["credit"],
                name=_text(channel_names.get(channel, channel)),
                marker_color=colour,
            )
    figure.update_layout(barmode="stack", yaxis_title=_text(y_title), height=340)
    return figure


def days_figure(days: pd.Series, x_title: str, y_title: str) -> go.Figure:
    """Histogram of the days from first touch to conversion."""
    figure = go.Figure(layout={"template": TEMPLATE})
    figure.add_histogram(x=days, xbins={"size": 1}, marker_color=PALETTE[0])
    figure.update_layout(xaxis_title=_text(x_title), yaxis_title=_text(y_title), height=300, bargap=0.05)
    return figure


def supply_figure(by_programme: pd.DataFrame, positions_name: str, seeking_name: str) -> go.Figure:
    """Grouped horizontal bars per programme: positions offered against seeking candidates."""
    figure = go.Figure(layout={"template": TEMPLATE})
    labels = _texts(by_programme["program_code"])
    figure.add_bar(
        y=labels,
        x=by_programme["positions"],
        name=_text(positions_name),
        marker_color=PALETTE[0],
        orientation="h",
    )
    figure.add_bar(
        y=labels,
        x=by_programme["seeking"],
        name=_text(seeking_name),
        marker_color=PALETTE[1],
        orientation="h",
    )
    figure.update_layout(
        barmode="group", height=max(260, 60 + 34 * len(by_programme)), yaxis={"autorange": "reversed"}
    )
    return figure


def job_dating_funnel_figure(funnel: pd.Series, step_names: list[str]) -> go.Figure:
    """The job-dating funnel: meetings planned, held, with mutual interest, contracts signed."""
    figure = go.Figure(layout={"template": TEMPLATE})
    figure.add_funnel(
        y=_texts(step_names),
        x=[int(funnel[step]) for step in ("planned", "held", "mutual_interest", "contracts")],
        textinfo="value+percent initial",
        marker={"color": ["#B8D4EC", "#5B9BD5", "#0B5FA5", "#073B66"]},
    )
    figure.update_layout(height=320)
    return figure
