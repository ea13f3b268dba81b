"""Personal data: the retention purge, the rights of access and erasure, minors' consent.

The hand-made centre of tests/data/scenario (its figures are worked out in tests/test_report.py)
has seven candidates; CA, CE and CF have an enrollment of status ``enrolled``, the four others
never enrolled: CB and CG have no enrollment at all, CC is pre-registered and CD withdrew.
Their latest contacts (local time, 2020):

- CB: touchpoints 2, 4 and 6 April, booking BB on 14 April 11:00 → 14 April;
- CC: booking BC on 15 April, meetings M2 and M4 on 20–21 April, pre-registration 2 June → 2 June;
- CD: touchpoints 13 March, bookings BD1 and BD2 on 15 and 16 April, withdrawal 3 June → 3 June;
- CG: touchpoint 9 April, booking BG on 1 May 00:15 → 1 May 00:15.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from services.__main__ import main
from services.access import privacy, retention, rights
from services.advising import outcomes, schedule
from services.imports.importer import import_bytes
from services.metrics.report import build_report
from services.store import analytics, database
from services.store.contract import MASK
from services.store.models import (
    ANONYMOUS_REF_PREFIX,
    AttendanceSuggestion,
    AuditEvent,
    Booking,
    Candidate,
    ImportRun,
    RoomAttempt,
)
from services.store.scope import Scope
from tests.conftest import load

#: 1 July 2023: 36 months back is 1 July 2020, after every contact of the scenario.
LATE = datetime(2023, 7, 1, tzinfo=UTC)
#: Personal values of CB, the phone and the note added by the ``centre`` fixture.
BRUNO = ("Bruno", "Bel", "bruno@example.org", "06 11 22 33 44", "2003-01-15", "57100", "mère")
#: BB's video room as the ``centre`` fixture gives it: Whereby's meeting id and the host link.
BB_ROOM = ("whereby-meeting-bb", "https://centre.whereby.com/max-bb?roomKey=hote-bb")


@pytest.fixture
def centre(scenario: Engine) -> Engine:
    """The scenario, plus what makes erasure and the purge show: a phone, a booking's history and
    notes, and an import refused because of a line about CB."""
    load("candidates", "ref,phone,created_at\nCB,06 11 22 33 44,2020-04-02 09:00\n", scenario)
    # BB (CB's, no_show) becomes attended for 2 people with a note: 2 changes (status and
    # attendees) and 1 note. BA (CA's, kept by the purge) gets a note and no change.
    after = datetime(2020, 4, 14, 12, 0, tzinfo=UTC)
    outcomes.record_outcome(
        "BB",
        outcome=outcomes.Outcome("attended", 2, "Bruno est venu avec sa mère"),
        author="anne.conseil@example.org",
        read_version=0,
        now=after,
        engine=scenario,
    )
    outcomes.record_outcome(
        "BA",
        outcome=outcomes.Outcome("attended", None, "Alice hésite entre deux sites"),
        author="anne.conseil@example.org",
        read_version=0,
        now=after,
        engine=scenario,
    )
    refused = import_bytes(
        b"candidate_ref,occurred_at\nCB,2020-04-20 10:00\nCB,2020-04-20 10:00\n",
        source="touchpoints.csv",
        engine=scenario,
    )
    assert not refused.accepted  # line 3 repeats line 2's key, which names CB
    # BB had a Whereby room (asked once), and its call said Bruno came with someone.
    meeting_id, host_link = BB_ROOM
    with database.write_transaction(scenario) as connection:
        connection.execute(
            Booking.__table__.update()
            .where(Booking.__table__.c.ref == "BB")
            .values(room_meeting_id=meeting_id, host_room_url=host_link)
        )
        connection.execute(
            RoomAttempt.__table__.insert().values(
                booking_ref="BB",
                attempted_at=datetime(2020, 4, 10, 8, 0, tzinfo=UTC),
                end_date="2020-04-14T09:00:00Z",
                room_name_prefix="max",
                state="created",
            )
        )
        connection.execute(
            AttendanceSuggestion.__table__.insert().values(
                booking_ref="BB",
                suggestion="attended",
                visitors=2,
                host_joined=True,
                family=True,
                fetched_at=datetime(2020, 4, 14, 9, 5, tzinfo=UTC),
            )
        )
    return scenario


def _cells(engine: Engine) -> list[tuple[str, str, str]]:
    """Every non-empty cell of every table of the store, as text: (table, column, value)."""
    cells = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(sa.select(table)).mappings():
                cells += [(table.name, name, str(value)) for name, value in row.items() if value is not None]
    return cells


def _found(engine: Engine, needles: tuple[str, ...]) -> set[tuple[str, str, str]]:
    """(needle, table, column) wherever a needle appears as a whole word in a stored cell."""
    return {
        (needle, table, column)
        for table, column, value in _cells(engine)
        for needle in needles
        if re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", value)
    }


def _outside_audit_targets(found: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    # The append-only audit log names bookings and candidates by ref (who changed which booking,
    # which ref was erased): that is its purpose, and it holds no other personal value.
    return {place for place in found if place[1:] != ("audit_events", "target")}


def _audit(engine: Engine, action: str) -> list[tuple[str, str | None, str | None]]:
    """(actor, target, detail) of the audit events of one action, oldest first."""
    events = AuditEvent.__table__
    query = sa.select(events.c.actor, events.c.target, events.c.detail).where(events.c.action == action)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query.order_by(events.c.id))]


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


# ---------------------------------------------------------------- retention purge


def test_purge_preview_counts_the_rows_of_candidates_never_enrolled(centre):
    # Cutoff 1 July 2020: all four never-enrolled candidates are purged (CB, CC, CD, CG).
    # touchpoints: CB 3 + CD 2 + CG 1 = 6; bookings: BB, BC, BD1, BD2, BG = 5;
    # enrollments: CC's pre-registration and CD's withdrawal = 2; meetings: CC's M2 and M4 = 2;
    # booking_changes: BB's 2; booking_notes: BB's 1 (BA's note is CA's, who enrolled);
    # room_attempts and attendance_suggestions: BB's 1 each.
    before = database.data_version(centre)
    preview = retention.purge_preview(now=LATE)
    # 1 July 2023 00:00 UTC is 02:00 in Paris; 36 months back, 1 July 2020 02:00 in Paris (00:00 UTC).
    assert preview.cutoff == datetime(2020, 7, 1, 0, 0, tzinfo=UTC)
    assert preview.candidates == 4
    assert preview.rows == {
        "candidates": 4,
        "touchpoints": 6,
        "bookings": 5,
        "enrollments": 2,
        "meetings": 2,
        "booking_changes": 2,
        "booking_notes": 1,
        "room_attempts": 1,
        "attendance_suggestions": 1,
        "meeting_changes": 0,
        "meeting_suggestions": 0,  # no call of the centre's meetings was read
        "mail_sends": 0,  # no job-dating mail was sent to them
    }
    assert preview.as_frame().to_dict("records")[-7:] == [
        {"table": "booking_changes", "action": "deleted", "rows": 2},
        {"table": "booking_notes", "action": "deleted", "rows": 1},
        {"table": "room_attempts", "action": "deleted", "rows": 1},
        {"table": "attendance_suggestions", "action": "deleted", "rows": 1},
        {"table": "meeting_changes", "action": "deleted", "rows": 0},
        {"table": "meeting_suggestions", "action": "deleted", "rows": 0},
        {"table": "mail_sends", "action": "deleted", "rows": 0},
    ]
    assert database.data_version(centre) == before  # a preview writes nothing
    assert _count(centre, Candidate.__table__) == 7


@pytest.mark.parametrize(
    ("now", "purged"),
    [
        # Cutoff 15 May 2020: CB (14 April) and CG (1 May) are purged; CC and CD are kept by
        # their pre-registration (2 June) and withdrawal (3 June), which are contacts too.
        (datetime(2023, 5, 15, 12, 0, tzinfo=UTC), 2),
        # CG's booking starts on 1 May 2020 at 00:15 local time (22:15 UTC the day before): at
        # exactly 36 months after it, it is not yet older than the cutoff…
        (datetime(2023, 4, 30, 22, 15, tzinfo=UTC), 1),
        # … one minute later it is.
        (datetime(2023, 4, 30, 22, 16, tzinfo=UTC), 2),
        # Cutoff 1 April 2020: every never-enrolled candidate had a contact since.
        (datetime(2023, 4, 1, tzinfo=UTC), 0),
    ],
)
def test_the_latest_contact_starts_the_retention_period(centre, now, purged):
    assert retention.purge_preview(now=now).candidates == purged


def test_retention_months_are_calendar_months_of_the_centre(monkeypatch):
    # 31 March 2023 10:00 UTC is 12:00 in Paris (summer time); one month back is 28 February
    # (no 31st), 12:00 in Paris (winter time), i.e. 11:00 UTC.
    monkeypatch.setenv("RETENTION_MONTHS", "1")
    cutoff = retention.retention_cutoff(datetime(2023, 3, 31, 10, 0, tzinfo=UTC))
    assert cutoff == datetime(2023, 2, 28, 11, 0, tzinfo=UTC)
    monkeypatch.setenv("RETENTION_MONTHS", "0")
    with pytest.raises(ValueError, match="RETENTION_MONTHS"):
        retention.retention_cutoff()


def test_purge_keeps_the_figures_of_past_events(centre):
    scopes = [
        Scope(date(2020, 3, 1), date(2020, 6, 30)),
        Scope(date(2020, 4, 1), date(2020, 4, 30), event="POV-2020-04"),
        Scope(date(2020, 4, 1), date(2020, 4, 30), event="JD-2020-04"),
        Scope(date(2020, 4, 1), date(2020, 5, 31), sites=("YUT",), programs=("BTS-MS",)),
    ]

    def reports() -> list[dict]:
        return [
            build_report(scope, goal, lookback, engine=centre)
            for scope in scopes
            for goal in ("booking", "enrollment")
            for lookback in (30, 7)
        ]

    before = reports()
    # The purged candidates are in these figures: e.g. April's funnel reached 7 candidates.
    assert before[0]["funnel"]["reached"] == 7
    assert retention.purge(actor="test", now=LATE, engine=centre).candidates == 4
    assert reports() == before


def test_purge_through_report_json_prints_the_same_object(centre, capsys):
    arguments = ["report", "--json", "--from", "2020-04-01", "--to", "2020-04-30"]
    assert main(arguments) == 0
    before = capsys.readouterr().out
    retention.purge(actor="test", now=LATE, engine=centre)
    assert main(arguments) == 0
    assert capsys.readouterr().out == before


def test_purge_leaves_no_personal_value_of_the_purged(centre):
    needles = (
        *BRUNO,
        *("Chloé", "Cordier", "2005-09-30", "88000"),
        *("David", "Durand", "david@example.org", "2001-02-02", "55000"),
        *("Gaëlle", "Girard", "gaelle@example.org", "2003-12-12"),
        # Their refs, their bookings' and meetings' refs, the video links of BB and M2 (none).
        *("CB", "CC", "CD", "CG", "BB", "BC", "BD1", "BD2", "BG", "M2", "M4"),
        "https://centre.whereby.com/max-bb",
        *BB_ROOM,
    )
    assert ("Bruno", "candidates", "first_name") in _found(centre, needles)  # the scan sees them
    retention.purge(actor="test", now=LATE, engine=centre)
    found = _found(centre, needles)
    assert _outside_audit_targets(found) == set()
    assert {needle for needle, _, _ in found} <= {"BB"}  # the audit of BB's outcome (centre fixture)
    # BB's room, the attempt that asked for it and what its call said are gone with the person.
    assert _count(centre, RoomAttempt.__table__) == _count(centre, AttendanceSuggestion.__table__) == 0
    # The kept candidates keep everything, BA's note included.
    kept = ("Alice", "alice@example.org", "CA", "BA", "Emma", "Farid", "hésite")
    assert {needle for needle, _, _ in _found(centre, kept)} == set(kept)


def test_purged_rows_belong_to_anonymous_candidates(centre):
    retention.purge(actor="test", now=LATE, engine=centre)
    candidates, bookings = Candidate.__table__, Booking.__table__
    with centre.connect() as connection:
        anonymous = connection.execute(
            sa.select(candidates).where(candidates.c.ref.startswith(ANONYMOUS_REF_PREFIX))
        ).mappings()
        anonymous = {row["ref"]: row for row in anonymous}
        cd_bookings = connection.execute(
            sa.select(bookings.c.ref, bookings.c.candidate_ref, bookings.c.status, bookings.c.meeting_url)
            .where(bookings.c.site_code == "YUT", bookings.c.program_code == "BTS-MS")
            .order_by(bookings.c.starts_at)
        ).all()
    assert len(anonymous) == 4
    assert all(re.fullmatch(r"anon-[0-9a-f]{16}", ref) for ref in anonymous)
    personal = ("first_name", "last_name", "email", "phone", "birth_date", "postal_code")
    assert all(row[name] is None for row in anonymous.values() for name in personal)
    assert not any(row["marketing_consent"] or row["parent_consent"] for row in anonymous.values())
    # CD's two bookings (BD1 cancelled, BD2 attended) now belong to one anonymous candidate and
    # are numbered in the order of their old refs.
    (first, owner, status, link), (second, owner_2, status_2, _) = cd_bookings
    assert owner == owner_2 and owner in anonymous
    assert (first, second) == (f"{owner}-0001", f"{owner}-0002")
    assert (status, status_2, link) == ("cancelled", "attended", None)


def test_purge_records_audit_bumps_version_masks_import_history_and_runs_once(centre):
    before = database.data_version(centre)
    done = retention.purge(actor="cli:root", now=LATE, engine=centre)
    assert (done.candidates, done.rows["touchpoints"]) == (4, 6)
    assert database.data_version(centre) == before + 1
    assert _audit(centre, "purge") == [("cli:root", None, "candidates=4")]
    with centre.connect() as connection:
        problems = connection.execute(
            sa.select(ImportRun.__table__.c.problems).where(ImportRun.__table__.c.accepted.is_(False))
        ).scalar_one()
    assert [problem["value"] for problem in json.loads(problems)] == [MASK]
    # The anonymous candidates are never purged again; a run with nothing to do changes nothing.
    again = retention.purge(actor="cli:root", now=LATE + timedelta(days=3650), engine=centre)
    assert again.candidates == 0 and set(again.rows.values()) == {0}
    assert database.data_version(centre) == before + 1
    assert _audit(centre, "purge")[-1] == ("cli:root", None, "candidates=0")


def test_every_table_of_a_candidate_is_handled():
    """A new table that refers to candidates, bookings or meetings must be purged and erased too."""
    owners = {("candidates", "ref"), ("bookings", "ref"), ("meetings", "ref")}
    refers = {
        (table.name, key.column.table.name)
        for table in SQLModel.metadata.sorted_tables
        for key in table.foreign_keys
        if (key.column.table.name, key.column.name) in owners
    }
    assert refers == (
        {(t.name, "candidates") for t in privacy.CANDIDATE_TABLES}
        | {(t.name, "bookings") for t in privacy.BOOKING_TABLES}
        | {(t.name, "meetings") for t in privacy.MEETING_TABLES}
        | {(t.name, "candidates") for t in privacy.CANDIDATE_TRAIL_TABLES}
    )


# ---------------------------------------------------------------- access and erasure


def test_export_gives_everything_stored_about_a_candidate_in_iso_dates(centre):
    export = rights.export_candidate("CB", actor="dpo@example.org", engine=centre)
    assert export["candidate"] == {
        "ref": "CB",
        "first_name": "Bruno",
        "last_name": "Bel",
        "email": "bruno@example.org",
        "phone": "06 11 22 33 44",
        "birth_date": "2003-01-15",
        "postal_code": "57100",
        "marketing_consent": False,
        "parent_consent": False,
        "presentation_consent": False,
        "parent_presentation_consent": False,
        "created_at": "2020-04-02T09:00:00+02:00",
        "consent_recorded_on": None,
        "consent_source": None,
        "parent_email": None,
    }
    # CB's three touchpoints: no utm at all → direct (twice), and one given as social.
    assert [(t["occurred_at"], t["channel"]) for t in export["touchpoints"]] == [
        ("2020-04-02T09:00:00+02:00", "direct"),
        ("2020-04-04T09:00:00+02:00", "social"),
        ("2020-04-06T09:00:00+02:00", "direct"),
    ]
    (booking,) = export["bookings"]
    assert (booking["ref"], booking["starts_at"], booking["status"], booking["attendees"]) == (
        "BB",
        "2020-04-14T11:00:00+02:00",
        "attended",
        2,
    )
    assert sorted((c["field"], c["old_value"], c["new_value"]) for c in booking["history"]) == [
        ("attendees", "1", "2"),
        ("status", "no_show", "attended"),
    ]
    assert [note["text"] for note in booking["notes"]] == ["Bruno est venu avec sa mère"]
    # What the call said is the person's data; the advisor's host link is a key, never given out.
    assert [(s["suggestion"], s["visitors"]) for s in booking["call_attendance"]] == [("attended", 2)]
    assert "host_room_url" not in booking and BB_ROOM[1] not in json.dumps(export)
    assert (export["enrollments"], export["meetings"]) == ([], [])
    (mention,) = export["import_history"]
    assert (mention["kind"], mention["line"], mention["column"]) == (
        "touchpoints",
        3,
        "candidate_ref+occurred_at+channel+utm_source+utm_campaign",
    )
    json.dumps(export)  # plain JSON values only
    assert _audit(centre, "candidate.export") == [("dpo@example.org", "CB", None)]


def test_export_of_enrollments_and_meetings(centre):
    # CC: pre-registered for CAP-RI at YUT on 2 June; meetings M2 (held) and M4 (cancelled).
    export = rights.export_candidate("CC", actor="dpo", engine=centre)
    assert [(e["program_code"], e["status"], e["enrolled_at"]) for e in export["enrollments"]] == [
        ("CAP-RI", "pre_registered", "2020-06-02T09:00:00+02:00")
    ]
    assert [(m["ref"], m["status"]) for m in export["meetings"]] == [("M2", "held"), ("M4", "cancelled")]
    assert export["candidate"]["email"] is None  # Chloé gave no e-mail


def test_erasure_deletes_every_trace_of_the_person(centre):
    needles = (*BRUNO, "CB", "BB", "https://centre.whereby.com/max-bb", *BB_ROOM)
    before = database.data_version(centre)
    april = Scope(date(2020, 4, 1), date(2020, 4, 30))
    assert build_report(april, engine=centre)["bookings"]["total"] == 6
    deleted = rights.erase_candidate("CB", actor="dpo@example.org", engine=centre)
    assert deleted == {
        "candidates": 1,
        "touchpoints": 3,
        "bookings": 1,
        "enrollments": 0,
        "meetings": 0,
        "booking_changes": 2,
        "booking_notes": 1,
        "room_attempts": 1,
        "attendance_suggestions": 1,
        "meeting_changes": 0,
        "meeting_suggestions": 0,
        "mail_sends": 0,
    }
    # Only the audit log still names the refs (the erasure's own event is the proof it was done).
    assert _outside_audit_targets(_found(centre, needles)) == set()
    assert _audit(centre, "candidate.erase") == [
        (
            "dpo@example.org",
            "CB",
            "candidates=1 touchpoints=3 bookings=1 enrollments=0 meetings=0 "
            "booking_changes=2 booking_notes=1 room_attempts=1 attendance_suggestions=1 meeting_changes=0 "
            "meeting_suggestions=0 mail_sends=0",
        )
    ]
    assert database.data_version(centre) == before + 1
    # Erasure, unlike the purge, changes the figures: BB is no longer one of April's bookings.
    assert build_report(april, engine=centre)["bookings"]["total"] == 5
    assert _count(centre, Candidate.__table__) == 6


def test_find_candidates_by_ref_name_or_email(centre):
    def refs(query: str, limit: int = privacy.SEARCH_LIMIT) -> list[str]:
        return rights.find_candidates(query, limit, engine=centre)["ref"].tolist()

    # Both words, any case: only Alice Aubry.
    assert refs("ALICE aubry") == ["CA"]
    # "C" is in every ref: by last name (Aubry, Bel, Cordier…), the first three.
    assert refs("C", limit=3) == ["CA", "CB", "CC"]
    # "ce" is CE's ref and inside alice@example.org: the exact ref comes first.
    assert refs("CE") == ["CE", "CA"]
    # A LIKE wildcard is a plain character; a blank query finds nobody.
    assert refs("%") == [] and refs("  ") == []
    retention.purge(actor="test", now=LATE, engine=centre)
    assert refs("anon") == []  # anonymous candidates are nobody to look for
    assert refs("C") == ["CA", "CE", "CF"]


def test_candidate_json_is_the_export_as_text(centre):
    text = rights.candidate_json("CD", actor="dpo", engine=centre)
    exported = json.loads(text)
    assert exported["candidate"]["last_name"] == "Durand" and '"ref": "CD"' in text
    assert [b["ref"] for b in exported["bookings"]] == ["BD1", "BD2"]


def test_unknown_candidate(centre):
    with pytest.raises(privacy.UnknownCandidate, match="candidat inconnu : NOPE"):
        rights.export_candidate("NOPE", actor="dpo", engine=centre)
    with pytest.raises(privacy.UnknownCandidate):
        rights.erase_candidate("NOPE", actor="dpo", engine=centre)
    assert _audit(centre, "candidate.export") == _audit(centre, "candidate.erase") == []


# ---------------------------------------------------------------- command line


def test_command_line_purge(scenario, capsys):
    # Today is long after 2020 + 36 months: the four never-enrolled candidates are purged.
    assert main(["purge", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"jamais inscrits, sans contact depuis le .* : 4\n", printed)
    assert re.search(r"touchpoints +6 anonymisée\(s\)", printed)
    assert "rien n'a été écrit" in printed
    assert _count(scenario, Candidate.__table__) == 7 and retention.purge_preview().candidates == 4
    assert main(["purge"]) == 0
    assert "purge faite" in capsys.readouterr().out
    assert retention.purge_preview().candidates == 0
    assert [actor.startswith("cli:") for actor, _, _ in _audit(scenario, "purge")] == [True]


def test_command_line_purge_refuses_a_bad_setting(scenario, capsys, monkeypatch):
    monkeypatch.setenv("RETENTION_MONTHS", "trois ans")
    assert main(["purge"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "RETENTION_MONTHS" in error


def test_command_line_candidate_export_and_erase(centre, capsys):
    assert main(["candidate", "export", "CB"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["candidate"]["phone"] == "06 11 22 33 44" and printed["bookings"][0]["ref"] == "BB"
    # Off a terminal (pytest's standard input) nobody can answer: --yes is required.
    assert main(["candidate", "erase", "CB"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert rights.candidate_footprint("CB")["touchpoints"] == 3
    assert main(["candidate", "erase", "CB", "--yes"]) == 0
    assert "candidat effacé : CB" in capsys.readouterr().out
    for command in (["candidate", "export", "CB"], ["candidate", "erase", "CB", "--yes"]):
        assert main(command) == 2
        assert capsys.readouterr().err == "erreur : candidat inconnu : CB\n"


def test_command_line_erase_asks_on_a_terminal(centre, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda question: "n")
    assert main(["candidate", "erase", "CB"]) == 1
    assert "rien n'a été effacé" in capsys.readouterr().out
    monkeypatch.setattr("builtins.input", lambda question: "oui")
    assert main(["candidate", "erase", "CB"]) == 0
    with pytest.raises(privacy.UnknownCandidate):
        rights.candidate_footprint("CB")


# ---------------------------------------------------------------- minors' consent


def test_age_in_whole_years():
    assert privacy.age_on(date(2008, 2, 29), date(2023, 2, 28)) == 14  # the day before (no 29th)
    assert privacy.age_on(date(2008, 2, 29), date(2023, 3, 1)) == 15
    assert privacy.age_on(None, date(2023, 3, 1)) is None


@pytest.mark.parametrize(
    ("own", "parent", "born", "counts"),
    [
        (True, False, date(2005, 5, 5), True),  # 20 years old
        (True, False, date(2011, 6, 15), False),  # 14: the parent's consent is missing
        (True, True, date(2011, 6, 15), True),  # 14, with a parent's consent
        (True, False, date(2010, 6, 14), True),  # 15 today
        (True, False, None, True),  # not known to be under 15
        (False, True, date(2011, 6, 15), False),  # a parent cannot consent alone
    ],
)
def test_effective_marketing_consent(own, parent, born, counts):
    today = date(2025, 6, 14)
    assert (
        privacy.effective_marketing_consent(
            marketing_consent=own, parent_consent=parent, birth_date=born, today=today
        )
        is counts
    )


def test_consenting_candidates(engine):
    load(
        "candidates",
        "ref,birth_date,marketing_consent,parent_consent,created_at\n"
        "K1,2010-06-15,oui,non,2025-01-01 10:00\n"
        "K2,2011-01-01,oui,oui,2025-01-01 10:00\n"
        "K3,,oui,,2025-01-01 10:00\n"
        "K4,2000-01-01,non,oui,2025-01-01 10:00\n"
        "K5,2012-03-01,non,oui,2025-01-01 10:00\n"
        "K6,2005-05-05,oui,,2025-01-01 10:00\n",
    )
    # On 14 June 2025: K1 is 14 (15 tomorrow) without a parent's consent → no; K2 is 14 with
    # one → yes; K3's age is unknown → yes; K4 and K5 did not consent themselves → no; K6 is
    # 20 → yes. 3 candidates.
    assert privacy.consenting_candidates(date(2025, 6, 14), engine) == 3
    # The next day K1 turns 15: 4.
    assert privacy.consenting_candidates(date(2025, 6, 15), engine) == 4


def test_parent_consent_is_optional_and_anonymous_refs_are_reserved(engine):
    load("candidates", "ref,marketing_consent,created_at\nK1,oui,2025-01-01 10:00\n")
    with engine.connect() as connection:
        stored = connection.execute(sa.select(Candidate.__table__.c.parent_consent)).scalar_one()
    assert stored is False
    refused = import_bytes(
        b"ref,created_at\nanon-0123456789abcdef,2025-01-01 10:00\n", source="candidates.csv"
    )
    assert not refused.accepted
    assert refused.describe_problems() == [
        "candidates.csv:2: ref: anon-0123456789abcdef: "
        "le préfixe « anon- » est réservé aux candidats anonymisés"
    ]


def test_purge_keeps_the_figures_of_the_demo_data(demo_store):
    """Hundreds of candidates: the anonymous refs change the order of the journeys, not the sums."""
    scopes = [Scope(date(2019, 1, 1), date(2020, 12, 31)), Scope(date(2020, 4, 1), date(2020, 4, 30))]

    def reports() -> list[dict]:
        return [
            build_report(scope, goal, engine=demo_store)
            for scope in scopes
            for goal in ("booking", "enrollment")
        ]

    before = reports()
    assert retention.purge(actor="test", now=LATE, engine=demo_store).candidates > 100
    assert reports() == before


def test_erasure_leaves_no_copy_of_the_person_in_the_duckdb_worker(centre):
    # Reading a day of the schedule copies the candidates (with Bruno's name) into the DuckDB
    # worker; the erasure has the worker copy them again at once, without waiting for a read.
    if not analytics.reads_in_duckdb(centre):
        assert analytics.refresh_copies(centre) is None  # PostgreSQL: no copy to forget
        return
    schedule.interviews(date(2020, 4, 14), date(2020, 4, 14), engine=centre)
    copied = analytics.copies_made(centre)
    assert copied["candidates"] >= 1
    rights.erase_candidate("CB", actor="dpo@example.org", engine=centre)
    # The worker runs one job at a time: this count comes after the copies the erasure asked for.
    after = analytics.copies_made(centre)
    for table in ("candidates", "touchpoints", "bookings"):
        assert after[table] == copied[table] + 1, table
