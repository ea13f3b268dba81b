"""Names from files and values from the URL are shown as text, never as Markdown links or images
(issue 16, item 11)."""

from __future__ import annotations

import re

import pytest

from services.app.markdown import escape_markdown
from tests.conftest import app_as, load

EVIL = "[clic](https://evil.example) ![t](https://evil.example/p.png) <https://evil.example>"
#: Markdown that would render a link, an image or an autolink: not preceded by a backslash.
LIVE = re.compile(r"(?<!\\)\]\(|(?<!\\)!\[|(?<!\\)<https?")


def bodies(app) -> list[str]:
    """The Markdown source of every text element and widget label of the page."""
    texts = [
        element.value
        for kind in ("markdown", "caption", "info", "warning", "error", "success")
        for element in app.get(kind)
    ]
    return texts + [widget.label for kind in ("button", "checkbox") for widget in app.get(kind)]


def assert_shown_as_text(app) -> None:
    shown = bodies(app)
    assert not [body for body in shown if LIVE.search(body)]
    assert any(escape_markdown(EVIL) in body for body in shown)


@pytest.fixture
def hostile_event(scenario):
    # An event of the centre's files whose name is Markdown (a link, a tracking image, an autolink).
    load("events", f"code,name,kind,starts_on,ends_on\nEVL,{EVIL},virtual,2019-04-15,2019-04-18\n")
    return scenario


def test_a_comparison_event_s_name_is_text_on_the_results_page(hostile_event):
    app = app_as("director", page="pages/directors/results.py", event="POV-2020-04", compare="EVL")
    assert_shown_as_text(app)


def test_an_event_s_name_is_text_on_the_job_dating_page(hostile_event):
    app = app_as("director", page="pages/directors/jobdating.py", event="EVL")
    assert_shown_as_text(app)


def test_a_url_filter_value_is_text_in_the_notice(hostile_event):
    app = app_as("director", site=EVIL, event="POV-2020-04")
    notices = [warning.value for warning in app.warning]
    assert any(escape_markdown(EVIL) in notice for notice in notices)
    assert not [notice for notice in notices if LIVE.search(notice)]
