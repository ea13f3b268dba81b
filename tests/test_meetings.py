"""Job-dating meetings: their outcomes (rules, history, conflicts) and the schedules sent out."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from icalendar import Calendar
from sqlalchemy.engine import Engine

from services.access import rights
from services.access.consent import set_presentation_consent
from services.documents import exports
from services.documents.calendars import meetings_ics
from services.jobdating import meeting_plan, meetings, pairing
from services.jobdating.meetings import MeetingOutcome, record_meeting_outcome
from services.metrics import jobdating
from services.store import database
from services.store.models import Meeting, MeetingChange
from services.store.scope import Scope
from services.store.versioned import ChangeRefused, ConflictError
from tests.conftest import load

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL

AFTER = datetime(2020, 5, 19, 12, tzinfo=UTC)  # 14:00 in Paris, after the morning's meetings
ALPHA, BETA = "11111111111111", "22222222222222"


@pytest.fixture
def event(engine: Engine) -> Engine:
    """JD on 19-20 May 2020: Alpha (BTS CRSA at MAX) meets Léa at 09:00 and Tom at 09:20 (Paris
    time), Beta (CAP RI at MAX) met Léa at 10:00 but that meeting was cancelled."""
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load("programs", "code,name,site_code,seats\nBTS-CRSA,BTS CRSA,MAX,12\nCAP-RI,CAP RI,MAX,12\n", engine)
    load(
        "events", "code,name,kind,starts_on,ends_on\nJD,Job dating,job_dating,2020-05-19,2020-05-20\n", engine
    )
    load("companies", f"siret,name\n{ALPHA},Alpha Usinage\n{BETA},Beta Soudure\n", engine)
    load(
        "offers",
        "ref,siret,program_code,site_code,positions,published_on\n"
        f"O1,{ALPHA},BTS-CRSA,MAX,2,2020-03-01\nO2,{BETA},CAP-RI,MAX,1,2020-03-01\n",
        engine,
    )
    load(
        "candidates",
        "ref,first_name,last_name,email,created_at\n"
        "C1,Léa,Martin,lea@example.org,2020-04-01 10:00\n"
        "C2,Tom,Petit,,2020-04-01 10:00\n",
        engine,
    )
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,status,meeting_url\n"
        "M1,JD,C1,O1,2020-05-19 09:00,planned,https://centre.whereby.com/jd-m1\n"
        "M2,JD,C2,O1,2020-05-19 09:20,planned,\n"
        "M3,JD,C1,O2,2020-05-19 10:00,cancelled,https://centre.whereby.com/jd-m3\n",
        engine,
    )
    return engine


def test_an_events_meetings_come_in_time_order_with_company_and_programme(event):
    frame = meetings.event_meetings("JD", event)
    assert frame["ref"].tolist() == ["M1", "M2", "M3"]
    first = frame.iloc[0]
    assert (first["company"], first["program"], first["first_name"]) == ("Alpha Usinage", "BTS CRSA", "Léa")
    # 09:00 in Paris, 20 minutes by default.
    assert (first["starts_at"].hour, first["ends_at"].hour, first["ends_at"].minute) == (9, 9, 20)
    assert meetings.event_meetings("NOPE", event).empty


def test_an_outcome_is_saved_with_its_history_and_counts_in_the_figures(event):
    version = record_meeting_outcome(
        "M1",
        outcome=MeetingOutcome("held", "contract_signed", date(2020, 5, 29)),
        author="conseiller@example.org",
        read_version=0,
        now=datetime(2020, 6, 1, 8, tzinfo=UTC),
        engine=event,
    )
    assert version == 1
    history = meetings.meeting_history("M1", event)
    # Three fields changed: status, outcome and the contract date (from none).
    changes = {row.field: (row.old, row.new) for row in history.itertuples()}
    assert changes.keys() == {"status", "outcome", "contract_signed_on"}
    assert changes["status"] == ("planned", "held")
    assert changes["outcome"] == ("none", "contract_signed")
    assert pd.isna(changes["contract_signed_on"][0]) and changes["contract_signed_on"][1] == "2020-05-29"
    assert set(history["by"]) == {"conseiller@example.org"}
    # One meeting held of the two that could be (M2 still planned): show rate 1 / (1 + 0) = 1;
    # one contract signed, by C1.
    figures = jobdating.job_dating_figures(Scope(date(2020, 5, 1), date(2020, 5, 31), event="JD"), event)
    assert (figures["contracts_signed"], figures["meeting_show_rate"]) == (1, 1.0)


def test_a_save_on_an_old_version_is_refused_and_writes_nothing(event):
    record_meeting_outcome(
        "M2", outcome=MeetingOutcome("held"), author="a@example.org", read_version=0, now=AFTER, engine=event
    )
    with pytest.raises(ConflictError):
        record_meeting_outcome(
            "M2",
            outcome=MeetingOutcome("no_show"),
            author="b@example.org",
            read_version=0,  # read before the first save
            now=AFTER,
            engine=event,
        )
    row = meetings.event_meetings("JD", event).set_index("ref").loc["M2"]
    assert (row["status"], row["version"]) == ("held", 1)
    assert len(meetings.meeting_history("M2", event)) == 1  # the first save's status only


@pytest.mark.parametrize(
    ("ref", "outcome", "now", "message"),
    [
        ("M1", MeetingOutcome("held"), datetime(2020, 5, 19, 6, tzinfo=UTC), "pas encore commencé"),
        ("M1", MeetingOutcome("no_show", "company_interested"), AFTER, "rencontre tenue"),
        ("M1", MeetingOutcome("held", "contract_signed"), AFTER, "date de signature"),
        ("M1", MeetingOutcome("held", "contract_signed", date(2020, 5, 18)), AFTER, "avant la rencontre"),
        ("M1", MeetingOutcome("held", "contract_signed", date(2020, 5, 20)), AFTER, "futur"),
        ("M1", MeetingOutcome("held", "both_interested", date(2020, 5, 19)), AFTER, "contrat signé"),
        ("M3", MeetingOutcome("held"), AFTER, "replanifiée"),
        ("M1", MeetingOutcome("done"), AFTER, "statut de rencontre inconnu"),
        ("M1", MeetingOutcome("held", "maybe"), AFTER, "résultat de rencontre inconnu"),
        ("M9", MeetingOutcome("held"), AFTER, "rencontre inconnue"),
    ],
)
def test_the_rules_refuse_what_cannot_be_true(event, ref, outcome, now, message):
    with pytest.raises(ChangeRefused, match=message):
        record_meeting_outcome(ref, outcome=outcome, author="a", read_version=0, now=now, engine=event)
    assert meetings.meeting_history(ref, event).empty


def test_a_cancelled_meeting_is_planned_again_first(event):
    version = record_meeting_outcome(
        "M3", outcome=MeetingOutcome("planned"), author="a", read_version=0, now=AFTER, engine=event
    )
    assert version == 1
    record_meeting_outcome(
        "M3", outcome=MeetingOutcome("held"), author="a", read_version=1, now=AFTER, engine=event
    )


def test_a_company_gets_its_candidates_first_names_and_programme_only(event):
    frame = meetings.event_meetings("JD", event)
    alpha = meetings.company_schedule(frame, ALPHA)
    assert list(alpha.columns) == meetings.COMPANY_COLUMNS
    assert alpha["first_name"].tolist() == ["Léa", "Tom"]
    sent = exports.to_csv(alpha).decode("utf-8-sig") + meetings_ics(alpha, "Alpha Usinage").decode()
    for private in ("Martin", "Petit", "lea@example.org", "C1", "C2"):
        assert private not in sent
    # Beta's only meeting was cancelled: nothing to send.
    assert meetings.company_schedule(frame, BETA).empty
    events = Calendar.from_ical(meetings_ics(alpha, "Alpha Usinage")).walk("VEVENT")
    assert [str(e["summary"]) for e in events] == [
        "Job dating · Léa · BTS CRSA",
        "Job dating · Tom · BTS CRSA",
    ]
    # Léa's meeting has its room; Tom's has none yet: no link rather than "nan".
    assert str(events[0]["url"]) == "https://centre.whereby.com/jd-m1" and "url" not in events[1]
    # 09:00 in Paris in May is 07:00 UTC.
    assert events[0]["dtstart"].dt == datetime(2020, 5, 19, 7, tzinfo=UTC)


def test_a_candidate_gets_the_companies_met(event):
    lea = meetings.candidate_schedule(meetings.event_meetings("JD", event), "C1")
    assert list(lea.columns) == meetings.CANDIDATE_COLUMNS
    assert lea["company"].tolist() == ["Alpha Usinage"]  # Beta's meeting was cancelled
    (only,) = Calendar.from_ical(meetings_ics(lea, "Léa")).walk("VEVENT")
    assert str(only["summary"]) == "Job dating · Alpha Usinage · BTS CRSA"


def test_a_formula_in_a_first_name_is_neutralised_in_the_company_export(event):
    load("candidates", 'ref,first_name,created_at\nC3,=HYPERLINK("x"),2020-04-01 10:00\n', event)
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,status\nM4,JD,C3,O1,2020-05-19 09:40,planned\n",
        event,
    )
    alpha = meetings.company_schedule(meetings.event_meetings("JD", event), ALPHA)
    text = exports.to_csv(alpha).decode("utf-8-sig")
    assert ";=HYPERLINK" not in text and "'=HYPERLINK" in text


def test_erasing_a_candidate_erases_the_history_of_their_meetings(event):
    record_meeting_outcome(
        "M1", outcome=MeetingOutcome("held"), author="a", read_version=0, now=AFTER, engine=event
    )
    deleted = rights.erase_candidate("C1", actor="dpo", engine=event)
    # Léa's two meetings (M1, M3) and M1's one change (its status).
    assert (deleted["meetings"], deleted["meeting_changes"]) == (2, 1)
    with event.connect() as connection:
        left = connection.execute(sa.select(sa.func.count()).select_from(MeetingChange.__table__)).scalar()
    assert left == 0


def test_a_cancelled_meeting_is_not_planned_again_over_a_meeting_given_its_time(event):
    # Léa's 10:00 meeting with Beta (M3) was cancelled; her 10:00 was then given to Alpha (M5).
    # Planning M3 again would have her meet two companies at once.
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,status\nM5,JD,C1,O1,2020-05-19 10:10,planned\n",
        event,
    )
    with pytest.raises(ChangeRefused, match="le candidat a déjà une autre rencontre"):
        record_meeting_outcome(
            "M3", outcome=MeetingOutcome("planned"), author="a", read_version=0, now=AFTER, engine=event
        )
    # Tom at Beta's 10:00 instead: now the company is taken.
    with event.begin() as connection:
        connection.execute(
            sa.update(Meeting.__table__).where(Meeting.__table__.c.ref == "M5").values(status="cancelled")
        )
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,status\nM6,JD,C2,O2,2020-05-19 09:50,planned\n",
        event,
    )
    with pytest.raises(ChangeRefused, match="l'entreprise a déjà une autre rencontre"):
        record_meeting_outcome(
            "M3", outcome=MeetingOutcome("planned"), author="a", read_version=0, now=AFTER, engine=event
        )
    assert meetings.meeting_history("M3", event).empty


@pytest.mark.parametrize(
    ("consent", "parent", "cancelled"),
    [
        # Léa (no birth date: maybe under 15, so a parent's consent is needed too).
        (False, False, ["M1"]),
        (True, False, ["M1"]),
        (True, True, []),
    ],
)
def test_a_consent_withdrawn_cancels_the_meetings_to_come(event, consent, parent, cancelled):
    # Before the job dating: Léa's planned M1 (Alpha, 09:00) is to come; M3 is cancelled already.
    before = datetime(2020, 5, 1, tzinfo=UTC)
    done = set_presentation_consent(
        ref="C1",
        consent=consent,
        parent_consent=parent,
        actor="conseil@example.org",
        now=before,
        engine=event,
    )
    assert done == cancelled
    frame = meetings.event_meetings("JD", event).set_index("ref")
    assert frame.loc["M1", "status"] == ("cancelled" if cancelled else "planned")
    # Alpha's schedule no longer names her.
    assert ("Léa" in set(meetings.company_schedule(frame.reset_index(), ALPHA)["first_name"])) == (
        not cancelled
    )


def test_writers_of_meetings_take_turns(event):
    # The second writer's turn comes only once the first one's transaction has ended, on
    # PostgreSQL as on SQLite (which has one writer at a time anyway).
    order = []

    def first() -> None:
        with database.write_transaction(event) as connection:
            database.take_turn(connection, meetings.MEETING_WRITES)
            order.append("first has its turn")
            started.set()
            time.sleep(0.5)
            order.append("first ends")

    def second() -> None:
        started.wait()
        with database.write_transaction(event) as connection:
            database.take_turn(connection, meetings.MEETING_WRITES)
            order.append("second has its turn")

    started = threading.Event()
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert order == ["first has its turn", "first ends", "second has its turn"]


def test_another_job_dating_the_same_days_makes_people_busy_but_not_count(event):
    # JD2, a job dating of another site on the same days: Tom meets Beta there at 11:00. In JD,
    # Tom (and Beta) are busy at 11:00 too; his meeting count in JD stays 1 (M2): the limit is
    # per event. A JD2 meeting cancelled keeps nobody busy.
    load("events", "code,name,kind,starts_on,ends_on\nJD2,Autre,job_dating,2020-05-19,2020-05-19\n", event)
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,status\n"
        "N1,JD2,C2,O2,2020-05-19 11:00,planned\nN2,JD2,C2,O2,2020-05-19 15:00,cancelled\n",
        event,
    )
    jd = pairing.job_dating_event("JD", event)
    with event.connect() as connection:
        candidates, companies, per_candidate = meeting_plan.stored_busy(connection, jd)
    # M1 (Léa) and M2 (Tom) of JD, N1 of JD2; M3 and N2 are cancelled.
    assert sorted((b.who, b.starts_at.hour) for b in candidates) == [("C1", 7), ("C2", 7), ("C2", 9)]
    assert sorted((b.who, b.starts_at.hour) for b in companies) == [(ALPHA, 7), (ALPHA, 7), (BETA, 9)]
    assert per_candidate == {"C1": 1, "C2": 1}
