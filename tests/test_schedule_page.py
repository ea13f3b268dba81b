"""The schedule page in AppTest: renders, and an outcome saved through its form lands everywhere."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from services import results
from services.events import default_scope
from services.i18n import format_percent
from services.models import Booking

APP = str(Path(__file__).resolve().parent.parent / "dashboard.py")
PAGE = "pages/advisors/schedule.py"


def open_schedule() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=90)
    app.run()
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    return app


def test_schedule_on_an_empty_store_says_what_to_import(engine):
    app = open_schedule()
    assert any("advisors.csv" in info.value for info in app.info)


def test_schedule_of_the_first_virtual_day(demo_store):
    app = open_schedule()
    assert app.title[0].value == "Planning des entretiens"
    assert app.date_input(key="schedule_day").value == date(2020, 4, 14)
    assert len(app.get("plotly_chart")) == 1  # the timeline
    assert app.dataframe[0].value.shape[0] > 0


def test_saving_an_outcome_through_the_form(demo_store):
    table = Booking.__table__
    with demo_store.connect() as connection:
        ref, day = connection.execute(
            sa.select(table.c.ref, table.c.starts_at)
            .where(table.c.status == "booked", table.c.event_code == "POV-2020-04")
            .order_by(table.c.starts_at)
        ).first()
    scope = default_scope("POV-2020-04", demo_store)
    before = results.key_figures(scope, demo_store)["show_rate"]
    # The results page fills its cache first: it must not keep showing the old figure.
    first_look = AppTest.from_file(APP, default_timeout=90)
    first_look.run()
    assert {m.label: m.value for m in first_look.metric}["Taux de présence"] == format_percent(before)

    app = open_schedule()
    app.date_input(key="schedule_day").set_value(day.date()).run()
    app.selectbox(key="schedule_record_booking").set_value(ref)
    app.selectbox(key="schedule_record_status").set_value("attended")
    app.number_input(key="schedule_record_attendees").set_value(2)
    app.text_area(key="schedule_record_note").set_value("Venu avec ses parents")
    next(button for button in app.button if button.label == "Enregistrer").click().run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]

    with demo_store.connect() as connection:
        status, attendees = connection.execute(
            sa.select(table.c.status, table.c.attendees).where(table.c.ref == ref)
        ).one()
    assert (status, attendees) == ("attended", 2)
    after = results.key_figures(scope, demo_store)["show_rate"]
    assert after > before  # one more attended, no more no-shows
    # The results page (cached figures, keyed on the data version) shows the new show rate.
    results_page = AppTest.from_file(APP, default_timeout=90)
    results_page.run()
    shown = {metric.label: metric.value for metric in results_page.metric}
    assert shown["Taux de présence"] == format_percent(after)


def test_a_refused_outcome_shows_why(demo_store):
    table = Booking.__table__
    with demo_store.connect() as connection:
        ref, day = connection.execute(
            sa.select(table.c.ref, table.c.starts_at).where(
                table.c.status == "cancelled", table.c.event_code == "POV-2020-04"
            )
        ).first()
    app = open_schedule()
    app.date_input(key="schedule_day").set_value(day.date()).run()
    app.selectbox(key="schedule_record_booking").set_value(ref)
    app.selectbox(key="schedule_record_status").set_value("attended")
    next(button for button in app.button if button.label == "Enregistrer").click().run()
    assert any("rouvert" in error.value for error in app.error)
