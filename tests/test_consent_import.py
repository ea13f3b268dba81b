"""Consents to be presented to companies carried by candidates.csv (issue 22): an empty cell or
an absent column never changes a stored consent, an explicit no withdraws it as the planning
page does (meetings to come cancelled with their history, audit)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.access import consent
from services.imports.importer import import_bytes
from services.store.models import AuditEvent, Candidate, Meeting, MeetingChange
from tests.conftest import load

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL

ALPHA = "11111111111111"
HEADER = "ref,first_name,birth_date,created_at"


@pytest.fixture
def future_event(engine: Engine) -> Engine:
    """JD on 2 and 3 May 2040 (to come whenever the test runs): Léa (C1, adult) meets Alpha on
    2 May at 09:00 (planned), Tom (C2, adult) at 09:20 (planned). Both consented on the page."""
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load("programs", "code,name,site_code,seats\nBTS-CRSA,BTS CRSA,MAX,12\n", engine)
    load(
        "events", "code,name,kind,starts_on,ends_on\nJD,Job dating,job_dating,2040-05-02,2040-05-03\n", engine
    )
    load("companies", f"siret,name\n{ALPHA},Alpha Usinage\n", engine)
    load(
        "offers",
        f"ref,siret,program_code,site_code,published_on\nO1,{ALPHA},BTS-CRSA,MAX,2040-03-01\n",
        engine,
    )
    load(
        "candidates",
        f"{HEADER}\nC1,Léa,2000-01-01,2040-04-01 10:00\nC2,Tom,2000-01-01,2040-04-01 10:00\n",
        engine,
    )
    for ref in ("C1", "C2"):
        consent.set_presentation_consent(
            ref=ref, consent=True, parent_consent=True, actor="page", engine=engine
        )
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,status\n"
        "M1,JD,C1,O1,2040-05-02 09:00,planned\nM2,JD,C2,O1,2040-05-02 09:20,planned\n",
        engine,
    )
    return engine


def _consents(engine: Engine) -> dict[str, tuple]:
    table = Candidate.__table__
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                table.c.ref,
                table.c.presentation_consent,
                table.c.parent_presentation_consent,
                table.c.consent_recorded_on,
                table.c.consent_source,
            ).order_by(table.c.ref)
        ).all()
    return {ref: (bool(own), bool(parent), day, source) for ref, own, parent, day, source in rows}


def _statuses(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(Meeting.__table__.c.ref, Meeting.__table__.c.status)).all())


def test_a_file_without_the_columns_or_with_empty_cells_changes_no_consent(future_event):
    load("candidates", f"{HEADER}\nC1,Léa-Rose,2000-01-01,2040-04-01 10:00\n", future_event)
    load(
        "candidates",
        f"{HEADER},presentation_consent,parent_presentation_consent,consent_recorded_on,consent_source\n"
        "C1,Léa,2000-01-01,2040-04-01 10:00,,,,\n",
        future_event,
    )
    # Both stay as the page recorded them; no date, no source was ever given.
    assert _consents(future_event)["C1"] == (True, True, None, None)
    assert _statuses(future_event) == {"M1": "planned", "M2": "planned"}


def _marketing(engine: Engine) -> dict[str, tuple[bool, bool]]:
    table = Candidate.__table__
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.ref, table.c.marketing_consent, table.c.parent_consent).order_by(table.c.ref)
        ).all()
    return {ref: (bool(own), bool(parent)) for ref, own, parent in rows}


def test_an_empty_marketing_consent_cell_changes_no_stored_consent(engine):
    # The contract (candidates.csv): « A missing consent column, or an empty cell, never changes
    # a stored consent; an explicit no withdraws it. » marketing_consent and parent_consent are
    # consents too; their « default false » is what a new candidate gets.
    header = "ref,created_at,marketing_consent,parent_consent"
    load("candidates", f"{header}\nC1,2040-04-01 10:00,oui,oui\nC2,2040-04-01 10:00,oui,oui\n", engine)
    # A later export of the booking site leaves C1's cells empty, says no for C2, adds C3.
    result = load(
        "candidates",
        f"{header}\nC1,2040-04-01 10:00,,\nC2,2040-04-01 10:00,non,non\nC3,2040-04-01 10:00,,\n",
        engine,
    )
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
    # C1 keeps both; C2 withdrew both; C3, new with empty cells, gets the default: no.
    assert _marketing(engine) == {"C1": (True, True), "C2": (False, False), "C3": (False, False)}


@pytest.mark.parametrize("no", ["non", "no", "0", "false", "NON", " Non "])
def test_an_explicit_no_withdraws_and_cancels_the_meetings_to_come(future_event, no):
    result = load(
        "candidates",
        f"{HEADER},presentation_consent,consent_recorded_on,consent_source\n"
        f"C1,Léa,2000-01-01,2040-04-01 10:00,{no},2040-04-20,papier signé\n"
        "C2,Tom,2000-01-01,2040-04-01 10:00,,,\n",
        future_event,
    )
    assert (result.inserted, result.updated) == (0, 1)  # C2's row is the same as stored
    # Léa withdrew: her own consent is off, the parent's column was absent so it stays.
    assert _consents(future_event)["C1"] == (False, True, date(2040, 4, 20), "papier signé")
    assert _consents(future_event)["C2"] == (True, True, None, None)
    # Her meeting to come is cancelled, Tom's stays.
    assert _statuses(future_event) == {"M1": "cancelled", "M2": "planned"}
    with future_event.connect() as connection:
        history = connection.execute(
            sa.select(
                MeetingChange.__table__.c.meeting_ref,
                MeetingChange.__table__.c.field,
                MeetingChange.__table__.c.old_value,
                MeetingChange.__table__.c.new_value,
            )
        ).all()
        audited = connection.execute(
            sa.select(AuditEvent.__table__.c.target, AuditEvent.__table__.c.detail)
            .where(AuditEvent.__table__.c.action == "candidate.presentation_consent")
            .order_by(AuditEvent.__table__.c.id)
        ).all()
    assert history == [("M1", "status", "planned", "cancelled")]
    # The two page saves of the fixture, then the import's withdrawal (ref only, never a name).
    assert audited[-1] == ("C1", "consent=0 parent=1 cancelled=1 via=import")
    assert len(audited) == 3


@pytest.mark.parametrize(
    ("own", "parent", "expected"),
    [
        ("oui", "oui", (True, True)),
        ("yes", "no", (True, False)),
        ("1", "0", (True, False)),
        ("true", "", (True, False)),
    ],
)
def test_each_spelling_of_yes_and_no_and_a_new_candidate(engine, own, parent, expected):
    load(
        "candidates",
        f"{HEADER},presentation_consent,parent_presentation_consent\n"
        f"N1,Nina,2010-02-03,2040-04-01 10:00,{own},{parent}\n"
        "N2,Noé,2010-02-03,2040-04-01 10:00,,\n",
        engine,
    )
    # A new candidate with empty cells gets "no" (the unknown is not a consent).
    assert _consents(engine) == {"N1": (*expected, None, None), "N2": (False, False, None, None)}


def test_a_parent_withdrawal_cancels_a_minor_s_meetings_only(future_event):
    # Tom is 14 on 2 May 2040 once his birth date is corrected: without a parent's consent he
    # may no longer be presented; Léa, adult, may be without one.
    load(
        "candidates",
        f"{HEADER},parent_presentation_consent\n"
        "C1,Léa,2000-01-01,2040-04-01 10:00,non\nC2,Tom,2026-01-01,2040-04-01 10:00,non\n",
        future_event,
    )
    assert _statuses(future_event) == {"M1": "planned", "M2": "cancelled"}


def test_an_unreadable_consent_refuses_the_file_and_stores_nothing(future_event):
    result = import_bytes(
        f"{HEADER},presentation_consent\nC1,Léa,2000-01-01,2040-04-01 10:00,peut-être\n".encode(),
        source="candidates.csv",
        engine=future_event,
    )
    assert not result.accepted
    assert result.describe_problems() == [
        "candidates.csv:2: presentation_consent: peut-être: booléen illisible "
        "(attendu oui/non, 1/0, true/false, yes/no, o/n, y/n)"
    ]
    assert _consents(future_event)["C1"] == (True, True, None, None)
    assert _statuses(future_event) == {"M1": "planned", "M2": "planned"}


def test_the_page_records_a_selection_at_once_with_its_source(future_event):
    cancelled = consent.record_consents(
        refs=["C1", "C2"],
        consent=False,
        parent_consent=None,
        recorded_on=date(2040, 4, 25),
        source="formulaire de réservation",
        actor="conseil@example.org",
        engine=future_event,
    )
    assert cancelled == ["M1", "M2"]
    assert _consents(future_event) == {
        "C1": (False, True, date(2040, 4, 25), "formulaire de réservation"),
        "C2": (False, True, date(2040, 4, 25), "formulaire de réservation"),
    }
    with pytest.raises(consent.UnknownCandidates, match="NOBODY"):
        consent.record_consents(
            refs=["C1", "NOBODY"], consent=True, parent_consent=True, actor="x", engine=future_event
        )
    assert _consents(future_event)["C1"][0] is False  # all or nothing
