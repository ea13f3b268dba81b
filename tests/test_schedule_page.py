"""The schedule page in AppTest: renders, pages a network's advisors, and an outcome saved through
its form lands everywhere."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from services.i18n import format_percent
from services.metrics import results
from services.store import audit
from services.store.events import default_scope
from services.store.models import Booking
from tests.apptest_browser import download
from tests.conftest import app_as, load

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


def test_an_empty_table_says_so_in_the_language(demo_store):
    # The demo's LP-MI at Bar-le-Duc has no booking (no interview on any day): the workload of
    # the period is empty, and says so rather than Streamlit's untranslated « empty » grid.
    for language, wanted in (("fr", "Aucune ligne à afficher"), ("en", "No row to show")):
        app = app_as("admin", None, PAGE, site="BLD", program="LP-MI", lang=language)
        assert not app.exception, app.exception
        assert any(wanted in caption.value for caption in app.caption)
        assert not [frame for frame in app.dataframe if frame.value.empty]


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
    from services.advising.outcomes import Outcome, record_outcome

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


# ---------------------------------------------------------------- a network: pages of advisors

#: (ref, advisor number, start): on 14/04 advisors 01–27 have an interview at 10:00, 05 a
#: second at 11:00, 27 a second at 10:30 that overlaps his first (10:00–10:45); on 16/04 only
#: 01 has one. Advisors 28–30 have none. 29 interviews on 14/04.
NETWORK_BOOKINGS = [
    *((f"B{number:02}", number, "2020-04-14 10:00") for number in range(1, 28)),
    ("B05b", 5, "2020-04-14 11:00"),
    ("B27b", 27, "2020-04-14 10:30"),
    ("B99", 1, "2020-04-16 10:00"),
]


@pytest.fixture
def network(engine):
    """Thirty advisors at one site: more than one page of advisors (25 a page)."""
    load("sites", "code,name\nMAX,Maxéville\n")
    load("programs", "code,site_code,name,level\nBTS-CRSA,MAX,BTS CRSA,BTS\n")
    load(
        "advisors",
        "email,name,site_code\n" + "".join(f"c{n:02}@cfai.fr,Conseiller {n:02},MAX\n" for n in range(1, 31)),
    )
    load("events", "code,name,kind,starts_on,ends_on\nPOV,Portes ouvertes,virtual,2020-04-14,2020-04-17\n")
    load(
        "candidates",
        "ref,first_name,last_name,email,created_at\n"
        + "".join(
            f"K{ref},Jeune,{ref},{ref.lower()}@exemple.fr,2020-03-01 10:00\n"
            for ref, _, _ in NETWORK_BOOKINGS
        ),
    )
    load(
        "bookings",
        "ref,candidate_ref,event_code,site_code,program_code,advisor_email,starts_at,status,booked_at\n"
        + "".join(
            f"{ref},K{ref},POV,MAX,BTS-CRSA,c{n:02}@cfai.fr,{at},booked,2020-04-01 09:00\n"
            for ref, n, at in NETWORK_BOOKINGS
        ),
    )
    return engine


def open_network(role: str = "admin", advisor_email: str | None = None) -> AppTest:
    return app_as(role, advisor_email, page=PAGE, event="POV")


def table(app: AppTest, column: str) -> pd.DataFrame:
    """The first table of the page with this column (the list: "Candidat"; the free slots:
    "Créneaux libres"; the load: "Heures")."""
    return next(frame.value for frame in app.dataframe if column in frame.value.columns)


def timeline_rows(app: AppTest) -> list[str]:
    return json.loads(app.get("plotly_chart")[0].proto.spec)["layout"]["yaxis"]["categoryarray"]


def captions(app: AppTest) -> str:
    return "\n".join(caption.value for caption in app.caption)


def test_a_network_day_shows_one_page_of_advisors(network):
    app = open_network()
    assert app.date_input(key="schedule_day").value == date(2020, 4, 14)
    pager = app.selectbox(key="schedule_page")
    assert pager.value == 1
    assert pager.options == [
        "1–25 : Conseiller 01 · MAX → Conseiller 25 · MAX",
        "26–30 : Conseiller 26 · MAX → Conseiller 30 · MAX",
    ]
    # The chosen advisor (the first by name, 01), then 02–27 who have interviews, then 28–30:
    # page 1 is 01–25, with 25 interviews at 10:00 and 05's second at 11:00, 26 of the 29.
    assert (
        "Conseillers 1–25 sur 30, dont 27 avec des entretiens · cette page : 26 des 29 entretiens"
        in captions(app)
    )
    assert timeline_rows(app) == [f"Conseiller {n:02} · MAX" for n in range(1, 26)]
    listing = table(app, "Candidat")
    assert len(listing) == 26
    assert set(listing["Conseiller"]) == {f"Conseiller {n:02}" for n in range(1, 26)}
    # The overlap of 27 is found over the whole day, though he is on page 2.
    assert any("Conseiller 27 · MAX (page 2)" in warning.value for warning in app.warning)
    assert len(table(app, "Créneaux libres")) == 25
    assert len(table(app, "Heures")) == 25
    # Only this page's interviews can be picked to record their outcome.
    assert len(app.selectbox(key="schedule_booking").options) == 26
    assert app.button(key="schedule_page_previous").disabled
    assert not app.exception


def test_the_next_page_shows_the_other_advisors_their_free_slots_and_load(network):
    app = open_network()
    app.button(key="schedule_page_next").click().run()
    assert not app.exception, app.exception
    assert app.selectbox(key="schedule_page").value == 2
    # 26–30: 26's B26, 27's B27 and B27b; 28–30 have none, so no row on the timeline.
    assert "Conseillers 26–30 sur 30, dont 27 avec des entretiens · cette page : 3 des 29 entretiens" in (
        captions(app)
    )
    assert timeline_rows(app) == ["Conseiller 26 · MAX", "Conseiller 27 · MAX"]
    assert sorted(table(app, "Candidat")["Candidat"]) == ["Jeune B26", "Jeune B27", "Jeune B27b"]
    assert any("Chevauchements : B27, B27b." in warning.value for warning in app.warning)
    # 26 is busy 10:00–10:45, 27 10:00–11:15: both lose the 09:45 and 10:30 slots (9 − 2 = 7);
    # 28, 29 and 30 keep all 9.
    slots = table(app, "Créneaux libres")
    # (The page writes its figures as text in its language.)
    assert dict(zip(slots["Conseiller"], slots["Créneaux libres"], strict=True)) == {
        "Conseiller 26": "7",
        "Conseiller 27": "7",
        "Conseiller 28": "9",
        "Conseiller 29": "9",
        "Conseiller 30": "9",
    }
    # The load of the operation's period: 26 one interview (0.75 h), 27 two (1.5 h).
    load_table = table(app, "Heures")
    assert load_table[["Conseiller", "Entretiens", "Heures"]].values.tolist() == [
        ["Conseiller 26", "1", "0,75"],
        ["Conseiller 27", "2", "1,50"],
    ]
    assert app.button(key="schedule_page_next").disabled
    # Each page of names seen is audited, with which advisors it showed (their e-mails, cNN for
    # Conseiller NN): 26 to 30 on this page, 01 to 25 on the first (latest first).
    views = audit.recent_events().query("action == 'view'")["detail"].tolist()
    assert views == [
        "2020-04-14..2020-04-14 conseillers " + ", ".join(f"c{n}@cfai.fr" for n in range(26, 31)),
        "2020-04-14..2020-04-14 conseillers " + ", ".join(f"c{n:02d}@cfai.fr" for n in range(1, 26)),
    ]


def test_an_advisor_is_on_top_of_the_first_page_with_their_candidates_details(network):
    app = open_network("advisor", "c27@cfai.fr")
    assert app.selectbox(key="schedule_page").value == 1
    # 27 first, then 01–24: his 2 interviews, 24 at 10:00 and 05's second: 27 of 29.
    assert "cette page : 27 des 29 entretiens" in captions(app)
    assert timeline_rows(app)[:2] == ["Conseiller 27 · MAX", "Conseiller 01 · MAX"]
    listing = table(app, "Candidat")
    assert listing.iloc[:2][["Conseiller", "Candidat", "E-mail"]].values.tolist() == [
        ["Conseiller 27", "Jeune B27", "b27@exemple.fr"],
        ["Conseiller 27", "Jeune B27b", "b27b@exemple.fr"],
    ]
    assert (listing.iloc[2:]["Candidat"] == "—").all()
    # Overlaps of his own are on his page: no other page to point to.
    assert not any("autres pages" in warning.value for warning in app.warning)


def test_choosing_an_advisor_brings_back_the_first_page_with_them_on_top(network):
    app = open_network()
    app.button(key="schedule_page_next").click().run()
    app.selectbox(key="schedule_advisor").set_value("c28@cfai.fr").run()
    assert not app.exception, app.exception
    assert app.selectbox(key="schedule_page").value == 1
    # 28 has no interview: first on the page all the same (his free slots, his calendar), then
    # 01–24: 24 interviews at 10:00 and 05's second.
    assert "Conseillers 1–25 sur 30, dont 27 avec des entretiens · cette page : 25 des 29 entretiens" in (
        captions(app)
    )
    assert table(app, "Créneaux libres").iloc[0]["Conseiller"] == "Conseiller 01"  # by name
    assert "Conseiller 28" in set(table(app, "Créneaux libres")["Conseiller"])


def test_a_page_without_interviews_and_a_day_without_any(network):
    app = open_network()
    # 16/04: only 01's B99. Page 2 (26–30) has nobody's interview but their free slots.
    app.date_input(key="schedule_day").set_value(date(2020, 4, 16)).run()
    assert "cette page : 1 des 1 entretiens" in captions(app)
    app.button(key="schedule_page_next").click().run()
    assert not app.exception, app.exception
    assert any("Aucun entretien pour les conseillers de cette page" in info.value for info in app.info)
    assert not app.get("plotly_chart")
    assert table(app, "Créneaux libres")["Créneaux libres"].tolist() == ["9"] * 5  # as shown
    # 15/04: nobody's interview at all; the advisors are still paged for their free slots.
    app.date_input(key="schedule_day").set_value(date(2020, 4, 15)).run()
    assert any("Aucun entretien ce jour-là" in info.value for info in app.info)
    assert app.selectbox(key="schedule_page").value == 1  # another day starts again at page 1
    assert len(table(app, "Créneaux libres")) == 25


def test_the_downloads_hold_every_interview_of_the_day(network):
    app = open_network()

    def text(key: str) -> str:
        return download(app, key).decode("utf-8-sig")

    assert len(table(app, "Candidat")) == 26  # page 1
    rows = list(csv.DictReader(io.StringIO(text("schedule_csv")), delimiter=";"))
    assert len(rows) == 29  # every interview of 14/04
    assert {row["Conseiller"] for row in rows} == {f"Conseiller {n:02}" for n in range(1, 28)}
    # The calendar of the chosen advisor (01): his one interview of the day.
    assert text("schedule_ics").count("BEGIN:VEVENT") == 1


def test_the_week_view_pages_the_advisors_of_the_week(network):
    app = open_network()
    app.segmented_control(key="schedule_view").set_value("week").run()
    assert not app.exception, app.exception
    # 13–19/04: the 29 interviews of 14/04 and 01's B99 on 16/04. Page 1 (01–25): 01's two,
    # one each for 02–25 and 05's second: 2 + 24 + 1 = 27 of 30.
    assert "Conseillers 1–25 sur 30, dont 27 avec des entretiens · cette page : 27 des 30 entretiens" in (
        captions(app)
    )
    listing = table(app, "Candidat")
    assert len(listing) == 27 and set(listing["Jour"]) == {"14 avr. 2020", "16 avr. 2020"}
    assert not [frame for frame in app.dataframe if "Créneaux libres" in frame.value.columns]  # a day's
