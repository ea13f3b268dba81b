"""Text from data is shown by Plotly as text, never as its HTML subset (issue 16, item 12)."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import pytest

from services.app import charts

#: Plotly renders <a href>, <b>, <span style> in hovers, tick labels, legends and text.
EVIL = '<a href="https://evil.example">clic</a>'
EVIL_SHOWN = '&lt;a href="https://evil.example"&gt;clic&lt;/a&gt;'


def _pacing() -> go.Figure:
    days = pd.DataFrame({"day": [-2, -1, 0], "bookings": [1, 3, 4]})
    return charts.pacing_figure(days, days, (EVIL, EVIL), EVIL, EVIL)


def _by_site() -> go.Figure:
    long = pd.DataFrame({"site": [EVIL, "Yutz"], "status": ["booked", "attended"], "bookings": [2, 3]})
    return charts.bookings_by_site_figure(long, {"booked": EVIL}, EVIL)


def _funnel_by_site() -> go.Figure:
    table = pd.DataFrame({"site": [EVIL], "reached": [9], "booked": [5], "attended": [4], "enrolled": [2]})
    return charts.funnel_by_site_figure(table, {"reached": EVIL}, EVIL)


def _timeline() -> go.Figure:
    starts = pd.to_datetime(["2020-04-14 09:00", "2020-04-14 10:00"]).tz_localize("Europe/Paris")
    schedule = pd.DataFrame(
        {
            "ref": ["B1", "B2"],
            "status": ["booked", "attended"],
            "starts_at": starts,
            "ends_at": starts + pd.Timedelta(minutes=30),
            "advisor_label": [EVIL, "Claire Roux"],
            "advisor_email": ["evil@example.org", "c.roux@example.org"],
            "candidate": [EVIL, "Léa Martin"],
            "program_code": [EVIL, None],
        }
    )
    return charts.timeline_figure(schedule, {"booked": EVIL}, {"B1"}, first_advisor="evil@example.org")


def _models() -> go.Figure:
    long = pd.DataFrame({"model": ["last"], "channel": [EVIL], "credit": [2.5]})
    return charts.models_figure(long, {"last": EVIL}, {}, EVIL)


def _intervals() -> go.Figure:
    table = pd.DataFrame({"channel": [EVIL], "credit": [2.0], "low": [1.0], "high": [3.0]})
    return charts.intervals_figure(table, {}, EVIL)


def _weekly() -> go.Figure:
    long = pd.DataFrame({"week": [pd.Timestamp("2020-04-13")], "channel": ["social"], "credit": [1.0]})
    return charts.weekly_figure(long, {"social": EVIL}, EVIL)


def _supply() -> go.Figure:
    by_programme = pd.DataFrame({"program_code": [EVIL], "positions": [3], "seeking": [5]})
    return charts.supply_figure(by_programme, EVIL, EVIL)


def _job_dating_funnel() -> go.Figure:
    funnel = pd.Series({"planned": 9, "held": 7, "mutual_interest": 3, "contracts": 1})
    return charts.job_dating_funnel_figure(funnel, [EVIL, "b", "c", "d"])


@pytest.mark.parametrize(
    "build",
    [
        _pacing,
        _by_site,
        _funnel_by_site,
        _timeline,
        _models,
        _intervals,
        _weekly,
        _supply,
        _job_dating_funnel,
    ],
)
def test_text_from_data_is_escaped_in_every_figure(build):
    # Plotly's JSON may write "<" as "\u003c": look at the text once decoded.
    text = json.dumps(json.loads(build().to_json()), ensure_ascii=False)
    assert "<a href" not in text and "</a>" not in text
    assert "&lt;a href" in text


def test_the_timeline_keeps_the_chosen_advisor_on_top_and_escapes_the_hover():
    figure = _timeline()
    assert list(figure.layout.yaxis.categoryarray) == [EVIL_SHOWN, "Claire Roux"]
    booked = next(trace for trace in figure.data if trace.y[0] == EVIL_SHOWN)
    assert list(booked.customdata[0]) == [EVIL_SHOWN, EVIL_SHOWN]
