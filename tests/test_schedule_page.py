"""The schedule page in AppTest: renders, and an outcome saved through its form lands everywhere."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from services import results
from services.events import default_scope
from services.i18n import format_percent
from services.models import Booking
from tests.conftest import app_as

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL


APP = str(Path(__file__).resolve().parent.parent / "dashboard.py")
PAGE = "pages/advisors/schedule.py"


def open_schedule(role: str = "admin", advisor_email: str | None = None) -> AppTest:
    return app_as(role, advisor_email, page=PAGE)


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
    first_look = app_as("director")
    assert {m.label: m.value for m in first_look.metric}["Taux de présence"] == format_percent(before)

    app = open_schedule()
    app.date_input(key="schedule_day").set_value(day.date()).run()
    app.selectbox(key="schedule_booking").set_value(ref).run()
    app.selectbox(key=f"schedule_status_{ref}").set_value("attended")
    app.number_input(key=f"schedule_attendees_{ref}").set_value(2)
    app.text_area(key=f"schedule_note_{ref}").set_value("Venu avec ses parents")
    save(app)
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
    results_page = app_as("director")
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
    app.selectbox(key="schedule_booking").set_value(ref).run()
    app.selectbox(key=f"schedule_status_{ref}").set_value("attended")
    save(app)
    assert any("rouvert" in error.value for error in app.error)


def save(app: AppTest) -> None:
    next(button for button in app.button if button.label == "Enregistrer").click().run()
    assert not app.exception, app.exception


def stored(engine, ref: str) -> tuple:
    table = Booking.__table__
    with engine.connect() as connection:
        return connection.execute(
            sa.select(table.c.status, table.c.attendees, table.c.version).where(table.c.ref == ref)
        ).one()


def a_booking(engine, status: str, attendees: int | None = None) -> tuple[str, date]:
    table = Booking.__table__
    conditions = [table.c.status == status, table.c.event_code == "POV-2020-04"]
    if attendees is not None:
        conditions.append(table.c.attendees == attendees)
    with engine.connect() as connection:
        ref, starts_at = connection.execute(
            sa.select(table.c.ref, table.c.starts_at).where(*conditions).order_by(table.c.ref)
        ).first()
    return ref, starts_at.date()


def test_the_form_opens_on_the_chosen_booking_and_a_note_alone_changes_nothing_else(demo_store):
    ref, day = a_booking(demo_store, "no_show")
    before = stored(demo_store, ref)
    app = open_schedule()
    app.date_input(key="schedule_day").set_value(day).run()
    app.selectbox(key="schedule_booking").set_value(ref).run()
    assert app.selectbox(key=f"schedule_status_{ref}").value == "no_show"
    app.text_area(key=f"schedule_note_{ref}").set_value("Rappeler la famille")
    save(app)
    status, attendees, version = stored(demo_store, ref)
    assert (status, attendees) == before[:2]  # the note did not turn the no-show into attended


def test_a_save_over_someone_elses_change_is_a_conflict(demo_store):
    ref, day = a_booking(demo_store, "attended")
    app = open_schedule()
    app.date_input(key="schedule_day").set_value(day).run()
    app.selectbox(key="schedule_booking").set_value(ref).run()
    # Meanwhile another advisor records a no-show for the same interview.
    from services.schedule import Outcome, record_outcome

    record_outcome(
        ref,
        outcome=Outcome("no_show"),
        author="autre@example.org",
        read_version=stored(demo_store, ref)[2],
        engine=demo_store,
    )
    app.selectbox(key=f"schedule_status_{ref}").set_value("booked")
    save(app)
    assert any("modifié par quelqu'un d'autre" in error.value for error in app.error)
    assert stored(demo_store, ref)[0] == "no_show"  # nothing overwritten
