"""One look for every chart: the Plotly template and one colour per channel, site and status.

Plotly renders a subset of HTML (links, styles) in hovers, tick labels, legends and titles: every
text given to a figure goes through ``_text``, so a name from the data is shown as it is written.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import date, timedelta

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from babel.dates import format_date as babel_date
from babel.dates import format_time as babel_time

from services.i18n import LANGUAGES, format_day, format_number, format_percent, locale

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


#: Plotly's decimal and thousands separators (layout.separators) in each language, as Babel
#: (CLDR) writes them: ``1 234,5`` in French, ``1,234.5`` in English.
SEPARATORS = {
    language: locale(language).number_symbols["latn"]["decimal"]
    + locale(language).number_symbols["latn"]["group"]
    for language in LANGUAGES
}


def _figure(language: str) -> go.Figure:
    """An empty figure of the house template whose numbers (ticks, hovers) follow ``language``."""
    return go.Figure(layout={"template": TEMPLATE, "separators": SEPARATORS.get(language, SEPARATORS["fr"])})


def _date_ticks(days: Iterable[date], language: str, pattern: str = "d MMM") -> dict[str, list]:
    """Tick values and texts of a date axis written by Babel (``14 avr.``): Plotly's own month
    names are English whatever the page's language."""
    days = sorted(set(days))
    return {
        "tickmode": "array",
        "tickvals": days,
        "ticktext": [babel_date(d, pattern, locale=locale(language)) for d in days],
    }


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
    *,
    language: str = "fr",
) -> go.Figure:
    """Cumulative bookings by day relative to the event's first day, this event against the comparison."""
    figure = _figure(language)
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


def bookings_by_site_figure(
    long: pd.DataFrame, status_names: dict[str, str], x_title: str, *, language: str = "fr"
) -> go.Figure:
    """Horizontal bars of bookings per site, stacked by status."""
    figure = _figure(language)
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


def funnel_by_site_figure(
    table: pd.DataFrame, step_names: dict[str, str], x_title: str, *, language: str = "fr"
) -> go.Figure:
    """Horizontal grouped bars of the funnel steps per site."""
    figure = _figure(language)
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
    schedule: pd.DataFrame,
    status_names: dict[str, str],
    overlaps: set[str],
    first_advisor: str | None = None,
    *,
    language: str = "fr",
) -> go.Figure:
    """One row per advisor (the ``first_advisor`` e-mail on top, then by label), one bar per
    interview from its start to its end, coloured by status."""
    figure = _figure(language)
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
        xaxis={"type": "date", **_time_ticks(schedule, language)},
        yaxis={"categoryorder": "array", "categoryarray": _texts(rows), "autorange": "reversed"},
    )
    return figure


def _time_ticks(schedule: pd.DataFrame, language: str) -> dict[str, object]:
    """The time axis of a timeline written by Babel: hours (``09:00``, ``9:00 AM``) over one day,
    days (``mar. 14 avr.``) over several; the day of a one-day timeline is the axis title."""
    starts = schedule["starts_at"].dt.tz_localize(None)
    ends = schedule["ends_at"].dt.tz_localize(None)
    first, last = starts.min(), ends.max()
    where = locale(language)
    if first.date() == (last - timedelta(microseconds=1)).date():
        hours = pd.date_range(first.floor("h"), last.ceil("h"), freq="h")
        return {
            "tickmode": "array",
            "tickvals": list(hours),
            "ticktext": [babel_time(hour.to_pydatetime(), "short", locale=where) for hour in hours],
            "title": {"text": _text(format_day(first.date(), language))},
        }
    days = pd.date_range(first.normalize(), last.normalize(), freq="D")
    return {
        "tickmode": "array",
        "tickvals": list(days),
        "ticktext": [babel_date(day.date(), "EEE d MMM", locale=where) for day in days],
    }


def models_figure(
    long: pd.DataFrame,
    model_names: dict[str, str],
    channel_names: dict[str, str],
    y_title: str,
    *,
    language: str = "fr",
) -> go.Figure:
    """Grouped bars: for each channel, its credit under each model."""
    figure = _figure(language)
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


def intervals_figure(
    table: pd.DataFrame, channel_names: dict[str, str], y_title: str, *, language: str = "fr"
) -> go.Figure:
    """Each channel's credit with its 90 % interval."""
    figure = _figure(language)
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


def weekly_figure(
    long: pd.DataFrame, channel_names: dict[str, str], y_title: str, *, language: str = "fr"
) -> go.Figure:
    """Stacked bars of conversions per week, one colour per channel."""
    figure = _figure(language)
    for channel, colour in CHANNEL_COLOURS.items():
        part = long[long["channel"] == channel]
        if not part.empty:
            figure.add_bar(
                x=part["week"],
                y=part["credit"],
                name=_text(channel_names.get(channel, channel)),
                marker_color=colour,
            )
    figure.update_layout(
        barmode="stack", yaxis_title=_text(y_title), height=340, xaxis=_date_ticks(long["week"], language)
    )
    return figure


def days_figure(days: pd.Series, x_title: str, y_title: str, *, language: str = "fr") -> go.Figure:
    """Histogram of the days from first touch to conversion."""
    figure = _figure(language)
    figure.add_histogram(x=days, xbins={"size": 1}, marker_color=PALETTE[0])
    figure.update_layout(xaxis_title=_text(x_title), yaxis_title=_text(y_title), height=300, bargap=0.05)
    return figure


def supply_figure(
    by_programme: pd.DataFrame, positions_name: str, seeking_name: str, *, language: str = "fr"
) -> go.Figure:
    """Grouped horizontal bars per programme: positions offered against seeking candidates."""
    figure = _figure(language)
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


def job_dating_funnel_figure(funnel: pd.Series, step_names: list[str], *, language: str = "fr") -> go.Figure:
    """The job-dating funnel: meetings planned, held, with mutual interest, contracts signed."""
    counts = [int(funnel[step]) for step in ("planned", "held", "mutual_interest", "contracts")]
    figure = _figure(language)
    figure.add_funnel(
        y=_texts(step_names),
        x=counts,
        # The count and its share of the first step, written by Babel (Plotly's "percent initial"
        # writes 32% whatever the language).
        text=[
            f"{format_number(count, language)} · {format_percent(share, language, 0)}"
            for count, share in zip(
                counts, [c / counts[0] if counts[0] else None for c in counts], strict=True
            )
        ],
        textinfo="text",
        marker={"color": ["#B8D4EC", "#5B9BD5", "#0B5FA5", "#073B66"]},
    )
    figure.update_layout(height=320)
    return figure
