"""The app starts and its home page renders, on an empty store and on demo data."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from services import bookings, database
from services.events import default_scope, latest_open_day, list_events
from services.i18n import format_number

APP = str(Path(__file__).resolve().parent.parent / "dashboard.py")


def start() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    return app


def test_home_on_an_empty_store_says_what_to_import(engine):
    app = start()
    assert any("python -m services import" in info.value for info in app.info)
    assert not app.warning  # no demo notice: DEMO_DATA=0 in the tests


def test_empty_store_is_seeded_with_demo_data_when_allowed(engine, monkeypatch):
    monkeypatch.setenv("DEMO_DATA", "1")
    app = start()
    assert database.holds_demo_data(engine)
    assert any("démonstration" in warning.value for warning in app.warning)


def test_home_shows_the_latest_event_figures(demo_store):
    app = start()
    assert any("démonstration" in warning.value for warning in app.warning)
    scope = default_scope(latest_open_day(list_events(demo_store)), demo_store)
    metrics = {metric.label: metric.value for metric in app.metric}
    expected = bookings.status_totals(scope, demo_store)["total"]
    assert metrics["Rendez-vous"] == format_number(expected)
    assert metrics["Candidats ayant réservé"] == format_number(bookings.funnel(scope, demo_store)["booked"])


@pytest.mark.parametrize(("language", "label"), [("fr", "Taux de présence"), ("en", "Show rate")])
def test_language_switch_changes_labels(demo_store, language, label):
    app = start()
    app.sidebar.selectbox[0].set_value(language).run()
    assert not app.exception
    assert label in [metric.label for metric in app.metric]
