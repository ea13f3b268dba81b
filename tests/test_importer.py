"""The importer against every rule of the data contract (shared/data-contract.md).

Each expected value is worked out from the contract, not from what the code returns.
"""

import csv
import io
import json
import sqlite3
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.access import rights
from services.imports import checks, columns
from services.imports.importer import import_bytes, import_path
from services.imports.problems import ImportResult
from services.store import models
from tests.conftest import SCENARIO, load

#: Every table a contract file fills, in the contract's import order.
pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL


DATA_MODELS = (
    models.Site,
    models.Program,
    models.Advisor,
    models.Event,
    models.Campaign,
    models.Candidate,
    models.Touchpoint,
    models.Booking,
    models.Enrollment,
    models.Company,
    models.Offer,
    models.Meeting,
)

# ---------------------------------------------------------------- helpers


def lines(*text_lines: str) -> str:
    """CSV text written by hand, one argument per line."""
    return "\n".join(text_lines) + "\n"


def csv_of(*rows: dict[str, str], sep: str = ",") -> str:
    """CSV text of rows (dicts), the first row's keys giving the header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator="\n")
    writer.writerow(rows[0])
    writer.writerows([row[name] for name in rows[0]] for row in rows)
    return buffer.getvalue()


def edit(row: dict[str, str], **changes: str | None) -> dict[str, str]:
    """A copy of ``row`` with some cells changed; ``None`` removes the column."""
    new = dict(row)
    for name, value in changes.items():
        if value is None:
            new.pop(name)
        else:
            new[name] = value
    return new


def run(kind: str, text: str, engine: Engine, encoding: str = "utf-8") -> ImportResult:
    """Import CSV text as the contract file ``kind``, accepted or not."""
    return import_bytes(text.encode(encoding), source=f"{kind}.csv", engine=engine)


def stored(engine: Engine, model: type) -> list[dict]:
    """Every row of a table, in insertion order."""
    table = model.__table__
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(sa.select(table).order_by(table.c.id)).mappings()]


def snapshot(engine: Engine) -> dict[str, list[dict]]:
    """The full content of every data table."""
    return {model.__tablename__: stored(engine, model) for model in DATA_MODELS}


def import_runs(engine: Engine) -> list[dict]:
    return stored(engine, models.ImportRun)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def assert_rejected(result: ImportResult, line: int, column: str, value: str, reason: str) -> None:
    """The file is refused with exactly one problem, at this line and column, for this value."""
    assert not result.accepted
    assert (result.inserted, result.updated) == (0, 0)
    assert [(p.line, p.column, p.value) for p in result.problems] == [(line, column, value)]
    assert reason in result.problems[0].reason.lower()


# ---------------------------------------------------------------- a small centre

BOOKING = {
    "ref": "B1",
    "candidate_ref": "CA",
    "event_code": "POV",
    "site_code": "MAX",
    "program_code": "BTS-MS",
    "advisor_email": "anne@example.org",
    "starts_at": "2020-04-14 10:00",
    "duration_min": "30",
    "status": "booked",
    "booked_at": "2020-04-08 10:00",
    "attendees": "3",
    "meeting_url": "https://visio.example.org/b1",
}
ENROLLMENT = {
    "candidate_ref": "CA",
    "program_code": "BTS-MS",
    "site_code": "MAX",
    "enrolled_at": "2020-06-01 09:00",
    "status": "pre_registered",
}
CANDIDATE = {
    "ref": "CC",
    "first_name": "Chloé",
    "email": "chloe@example.org",
    "birth_date": "2004-05-01",
    "marketing_consent": "oui",
    "created_at": "2020-04-03 10:00",
}
OFFER = {
    "ref": "O2",
    "siret": "12345678900011",
    "program_code": "BTS-MS",
    "site_code": "MAX",
    "positions": "3",
    "published_on": "2020-04-05",
}
MEETING = {
    "ref": "M1",
    "event_code": "JD",
    "candidate_ref": "CA",
    "offer_ref": "O1",
    "starts_at": "2020-04-20 10:00",
    "duration_min": "30",
    "status": "held",
    "outcome": "both_interested",
}
EVENT = {
    "code": "POV-2",
    "name": "Portes ouvertes",
    "kind": "in_person",
    "starts_on": "2020-05-14",
    "ends_on": "2020-05-16",
}
CAMPAIGN = {
    "code": "SOC-1",
    "name": "Facebook avril",
    "channel": "social",
    "event_code": "",
    "spend_eur": "500",
}
PROGRAM = {"code": "LP-MI", "name": "Licence pro", "level": "LICENCE_PRO", "site_code": "MAX", "seats": "10"}
TOUCHPOINT = {
    "candidate_ref": "CA",
    "occurred_at": "2020-04-01 10:00",
    "channel": "",
    "utm_source": "",
    "utm_medium": "",
    "utm_campaign": "avril",
    "landing_page": "/portes-ouvertes",
}


@pytest.fixture
def centre(engine: Engine) -> Engine:
    """Two sites, their programmes, an advisor, an open day and a job dating, two candidates, an offer."""
    load(
        "sites", lines("code,name,city,department", "MAX,Maxéville,Maxéville,54", "YUT,Yutz,Yutz,57"), engine
    )
    load(
        "programs",
        lines(
            "code,name,level,site_code,seats",
            "BTS-MS,BTS Maintenance des systèmes,BTS,MAX,12",
            "CAP-RI,CAP Réalisations industrielles,CAP,YUT,8",
        ),
        engine,
    )
    load("advisors", lines("email,name,site_code", "anne@example.org,Anne Conseil,MAX"), engine)
    load(
        "events",
        lines(
            "code,name,kind,starts_on,ends_on",
            "POV,Portes ouvertes virtuelles,virtual,2020-04-14,2020-04-17",
            "JD,Job dating,job_dating,2020-04-20,2020-04-21",
        ),
        engine,
    )
    load(
        "candidates",
        lines(
            "ref,first_name,email,created_at",
            "CA,Alice,alice@example.org,2020-04-01 10:00",
            "CB,Bruno,bruno@example.org,2020-04-02 10:00",
        ),
        engine,
    )
    load("companies", lines("siret,name", "12345678900011,Forges de Lorraine"), engine)
    load(
        "offers",
        lines("ref,siret,program_code,site_code,published_on", "O1,12345678900011,BTS-MS,MAX,2020-04-02"),
        engine,
    )
    return engine


# ---------------------------------------------------------------- accepted variants


def test_utf8_with_bom(engine: Engine) -> None:
    result = run("sites", lines("code,name", "MAX,Maxéville"), engine, encoding="utf-8-sig")
    assert result.accepted, result.describe_problems()
    # The BOM must not stick to the first column's name ("\ufeffcode" would be unknown).
    assert result.warnings == []
    assert [(row["code"], row["name"]) for row in stored(engine, models.Site)] == [("MAX", "Maxéville")]


def test_windows_1252(engine: Engine) -> None:
    data = lines("code;name;city", "EPI;Épinal;Épinal").encode("cp1252")
    assert b"\xc9pinal" in data  # É is one byte in Windows-1252, not valid UTF-8
    result = import_bytes(data, source="sites.csv", engine=engine)
    assert result.accepted, result.describe_problems()
    assert [(row["name"], row["city"]) for row in stored(engine, models.Site)] == [("Épinal", "Épinal")]


def test_semicolon_separator_lets_a_comma_stand_in_a_value(engine: Engine) -> None:
    result = run("sites", lines("code;name;city", "MAX;Maxéville, site nord;Maxéville"), engine)
    assert result.accepted, result.describe_problems()
    assert stored(engine, models.Site)[0]["name"] == "Maxéville, site nord"


def test_the_separator_is_counted_outside_the_header_s_quotes(engine: Engine) -> None:
    # A CRM export for French Excel: ";" between cells, and extra columns (ignored, the contract
    # says) whose quoted names hold commas. The header has 3 separating ";" and 3 commas, all
    # inside quotes: the separator is ";" (counted outside quotes), the file is read as written.
    text = lines(
        'code;name;"Ville, CP, pays";"Région, pays"', 'MAX;Maxéville;"Maxéville, 54320, FR";"Est, FR"'
    )
    result = run("sites", text, engine)
    assert result.accepted, result.describe_problems()
    assert [(row["code"], row["name"]) for row in stored(engine, models.Site)] == [("MAX", "Maxéville")]
    assert result.warnings == ["2 colonnes inconnues ignorées : « ville, cp, pays », « région, pays »"]


def test_french_dates(engine: Engine) -> None:
    result = run("events", csv_of(edit(EVENT, starts_on="14/05/2020", ends_on="16/05/2020")), engine)
    assert result.accepted, result.describe_problems()
    event = stored(engine, models.Event)[0]
    assert (event["starts_on"], event["ends_on"]) == (date(2020, 5, 14), date(2020, 5, 16))


@pytest.mark.parametrize(
    "spend", ["1234.5", "1234,5", "1 234,50", "1\u00a0234,50", "1\u202f234,50", "1 234.50"]
)
def test_decimal_comma_and_grouping_in_spend(engine: Engine, spend: str) -> None:
    # What French Excel writes: ";" between cells, "," as decimal mark, a space in thousands.
    result = run("campaigns", csv_of(edit(CAMPAIGN, spend_eur=spend), sep=";"), engine)
    assert result.accepted, result.describe_problems()
    assert stored(engine, models.Campaign)[0]["spend_eur"] == Decimal("1234.50")


@pytest.mark.parametrize(
    "starts_at",
    [
        "2020-04-14 10:00",  # local time, summer: UTC+2
        "2020-04-14 10:00:00",
        "2020-04-14T10:00",
        "14/04/2020 10:00",
        "14/04/2020 10:00:00",
        "2020-04-14T10:00:00+02:00",
        "2020-04-14 08:00Z",
    ],
)
def test_date_time_formats_and_offsets(centre: Engine, starts_at: str) -> None:
    # Every spelling names the same instant, 08:00 UTC.
    result = run("bookings", csv_of(edit(BOOKING, starts_at=starts_at)), centre)
    assert result.accepted, result.describe_problems()
    assert stored(centre, models.Booking)[0]["starts_at"] == utc(2020, 4, 14, 8, 0)


@pytest.mark.parametrize(
    ("starts_at", "booked_at", "instant"),
    [
        # Winter time, UTC+1.
        ("14/01/2020 10:00", "2020-01-02 10:00", utc(2020, 1, 14, 9, 0)),
        # Spring-forward night: 02:30 does not exist; fold=0 reads it with the winter offset,
        # 01:30 UTC (03:30 summer time).
        ("29/03/2020 02:30", "2020-03-20 10:00", utc(2020, 3, 29, 1, 30)),
        # Autumn overlap: 02:30 happens twice; fold=0 is the first, still UTC+2: 00:30 UTC.
        ("2020-10-25 02:30", "2020-10-20 10:00", utc(2020, 10, 25, 0, 30)),
    ],
)
def test_local_times_are_europe_paris(
    centre: Engine, starts_at: str, booked_at: str, instant: datetime
) -> None:
    result = run("bookings", csv_of(edit(BOOKING, starts_at=starts_at, booked_at=booked_at)), centre)
    assert result.accepted, result.describe_problems()
    assert stored(centre, models.Booking)[0]["starts_at"] == instant


def test_column_names_are_case_insensitive_and_trimmed(engine: Engine) -> None:
    result = run("sites", lines(" Code , NAME ,City", "MAX,Maxéville,Nancy"), engine)
    assert result.accepted, result.describe_problems()
    assert result.warnings == []
    site = stored(engine, models.Site)[0]
    assert (site["code"], site["name"], site["city"]) == ("MAX", "Maxéville", "Nancy")


def test_unknown_columns_are_ignored_and_listed_as_warnings(engine: Engine) -> None:
    result = run("sites", lines("code,name,colour,Notes", "MAX,Maxéville,blue,siège"), engine)
    assert result.accepted, result.describe_problems()
    # One warning for all of them (a header may hold thousands), in the header's order.
    assert result.warnings == ["2 colonnes inconnues ignorées : « colour », « notes »"]
    assert [(row["code"], row["name"]) for row in stored(engine, models.Site)] == [("MAX", "Maxéville")]


@pytest.mark.parametrize(
    "text",
    [lines("code,name", "MAX,Maxéville"), lines("code,name,city,department", "MAX,Maxéville,,")],
    ids=["absent", "empty"],
)
def test_optional_columns_absent_or_empty(engine: Engine, text: str) -> None:
    result = run("sites", text, engine)
    assert result.accepted, result.describe_problems()
    site = stored(engine, models.Site)[0]
    assert (site["city"], site["department"]) == (None, None)


@pytest.mark.parametrize("how", ["absent", "empty"])
@pytest.mark.parametrize(
    ("kind", "row", "column", "default"),
    [
        ("bookings", BOOKING, "duration_min", 45),
        ("bookings", BOOKING, "attendees", 1),
        ("enrollments", ENROLLMENT, "status", "enrolled"),
        ("candidates", CANDIDATE, "marketing_consent", False),
        ("offers", OFFER, "positions", 1),
        ("meetings", MEETING, "duration_min", 20),
        ("meetings", MEETING, "outcome", "none"),
    ],
)
def test_defaults(centre: Engine, how: str, kind: str, row: dict, column: str, default: object) -> None:
    text = csv_of(edit(row, **{column: None if how == "absent" else ""}))
    result = run(kind, text, centre)
    assert result.accepted, result.describe_problems()
    model = next(model for model in DATA_MODELS if model.__tablename__ == kind)
    assert stored(centre, model)[-1][column] == default


def test_codes_are_trimmed_and_emails_lower_cased(centre: Engine) -> None:
    booking = edit(
        BOOKING,
        ref=" B1 ",
        candidate_ref=" CA",
        event_code="POV ",
        site_code=" MAX ",
        program_code=" BTS-MS",
        advisor_email=" Anne@Example.ORG ",
    )
    result = run("bookings", csv_of(booking), centre)
    # Accepted: the trimmed codes and the lower-cased email name the stored rows.
    assert result.accepted, result.describe_problems()
    row = stored(centre, models.Booking)[0]
    assert (row["ref"], row["candidate_ref"], row["event_code"], row["site_code"], row["program_code"]) == (
        "B1",
        "CA",
        "POV",
        "MAX",
        "BTS-MS",
    )
    assert row["advisor_email"] == "anne@example.org"


def test_advisor_email_is_stored_trimmed_and_lower_cased(centre: Engine) -> None:
    result = run("advisors", lines("email,name,site_code", " Yves.Conseil@Example.ORG ,Yves,YUT"), centre)
    assert result.accepted, result.describe_problems()
    assert stored(centre, models.Advisor)[-1]["email"] == "yves.conseil@example.org"


def test_every_value_of_a_full_booking_is_stored(centre: Engine) -> None:
    result = run("bookings", csv_of(BOOKING), centre)
    assert (result.accepted, result.inserted) == (True, 1)
    row = stored(centre, models.Booking)[0]
    assert row["booked_at"] == utc(2020, 4, 8, 8, 0)  # 10:00 summer time
    assert (row["duration_min"], row["status"], row["attendees"]) == (30, "booked", 3)
    assert row["meeting_url"] == "https://visio.example.org/b1"


# ---------------------------------------------------------------- rejections, one per reason

REJECTIONS = [
    # missing required value
    pytest.param(
        "bookings", csv_of(edit(BOOKING, status="")), 2, "status", "", "obligatoire", id="missing-status"
    ),
    pytest.param("sites", lines("code,name", "LUN, "), 2, "name", "", "obligatoire", id="missing-name"),
    # unparsable value
    pytest.param(
        "events",
        csv_of(edit(EVENT, starts_on="2020-02-30")),
        2,
        "starts_on",
        "2020-02-30",
        "date",
        id="bad-date",
    ),
    pytest.param(
        "events",
        csv_of(edit(EVENT, ends_on="13/13/2020")),
        2,
        "ends_on",
        "13/13/2020",
        "date",
        id="bad-fr-date",
    ),
    pytest.param(
        "bookings",
        csv_of(edit(BOOKING, starts_at="14/04/2020 10h00")),
        2,
        "starts_at",
        "14/04/2020 10h00",
        "date-heure",
        id="bad-datetime",
    ),
    pytest.param(
        "campaigns",
        csv_of(edit(CAMPAIGN, spend_eur="1,234.5"), sep=";"),
        2,
        "spend_eur",
        "1,234.5",
        "nombre",
        id="bad-decimal",
    ),
    pytest.param("programs", csv_of(edit(PROGRAM, seats="abc")), 2, "seats", "abc", "nombre", id="bad-int"),
    pytest.param(
        "candidates",
        csv_of(edit(CANDIDATE, marketing_consent="peut-être")),
        2,
        "marketing_consent",
        "peut-être",
        "booléen",
        id="bad-bool",
    ),
    pytest.param(
        "advisors",
        lines("email,name,site_code", "anne(at)example.org,Anne,MAX"),
        2,
        "email",
        "anne(at)example.org",
        "e-mail",
        id="bad-email",
    ),
    pytest.param(
        "bookings",
        csv_of(edit(BOOKING, meeting_url="http://visio.example.org/b1")),
        2,
        "meeting_url",
        "http://visio.example.org/b1",
        "https",
        id="http-url",
    ),
    pytest.param(
        "bookings",
        csv_of(edit(BOOKING, meeting_url="https://visio.example.org/b1\r\nATTENDEE:mailto:x@evil.example")),
        2,
        "meeting_url",
        "https://visio.example.org/b1\r\nATTENDEE:mailto:x@evil.example",
        "caractère de contrôle",
        id="url-with-line-break",
    ),
    pytest.param(
        "meetings",
        csv_of(edit(MEETING, meeting_url="https://visio.example.org/m1\nDESCRIPTION:x")),
        2,
        "meeting_url",
        "https://visio.example.org/m1\nDESCRIPTION:x",
        "caractère de contrôle",
        id="meeting-url-with-line-break",
    ),
    pytest.param(
        "meetings",
        csv_of(edit(MEETING, meeting_url="javascript:alert(1)")),
        2,
        "meeting_url",
        "javascript:alert(1)",
        "https",
        id="meeting-url-javascript",
    ),
    # value outside its allowed set
    pytest.param(
        "bookings", csv_of(edit(BOOKING, status="maybe")), 2, "status", "maybe", "permise", id="status"
    ),
    pytest.param(
        "programs", csv_of(edit(PROGRAM, level="MASTER")), 2, "level", "MASTER", "permise", id="level"
    ),
    pytest.param(
        "events", csv_of(edit(EVENT, kind="webinar")), 2, "kind", "webinar", "permise", id="event-kind"
    ),
    pytest.param(
        "campaigns", csv_of(edit(CAMPAIGN, channel="tv")), 2, "channel", "tv", "permise", id="channel"
    ),
    pytest.param(
        "enrollments",
        csv_of(edit(ENROLLMENT, status="graduated")),
        2,
        "status",
        "graduated",
        "permise",
        id="enrollment-status",
    ),
    pytest.param(
        "meetings", csv_of(edit(MEETING, outcome="hired")), 2, "outcome", "hired", "permise", id="outcome"
    ),
    pytest.param("programs", csv_of(edit(PROGRAM, seats="-1")), 2, "seats", "-1", "≥ 0", id="negative-seats"),
    pytest.param(
        "campaigns", csv_of(edit(CAMPAIGN, spend_eur="-5")), 2, "spend_eur", "-5", "≥ 0", id="negative-spend"
    ),
    pytest.param(
        "bookings", csv_of(edit(BOOKING, attendees="0")), 2, "attendees", "0", "≥ 1", id="attendees-0"
    ),
    pytest.param(
        "bookings", csv_of(edit(BOOKING, duration_min="0")), 2, "duration_min", "0", "≥ 1", id="duration-0"
    ),
    pytest.param("offers", csv_of(edit(OFFER, positions="0")), 2, "positions", "0", "≥ 1", id="positions-0"),
    pytest.param(
        "events",
        csv_of(edit(EVENT, ends_on="2020-05-13")),  # the day before starts_on
        2,
        "ends_on",
        "2020-05-13",
        "starts_on",
        id="ends-before-start",
    ),
    pytest.param(
        "bookings",
        csv_of(edit(BOOKING, booked_at="2020-04-14 10:01")),  # one minute after starts_at
        2,
        "booked_at",
        "2020-04-14 10:01",
        "starts_at",
        id="booked-after-start",
    ),
    # unknown reference
    pytest.param(
        "programs", csv_of(edit(PROGRAM, site_code="NAN")), 2, "site_code", "NAN", "inconnu", id="site"
    ),
    pytest.param(
        "bookings",
        csv_of(edit(BOOKING, candidate_ref="CZ")),
        2,
        "candidate_ref",
        "CZ",
        "inconnu",
        id="candidate",
    ),
    pytest.param(
        "bookings",
        csv_of(edit(BOOKING, advisor_email="paul@example.org")),
        2,
        "advisor_email",
        "paul@example.org",
        "inconnu",
        id="advisor",
    ),
    pytest.param(
        "bookings", csv_of(edit(BOOKING, event_code="NOPE")), 2, "event_code", "NOPE", "inconnu", id="event"
    ),
    pytest.param(
        "campaigns",
        csv_of(edit(CAMPAIGN, event_code="NOPE")),
        2,
        "event_code",
        "NOPE",
        "inconnu",
        id="campaign-event",
    ),
    # BTS-MS is offered at MAX only, CAP-RI at YUT only.
    pytest.param(
        "bookings",
        csv_of(edit(BOOKING, site_code="YUT")),
        2,
        "program_code+site_code",
        "BTS-MS, YUT",
        "programme",
        id="booking-programme-not-at-site",
    ),
    pytest.param(
        "enrollments",
        csv_of(edit(ENROLLMENT, program_code="CAP-RI")),
        2,
        "program_code+site_code",
        "CAP-RI, MAX",
        "programme",
        id="enrollment-programme-not-at-site",
    ),
    # POV is a virtual open day, not a job dating.
    pytest.param(
        "meetings",
        csv_of(edit(MEETING, event_code="POV")),
        2,
        "event_code",
        "POV",
        "job dating",
        id="not-job-dating",
    ),
    pytest.param(
        "meetings", csv_of(edit(MEETING, offer_ref="O9")), 2, "offer_ref", "O9", "inconnu", id="offer"
    ),
    pytest.param(
        "offers",
        csv_of(edit(OFFER, siret="99999999900099")),
        2,
        "siret",
        "99999999900099",
        "inconnu",
        id="company",
    ),
    # duplicate natural key inside the file: the second occurrence is the bad row
    pytest.param(
        "sites",
        lines("code,name", "LUN,Lunéville", "EPI,Épinal", "LUN,Lunéville bis"),
        4,
        "code",
        "LUN",
        "double",
        id="duplicate-code",
    ),
    pytest.param(
        "programs",
        lines("code,name,site_code", "LP-MI,Licence pro,MAX", "LP-MI,Licence pro,YUT", "LP-MI,Licence,MAX"),
        4,
        "code+site_code",
        "LP-MI, MAX",
        "double",
        id="duplicate-offering",
    ),
    # missing required column in the header
    pytest.param(
        "bookings", csv_of(edit(BOOKING, status=None)), 1, "status", "", "obligatoire", id="missing-column"
    ),
]


@pytest.mark.parametrize(("kind", "text", "line", "column", "value", "reason"), REJECTIONS)
def test_rejection(
    centre: Engine, kind: str, text: str, line: int, column: str, value: str, reason: str
) -> None:
    before = snapshot(centre)
    result = run(kind, text, centre)
    assert_rejected(result, line, column, value, reason)
    assert snapshot(centre) == before


def test_a_room_link_with_a_line_break_is_named_on_one_report_line(centre: Engine) -> None:
    # The .ics export writes meeting_url on one line: a CR/LF in it would forge calendar
    # properties. The report names file, line and column, the break shown as \\r\\n.
    url = "https://visio.example.org/b1\r\nATTENDEE:mailto:x@evil.example"
    before = snapshot(centre)
    result = run("bookings", csv_of(BOOKING, edit(BOOKING, ref="B2", meeting_url=url)), centre)
    assert result.describe_problems() == [
        "bookings.csv:3: meeting_url: https://visio.example.org/b1\\r\\nATTENDEE:mailto:x@evil.example: "
        "caractère de contrôle (retour à la ligne, tabulation…) interdit dans une adresse"
    ]
    assert snapshot(centre) == before


def test_every_bad_row_is_reported_at_its_line_in_the_file(engine: Engine) -> None:
    # Line 1 header, lines 2-3 one row with a quoted line break, line 4 blank, line 5 bad,
    # line 6 good, line 7 bad.
    text = 'code,name\nLUN,"Lunéville\nsud"\n\nEPI,\nTOU,Toul\nVER,\n'
    result = run("sites", text, engine)
    assert not result.accepted
    assert [(p.line, p.column) for p in result.problems] == [(5, "name"), (7, "name")]
    assert stored(engine, models.Site) == []


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b" \n\n"], ids=["empty", "bom-only", "blank"])
def test_empty_file_gets_one_error(engine: Engine, data: bytes) -> None:
    result = import_bytes(data, source="sites.csv", engine=engine)
    assert not result.accepted
    assert len(result.problems) == 1


def test_binary_file_gets_one_error(engine: Engine) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"
    result = import_bytes(png, source="sites.csv", engine=engine)
    assert not result.accepted
    assert len(result.problems) == 1
    assert stored(engine, models.Site) == []


def test_row_with_more_values_than_the_header(engine: Engine) -> None:
    result = run("sites", lines("code,name", "LUN,Lunéville", "EPI,Épinal,88,Vosges"), engine)
    assert not result.accepted
    assert [p.line for p in result.problems] == [3]
    assert stored(engine, models.Site) == []


# ---------------------------------------------------------------- all or nothing


def test_one_bad_row_and_nothing_is_written(engine: Engine) -> None:
    text = lines("code,name", "LUN,Lunéville", "EPI,Épinal", "TOU,Toul", ",Verdun")
    result = run("sites", text, engine)
    assert_rejected(result, 5, "code", "", "obligatoire")
    assert stored(engine, models.Site) == []


def test_rejected_corrected_file_leaves_stored_rows_unchanged(centre: Engine) -> None:
    load("bookings", csv_of(BOOKING, edit(BOOKING, ref="B2", candidate_ref="CB")), centre)
    before = snapshot(centre)
    corrected = csv_of(
        edit(BOOKING, status="attended"),  # would update B1
        edit(BOOKING, ref="B2", candidate_ref="CB"),
        edit(BOOKING, ref="B3", candidate_ref="CZ"),  # unknown candidate: the file is refused
    )
    result = run("bookings", corrected, centre)
    assert_rejected(result, 4, "candidate_ref", "CZ", "inconnu")
    assert snapshot(centre) == before


# ---------------------------------------------------------------- idempotence and updates


def test_importing_the_scenario_twice_changes_nothing(engine: Engine) -> None:
    first = import_path(SCENARIO, engine=engine)
    assert all(result.accepted for result in first), [r.describe_problems() for r in first]
    before = snapshot(engine)
    second = import_path(SCENARIO, engine=engine)
    for result in second:
        text = Path(result.source).read_text(encoding="utf-8-sig")
        rows = sum(1 for line in text.splitlines()[1:] if line.strip())
        assert (result.accepted, result.inserted, result.updated, result.unchanged) == (True, 0, 0, rows), (
            result.source
        )
    assert snapshot(engine) == before


def test_importing_the_same_bookings_twice(centre: Engine) -> None:
    text = csv_of(BOOKING, edit(BOOKING, ref="B2"), edit(BOOKING, ref="B3", attendees="", duration_min=""))
    first = run("bookings", text, centre)
    assert (first.inserted, first.updated, first.unchanged) == (3, 0, 0)
    before = snapshot(centre)
    second = run("bookings", text, centre)
    assert (second.accepted, second.inserted, second.updated, second.unchanged) == (True, 0, 0, 3)
    assert snapshot(centre) == before


def test_corrected_file_updates_the_changed_rows_only(centre: Engine) -> None:
    b2 = edit(BOOKING, ref="B2", candidate_ref="CB")
    b3 = edit(BOOKING, ref="B3", starts_at="2020-04-15 10:00")
    load("bookings", csv_of(BOOKING, b2, b3), centre)
    before = {row["ref"]: row for row in stored(centre, models.Booking)}
    # B1 and B3 as before, B2 attended (an update), B4 new (an insert).
    corrected = csv_of(BOOKING, edit(b2, status="attended"), b3, edit(BOOKING, ref="B4"))
    result = run("bookings", corrected, centre)
    assert (result.accepted, result.inserted, result.updated, result.unchanged) == (True, 1, 1, 2)
    after = {row["ref"]: row for row in stored(centre, models.Booking)}
    assert after["B1"] == before["B1"] and after["B3"] == before["B3"]
    # Same row (same id), one value changed, and its version bumped (a stale save from the
    # schedule page must now conflict).
    assert after["B2"] == before["B2"] | {"status": "attended", "version": before["B2"]["version"] + 1}
    assert after["B4"]["status"] == "booked"


def test_same_programme_code_at_two_sites_is_two_rows(centre: Engine) -> None:
    # The centre offers CAP-RI at YUT; offering it at MAX too adds a row, it does not move it.
    result = run("programs", lines("code,name,site_code,seats", "CAP-RI,CAP RI,MAX,6"), centre)
    assert (result.inserted, result.updated) == (1, 0)
    # Then a file changing the seats at YUT only updates that offering.
    result = run(
        "programs", lines("code,name,site_code,seats", "CAP-RI,CAP RI,MAX,6", "CAP-RI,CAP RI,YUT,9"), centre
    )
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 1)
    seats = {(row["code"], row["site_code"]): row["seats"] for row in stored(centre, models.Program)}
    assert seats == {("BTS-MS", "MAX"): 12, ("CAP-RI", "YUT"): 9, ("CAP-RI", "MAX"): 6}


def test_column_absent_from_header_keeps_the_stored_value(centre: Engine) -> None:
    load("bookings", csv_of(BOOKING), centre)
    result = run(
        "bookings", csv_of(edit(BOOKING, status="attended", attendees=None, meeting_url=None)), centre
    )
    assert (result.accepted, result.updated) == (True, 1)
    row = stored(centre, models.Booking)[0]
    assert row["status"] == "attended"
    assert (row["attendees"], row["meeting_url"]) == (3, "https://visio.example.org/b1")


# ---------------------------------------------------------------- touchpoints and channels


@pytest.mark.parametrize(
    ("source", "medium", "channel", "rule"),
    [
        ("", "", "direct", 1),
        ("  ", " ", "direct", 1),  # blank after trimming
        ("brevo", "EMAIL", "email", 2),
        ("brevo", " Newsletter ", "email", 2),
        ("facebook", "e-mail", "email", 2),  # rule 2 comes before rule 3: first match wins
        (" Facebook ", "", "social", 3),
        ("IG", "cpc", "social", 3),  # rule 3 (source) before rule 5 (medium cpc)
        ("partner", "Paid_Social", "social", 3),
        ("www.EstRepublicain.fr", "display", "newspaper", 4),  # source ends with a newspaper's domain
        ("partner", "presse", "newspaper", 4),
        ("Google", "", "search", 5),
        ("partner", "CPC", "search", 5),
        ("partner.example", "display", "other", 6),
        ("", "referral", "other", 6),  # medium given: not direct
    ],
)
def test_channel_is_derived_by_the_default_rules(
    centre: Engine, source: str, medium: str, channel: str, rule: int
) -> None:
    result = run("touchpoints", csv_of(edit(TOUCHPOINT, utm_source=source, utm_medium=medium)), centre)
    assert result.accepted, result.describe_problems()
    row = stored(centre, models.Touchpoint)[0]
    assert (row["channel"], row["channel_explicit"], row["channel_rule"]) == (channel, False, rule)


def test_explicit_channel_is_kept_and_flagged(centre: Engine) -> None:
    # The rules would say social (source facebook); the file says newspaper.
    text = csv_of(edit(TOUCHPOINT, channel="newspaper", utm_source="facebook", utm_medium="social"))
    result = run("touchpoints", text, centre)
    assert result.accepted, result.describe_problems()
    row = stored(centre, models.Touchpoint)[0]
    assert (row["channel"], row["channel_explicit"], row["channel_rule"]) == ("newspaper", True, None)


def test_touchpoint_without_channel_column_is_derived(centre: Engine) -> None:
    result = run("touchpoints", csv_of(edit(TOUCHPOINT, channel=None, utm_source="qwant")), centre)
    assert result.accepted, result.describe_problems()
    assert stored(centre, models.Touchpoint)[0]["channel"] == "search"


_TOUCHPOINT_KEY = "candidate_ref+occurred_at+channel+utm_source+utm_campaign"


def test_duplicate_touchpoint_key_same_instant_written_twice(centre: Engine) -> None:
    # 10:00 local in April and 08:00Z are one instant; both derive social from facebook.
    first = edit(TOUCHPOINT, utm_source="facebook")
    second = edit(first, occurred_at="2020-04-01T08:00:00Z", landing_page="/autre")
    result = run("touchpoints", csv_of(first, second), centre)
    assert not result.accepted
    assert [(p.line, p.column) for p in result.problems] == [(3, _TOUCHPOINT_KEY)]
    assert "double" in result.problems[0].reason
    assert stored(centre, models.Touchpoint) == []


def test_duplicate_touchpoint_key_explicit_and_derived_channel(centre: Engine) -> None:
    # The key holds the touchpoint's channel: derived social (row 2) and explicit social (row 3)
    # with the same candidate, instant, source and campaign are the same touchpoint.
    derived = edit(TOUCHPOINT, utm_source="facebook", utm_medium="paid_social")
    explicit = edit(derived, channel="social")
    result = run("touchpoints", csv_of(derived, explicit), centre)
    assert not result.accepted
    assert [(p.line, p.column) for p in result.problems] == [(3, _TOUCHPOINT_KEY)]
    assert stored(centre, models.Touchpoint) == []


def test_touchpoints_differing_by_derived_channel_are_not_duplicates(centre: Engine) -> None:
    # Same candidate, instant, (empty) source and campaign, but the medium gives email in one
    # row and direct in the other: two different keys, two touchpoints.
    text = csv_of(
        edit(TOUCHPOINT, utm_campaign="", utm_medium="email"),
        edit(TOUCHPOINT, utm_campaign="", utm_medium=""),
    )
    result = run("touchpoints", text, centre)
    assert (result.accepted, result.inserted) == (True, 2), result.describe_problems()
    assert sorted(row["channel"] for row in stored(centre, models.Touchpoint)) == ["direct", "email"]


def test_touchpoints_differing_by_campaign_are_two_rows(centre: Engine) -> None:
    text = csv_of(edit(TOUCHPOINT, utm_campaign="avril"), edit(TOUCHPOINT, utm_campaign="mai"))
    result = run("touchpoints", text, centre)
    assert (result.accepted, result.inserted) == (True, 2), result.describe_problems()


def test_importing_touchpoints_twice_changes_nothing(centre: Engine) -> None:
    text = csv_of(edit(TOUCHPOINT, utm_source="facebook"), edit(TOUCHPOINT, channel="email"))
    assert run("touchpoints", text, centre).inserted == 2
    before = snapshot(centre)
    result = run("touchpoints", text, centre)
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 2)
    assert snapshot(centre) == before


# ---------------------------------------------------------------- directory import

_DIRECTORY = {
    # Written in reverse order of the contract, so neither name nor creation order helps.
    "bookings.csv": csv_of(edit(BOOKING, event_code="", advisor_email="")),
    "candidates.csv": lines("ref,created_at", "CA,2020-04-01 10:00"),
    "advisors.csv": lines("email,name,site_code", "anne@example.org,Anne,MAX"),
    "programs.csv": lines("code,name,site_code", "BTS-MS,BTS MS,MAX"),
    "sites.csv": lines("code,name", "MAX,Maxéville"),
}


def test_directory_is_imported_in_the_contract_order(engine: Engine, tmp_path: Path) -> None:
    for name, text in _DIRECTORY.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    results = import_path(tmp_path, engine=engine)
    assert [result.kind for result in results] == ["sites", "programs", "advisors", "candidates", "bookings"]
    assert all(result.accepted for result in results), [r.describe_problems() for r in results]
    assert [row["ref"] for row in stored(engine, models.Booking)] == ["B1"]


def test_a_directory_s_file_names_are_read_whatever_their_case(engine: Engine, tmp_path: Path) -> None:
    # Excel and Windows keep the name a person types: « Sites.csv », « PROGRAMS.CSV ». They name
    # the contract's files as a single file or an upload does (case ignored); before, the folder
    # import skipped them without a word, and the programmes were refused for an unknown site.
    (tmp_path / "Sites.csv").write_text(lines("code,name", "MAX,Maxéville"), encoding="utf-8")
    (tmp_path / "PROGRAMS.CSV").write_text(lines("code,name,site_code", "BTS-MS,BTS MS,MAX"), "utf-8")
    (tmp_path / "notes.txt").write_text("pas un fichier du contrat", encoding="utf-8")
    (tmp_path / "sites.csv.bak").write_text("code,name\nNAN,Nancy\n", encoding="utf-8")
    results = import_path(tmp_path, engine=engine)
    assert [(result.kind, result.accepted) for result in results] == [("sites", True), ("programs", True)]
    assert [row["code"] for row in stored(engine, models.Program)] == ["BTS-MS"]
    assert [row["code"] for row in stored(engine, models.Site)] == ["MAX"]  # the .bak is left out


def test_rejected_file_in_a_directory_keeps_the_files_before_it(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "sites.csv").write_text(lines("code,name", "MAX,Maxéville"), encoding="utf-8")
    (tmp_path / "programs.csv").write_text(
        lines("code,name,site_code", "BTS-MS,BTS MS,NAN"), encoding="utf-8"
    )
    (tmp_path / "advisors.csv").write_text(
        lines("email,name,site_code", "anne@example.org,Anne,MAX"), "utf-8"
    )
    results = import_path(tmp_path, engine=engine)
    assert [(result.kind, result.accepted) for result in results] == [
        ("sites", True),
        ("programs", False),
        ("advisors", True),
    ]
    assert [row["code"] for row in stored(engine, models.Site)] == ["MAX"]
    assert stored(engine, models.Program) == []
    assert [row["email"] for row in stored(engine, models.Advisor)] == ["anne@example.org"]


def test_import_path_of_one_file(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text(lines("code,name", "MAX,Maxéville", "YUT,Yutz"), encoding="utf-8")
    [result] = import_path(path, engine=engine)
    assert (result.kind, result.accepted, result.inserted) == ("sites", True, 2)


# ---------------------------------------------------------------- import history


def test_every_import_adds_a_history_row(engine: Engine) -> None:
    run("sites", lines("code,name", "MAX,Maxéville", "YUT,Yutz"), engine)
    run("sites", lines("code,name", "LUN,"), engine)
    import_bytes(b"", source="sites.csv", engine=engine)
    history = import_runs(engine)
    assert [(r["kind"], r["accepted"], r["inserted"], r["updated"], r["unchanged"]) for r in history] == [
        ("sites", True, 2, 0, 0),
        ("sites", False, 0, 0, 0),
        ("sites", False, 0, 0, 0),
    ]
    assert json.loads(history[0]["problems"]) == []
    [problem] = json.loads(history[1]["problems"])
    assert (problem["line"], problem["column"], problem["value"]) == (2, "name", "")
    assert len(json.loads(history[2]["problems"])) == 1


def test_personal_values_are_masked_in_the_stored_problems(engine: Engine) -> None:
    text = csv_of(
        edit(CANDIDATE, ref="CA", email="alice.secret(at)example.org"),
        edit(CANDIDATE, ref="CB", birth_date="31/02/2005"),
        edit(CANDIDATE, ref="CC", created_at="hier"),
    )
    result = run("candidates", text, engine)
    assert not result.accepted
    [run_row] = import_runs(engine)
    assert not run_row["accepted"]
    problems = [(p["line"], p["column"], p["value"]) for p in json.loads(run_row["problems"])]
    # Email and birth date are personal data; created_at is not and stays readable.
    assert problems == [(2, "email", "•••"), (3, "birth_date", "•••"), (4, "created_at", "hier")]
    assert "secret" not in run_row["problems"] and "2005" not in run_row["problems"]


def test_a_refusal_s_value_running_past_its_cell_is_masked_in_the_history(engine: Engine) -> None:
    header = "ref;first_name;email;consent_source;created_at\r\n"
    zoe = "R2;Zoé;zoe.martin@example.org;web;2020-04-14 10:05\r\n"
    files = [
        # A quote left open in consent_source (not personal) swallows the next row: the value
        # shown is the file's text from the quote on, Zoé's name and e-mail included.
        header + 'R1;Léa;lea@example.org;"papier;2020-04-14 10:05\r\n' + zoe,
        # The same in ref (not personal), on the last line without a line break: the value
        # runs over the row's own personal cells.
        header + zoe + '"R3;Zoé;zoe.martin@example.org;web;2020-04-14 10:05',
        # A cell over the size limit in a column the contract does not know (a CRM's notes):
        # an unknown column may hold anything, the history cannot tell it is not personal.
        "ref;notes;created_at\r\nR1;" + "Zoé Martin, 15 ans " * 250 + ";2020-04-14 10:05\r\n",
    ]
    for text in files:
        result = run("candidates", text, engine)
        # The uploader is shown the value (their own file), to find the place.
        assert not result.accepted and "Zoé" in result.problems[0].value
    # The privacy rule: no personal data where it is not needed; the history masks it ("•••"),
    # whatever column the refusal names, so nothing of Zoé's may be kept there.
    stored_problems = [json.loads(row["problems"]) for row in import_runs(engine)]
    assert [[p["value"] for p in problems] for problems in stored_problems] == [["•••"]] * 3
    assert all("zoe" not in row["problems"].lower() for row in import_runs(engine))


# ---------------------------------------------------------------- rules the contract words loosely


def test_postal_code_is_five_characters_kept_as_text(centre: Engine) -> None:
    run_ok = run("candidates", csv_of(edit(CANDIDATE, ref="CP", postal_code="08000")), centre)
    assert run_ok.accepted
    assert (
        next(row for row in stored(centre, models.Candidate) if row["ref"] == "CP")["postal_code"] == "08000"
    )
    # Excel dropped the leading zero: 4 characters
    refused = run("candidates", csv_of(edit(CANDIDATE, ref="CQ", postal_code="8000")), centre)
    assert_rejected(refused, 2, "postal_code", "8000", "5 caractères")


def test_campaign_dates_are_not_ordered_by_the_contract(engine: Engine) -> None:
    # Only events.ends_on must be ≥ starts_on; a campaign's dates are informative.
    result = run("campaigns", csv_of(edit(CAMPAIGN, starts_on="2020-04-10", ends_on="2020-04-01")), engine)
    assert result.accepted


def test_contract_signed_on_with_another_outcome_is_refused(centre: Engine) -> None:
    refused = run("meetings", csv_of(edit(MEETING, contract_signed_on="2020-05-02")), centre)
    assert_rejected(refused, 2, "contract_signed_on", "2020-05-02", "contract_signed")
    signed = run(
        "meetings", csv_of(edit(MEETING, outcome="contract_signed", contract_signed_on="02/05/2020")), centre
    )
    assert signed.accepted
    # A later file giving the date alone (no outcome column) updates it.
    later = run("meetings", csv_of(edit(MEETING, outcome=None, contract_signed_on="2020-05-03")), centre)
    assert (later.accepted, later.updated) == (True, 1)
    assert stored(centre, models.Meeting)[0]["contract_signed_on"] == date(2020, 5, 3)


# ---------------------------------------------------------------- fast paths read what the contract says

#: Local times around Europe/Paris's changes of 2020 (29 March: 02:00 → 03:00; 25 October:
#: 03:00 → 02:00), other forms of the contract, and cells that must be refused.
INSTANT_CELLS = [
    "2020-03-29 01:59:59",
    "2020-03-29 02:00:00",
    "2020-03-29 02:30:00",  # in the gap: winter offset, 03:30 summer time
    "2020-03-29 03:00:00",
    "2020-10-25 01:59:59",
    "2020-10-25 02:00:00",  # twice that night: the first one (summer time)
    "2020-10-25 02:59:59",
    "2020-10-25 03:00:00",
    "2020-12-31 23:59:59",
    "2020-04-14T10:00:00",
    "  2020-04-14 10:00:00 ",
    "1905-06-01 12:00:00",  # Paris mean time: an offset of 9 min 21 s
    "2020-04-14 10:00",
    "2020-04-14 10:00:00.5",
    "2020-04-14 10:00:00Z",
    "2020-04-14 10:00:00+02:00",
    "14/04/2020 10:00:00",
    "2020-02-30 10:00:00",
    "2020-04-14 24:00:00",
    "2020-04-14 10:60:00",
    "2020-04-14 10:00:60",
    "2020-04-14t10:00:00",
    "2020-04-14 10h00",
    "",
    " ",
]


@pytest.mark.parametrize("as_text", [False, True], ids=["datetimes", "sqlite-text"])
def test_fast_instant_reading_gives_what_read_datetime_gives(as_text: bool) -> None:
    from sqlalchemy.dialects import sqlite

    from services.store import values
    from services.store.contract import SPECS

    column = SPECS["touchpoints"].column("occurred_at")
    dialect = sqlite.dialect()
    stored_text = models.UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
    typed, failed = columns._read_instants(column, INSTANT_CELLS, as_text)
    failures = {index: (raw, reason) for index, raw, reason in failed}
    for index, cell in enumerate(INSTANT_CELLS):
        if not cell.strip():
            assert typed[index] is None and failures[index] == ("", "valeur obligatoire manquante")
            continue
        try:
            expected = values.read_datetime(cell)
        except ValueError as error:
            assert failures[index] == (cell, str(error)), cell
            continue
        assert index not in failures, cell
        assert typed[index] == (stored_text(expected) if as_text else expected), cell
        if not as_text:
            assert typed[index].tzinfo is UTC


def test_instants_are_stored_as_sqlalchemy_stores_them() -> None:
    from zoneinfo import ZoneInfo

    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    column = models.Touchpoint.__table__.c.occurred_at
    moments = [
        utc(2020, 4, 14, 8, 0),
        datetime(2020, 4, 14, 8, 0, 0, 123456, tzinfo=UTC),
        datetime(2020, 4, 14, 10, 0, tzinfo=ZoneInfo("Europe/Paris")),
        None,
    ]
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    assert checks._driver_values(column, moments, dialect) == [process(moment) for moment in moments]


def test_rows_are_numbered_by_their_line_without_quotes_too(engine: Engine) -> None:
    # No quote in the file: rows are read in one go, and still numbered by line. Line 1 header,
    # 2 good, 3 blank, 4 only separators (Excel), 5 bad, 6 short (completed), 7 too many values.
    text = "code,name,city\nLUN,Lunéville,Lunéville\n\n,,\nEPI,,Épinal\nTOU,Toul\nVER,Verdun,,x\n"
    result = run("sites", text, engine)
    assert result.rows == 4
    assert [(p.line, p.column) for p in result.problems] == [(5, "name"), (7, "(ligne)")]
    quoted = run("sites", text.replace("Toul", '"Toul"'), engine)
    assert [(p.line, p.column) for p in quoted.problems] == [(5, "name"), (7, "(ligne)")]


# ---------------------------------------------------------------- the write lock, held for the write only


def _other_write(engine: Engine) -> None:
    """A short write from another connection that must not wait: busy timeout 0."""
    path = engine.url.database
    connection = sqlite3.connect(path, timeout=0)
    try:
        connection.execute("UPDATE store_state SET demo_data = demo_data")
        connection.commit()
    finally:
        connection.close()


@pytest.mark.sqlite_only  # SQLite's single write lock
def test_a_file_is_checked_without_holding_the_write_lock(centre: Engine, monkeypatch) -> None:
    from services.imports import importer

    checked = checks.make_plan

    def plan_then_write_elsewhere(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        _other_write(centre)  # "database is locked" if the import held the lock while checking
        return checked(*args, **kwargs)

    monkeypatch.setattr(importer, "make_plan", plan_then_write_elsewhere)
    result = run("touchpoints", csv_of(TOUCHPOINT), centre)
    assert (result.accepted, result.inserted) == (True, 1)


@pytest.mark.sqlite_only  # SQLite's single write lock
def test_a_write_between_the_check_and_the_write_is_checked_again(centre: Engine, monkeypatch) -> None:
    # Another import adds one of the file's touchpoints after the file was checked: the file is
    # checked again under the write lock, and that row counts as unchanged, not as a new one.
    from services.imports import importer

    second = edit(TOUCHPOINT, occurred_at="2020-04-02 10:00")
    retry_write = importer.retry_write

    def meanwhile(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        monkeypatch.setattr(importer, "retry_write", retry_write)
        load("touchpoints", csv_of(second), centre)
        return retry_write(*args, **kwargs)

    monkeypatch.setattr(importer, "retry_write", meanwhile)
    result = run("touchpoints", csv_of(TOUCHPOINT, second), centre)
    assert (result.accepted, result.inserted, result.unchanged) == (True, 1, 1)
    assert len(stored(centre, models.Touchpoint)) == 2


@pytest.mark.sqlite_only  # SQLite's single write lock
def test_a_reference_removed_before_the_write_refuses_the_file(centre: Engine, monkeypatch) -> None:
    from services.imports import importer

    retry_write = importer.retry_write

    def meanwhile(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        rights.erase_candidate("CB", actor="test", engine=centre)
        return retry_write(*args, **kwargs)

    monkeypatch.setattr(importer, "retry_write", meanwhile)
    before = stored(centre, models.Touchpoint)
    result = run("touchpoints", csv_of(TOUCHPOINT, edit(TOUCHPOINT, candidate_ref="CB")), centre)
    assert_rejected(result, 3, "candidate_ref", "CB", "inconnu")
    assert stored(centre, models.Touchpoint) == before
    assert import_runs(centre)[-1]["accepted"] is False
