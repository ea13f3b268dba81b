"""The advisors' schedules: conflicts, free slots, outcomes and their rules, concurrency, ICS."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from icalendar import Calendar

from services.advising import availability, outcomes, schedule
from services.advising.outcomes import Outcome
from services.config import LOCAL_TZ
from services.documents.calendars import schedule_ics
from services.store.database import data_version
from services.store.models import Booking
from services.store.scope import Scope
from services.store.versioned import ChangeRefused, ConflictError
from tests.conftest import load

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL


AFTER_APRIL = datetime(2020, 6, 1, tzinfo=UTC)


def local(day: date, hour: int, minute: int = 0) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, time(hour, minute), LOCAL_TZ))


def frame(*rows: tuple[str, str, pd.Timestamp, int, str]) -> pd.DataFrame:
    data = pd.DataFrame(rows, columns=["ref", "advisor_email", "starts_at", "duration_min", "status"])
    data["ends_at"] = data["starts_at"] + pd.to_timedelta(data["duration_min"], unit="min")
    return data


DAY = date(2020, 4, 14)


def test_touching_interviews_are_not_conflicts():
    # 10:00–10:45 then 10:45–11:30: they touch.
    assert (
        schedule.overlapping(
            frame(("A", "x", local(DAY, 10), 45, "booked"), ("B", "x", local(DAY, 10, 45), 45, "booked"))
        )
        == set()
    )


def test_overlapping_interviews_of_one_advisor_are_flagged():
    rows = frame(
        ("A", "x", local(DAY, 10), 45, "booked"),  # 10:00–10:45
        ("B", "x", local(DAY, 10, 30), 45, "attended"),  # 10:30–11:15 overlaps A
        ("C", "y", local(DAY, 10, 30), 45, "booked"),  # another advisor: no conflict
        ("D", "x", local(DAY, 10, 15), 45, "cancelled"),  # cancelled: ignored
        ("E", "x", local(DAY, 13), 120, "booked"),  # 13:00–15:00 contains F
        ("F", "x", local(DAY, 14), 30, "booked"),
    )
    assert schedule.overlapping(rows) == {"A", "B", "E", "F"}


def test_free_slots_of_an_empty_weekday():
    # 09:00–12:00 gives 09:00, 09:45, 10:30, 11:15; 13:30–17:15 gives 13:30, 14:15, 15:00, 15:45, 16:30.
    slots = [s.strftime("%H:%M") for s in availability.free_slots(DAY, [])]
    assert slots == ["09:00", "09:45", "10:30", "11:15", "13:30", "14:15", "15:00", "15:45", "16:30"]


def test_busy_time_removes_the_slots_it_overlaps_only():
    busy = [
        (local(DAY, 10).to_pydatetime(), local(DAY, 10, 45).to_pydatetime()),  # hits 09:45 and 10:30
        (local(DAY, 14, 15).to_pydatetime(), local(DAY, 15).to_pydatetime()),
    ]  # exactly the 14:15 slot
    slots = [s.strftime("%H:%M") for s in availability.free_slots(DAY, busy)]
    assert slots == ["09:00", "11:15", "13:30", "15:00", "15:45", "16:30"]


@pytest.mark.parametrize("day", [date(2020, 4, 18), date(2020, 4, 19)])
def test_no_slot_at_the_weekend(day):
    assert availability.free_slots(day, []) == []


@pytest.mark.parametrize("day", [date(2020, 3, 30), date(2020, 10, 26)])
def test_busy_time_across_a_clock_change_week_uses_local_times(day):
    # The Mondays after the clocks change: an interview 09:45–10:30 local takes exactly one slot.
    busy = [(local(day, 9, 45).to_pydatetime(), local(day, 10, 30).to_pydatetime())]
    slots = [s.strftime("%H:%M") for s in availability.free_slots(day, busy)]
    assert slots == ["09:00", "10:30", "11:15", "13:30", "14:15", "15:00", "15:45", "16:30"]


def test_slots_on_the_monday_after_the_clocks_change_keep_local_times():
    slots = availability.free_slots(date(2020, 3, 30), [])
    assert slots[0].strftime("%H:%M %z") == "09:00 +0200"
    assert availability.free_slots(date(2020, 3, 27), [])[0].strftime("%H:%M %z") == "09:00 +0100"


def test_interviews_of_a_day(scenario):
    day = schedule.interviews(DAY, DAY, engine=scenario)
    assert day["ref"].tolist() == ["BA", "BB"]
    first = day.iloc[0]
    assert first["starts_at"].strftime("%H:%M") == "10:00"
    assert first["candidate"] == "Alice Aubry"
    # born 01/05/2004: 15 on 14/04/2020, a minor
    assert (first["age"], first["minor"]) == (15, True)
    assert (first["origin_channel"], first["earlier_bookings"]) == ("social", 0)
    assert day.iloc[1]["origin_channel"] == "direct"


def test_earlier_bookings_and_origin_channel_with_ties_and_cancellations(engine):
    load("sites", "code,name\nMAX,Maxéville\nEPI,Épinal\n", engine)
    load("candidates", "ref,created_at\nC1,2020-03-01 10:00\nC2,2020-03-01 10:00\n", engine)
    load(
        "bookings",
        "ref,candidate_ref,site_code,starts_at,status,booked_at\n"
        "B1,C1,EPI,2020-04-10 10:00,cancelled,2020-03-01 10:00\n"
        "B2,C1,MAX,2020-04-14 09:00,booked,2020-03-01 10:00\n"
        "B3,C1,MAX,2020-04-14 09:00,booked,2020-03-02 10:00\n"
        "B4,C1,MAX,2020-04-14 11:00,booked,2020-03-03 10:00\n"
        "B5,C1,MAX,2020-04-20 09:00,booked,2020-03-04 10:00\n"
        "B6,C2,MAX,2020-04-14 10:00,booked,2020-03-05 10:00\n",
        engine,
    )
    load(
        "touchpoints",
        "candidate_ref,occurred_at,channel\n"
        "C1,2020-04-01 10:00,social\nC1,2020-04-01 10:00,email\nC1,2020-04-02 09:00,direct\n",
        engine,
    )
    # Earlier bookings (docs/metrics.md): the candidate's bookings that start strictly before,
    # whatever their status or site. B2 and B3 start together: each has only B1 before it (B1
    # is cancelled and at Épinal, it counts all the same); B4 has B1, B2 and B3; B5 (later)
    # never counts. C2 has no other booking.
    # Origin channel: C1's first visits are social and email at the same instant, the name
    # breaks the tie: email. C2 has no visit: none.
    expected = {"B2": (1, "email"), "B3": (1, "email"), "B6": (0, None), "B4": (3, "email")}
    for sites in ((), ("MAX",)):  # the site filter narrows the list, not the earlier bookings
        day = schedule.interviews(DAY, DAY, sites=sites, engine=engine)
        assert day["ref"].tolist() == list(expected)
        got = {
            ref: (int(earlier), None if pd.isna(origin) else origin)
            for ref, earlier, origin in zip(
                day["ref"], day["earlier_bookings"], day["origin_channel"], strict=True
            )
        }
        assert got == expected


def test_interviews_on_clock_change_days_use_local_days(engine):
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load("candidates", "ref,created_at\nC1,2020-03-01 10:00\n", engine)
    load(
        "bookings",
        "ref,candidate_ref,site_code,starts_at,status,booked_at\n"
        "B1,C1,MAX,2020-03-29 00:30,booked,2020-03-01 10:00\n"  # before the change: +01:00
        "B2,C1,MAX,2020-03-29 23:30,booked,2020-03-01 10:00\n"  # after: +02:00
        "B3,C1,MAX,2020-03-30 00:15,booked,2020-03-01 10:00\n",
        engine,
    )
    day = schedule.interviews(date(2020, 3, 29), date(2020, 3, 29), engine=engine)
    assert day["ref"].tolist() == ["B1", "B2"]
    assert [t.strftime("%H:%M") for t in day["starts_at"]] == ["00:30", "23:30"]


def test_advisor_load(scenario):
    load_table = availability.advisor_load(Scope(date(2020, 4, 1), date(2020, 4, 30)), scenario).set_index(
        "advisor_email"
    )
    # Anne: BA, BB, BF2 (BG is on 1 May); Yves: BC, BD2 (BD1 is cancelled). 45 minutes each.
    assert load_table.loc["anne.conseil@example.org", "interviews"] == 3
    assert load_table.loc["anne.conseil@example.org", "hours"] == pytest.approx(2.25)
    assert load_table.loc["yves.conseil@example.org", "interviews"] == 2


# ---------------------------------------------------------------- outcomes

PAST = datetime(2020, 4, 14, 8, tzinfo=UTC)
BEFORE = PAST - timedelta(hours=1)

ALLOWED = {
    ("booked", "attended"),
    ("booked", "no_show"),
    ("booked", "cancelled"),
    ("attended", "no_show"),
    ("attended", "booked"),
    ("no_show", "attended"),
    ("no_show", "booked"),
    ("cancelled", "booked"),
}
STATUSES = ("booked", "attended", "no_show", "cancelled")


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("wanted", STATUSES)
def test_every_transition_after_the_interview(current, wanted):
    if current == wanted or (current, wanted) in ALLOWED:
        outcomes.check_outcome(current, PAST, Outcome(wanted), now=AFTER_APRIL)
    else:
        with pytest.raises(ChangeRefused):
            outcomes.check_outcome(current, PAST, Outcome(wanted), now=AFTER_APRIL)


@pytest.mark.parametrize("wanted", ["attended", "no_show"])
def test_a_future_interview_cannot_get_an_outcome(wanted):
    with pytest.raises(ChangeRefused, match="pas encore commencé"):
        outcomes.check_outcome("booked", PAST, Outcome(wanted), now=BEFORE)
    outcomes.check_outcome("booked", PAST, Outcome("cancelled"), now=BEFORE)  # cancelling ahead is fine


def test_a_cancelled_interview_must_be_reopened_first():
    with pytest.raises(ChangeRefused, match="rouvert"):
        outcomes.check_outcome("cancelled", PAST, Outcome("attended"), now=AFTER_APRIL)


def test_attendees_and_note_are_checked():
    with pytest.raises(ChangeRefused):
        outcomes.check_outcome("booked", PAST, Outcome("attended", attendees=0), now=AFTER_APRIL)
    with pytest.raises(ChangeRefused):
        outcomes.check_outcome("booked", PAST, Outcome("attended", note="x" * 1001), now=AFTER_APRIL)


def booking(engine, ref: str) -> dict:
    table = Booking.__table__
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(table).where(table.c.ref == ref)).mappings().one())


def test_recording_an_outcome_writes_history_note_and_bumps_the_data_version(scenario):
    before = data_version(scenario)
    version = outcomes.record_outcome(
        "BC",
        outcome=Outcome("attended", attendees=2, note="Venue avec sa mère"),
        author="yves.conseil@example.org",
        read_version=0,
        now=AFTER_APRIL,
        engine=scenario,
    )
    stored = booking(scenario, "BC")
    assert (stored["status"], stored["attendees"], stored["version"], version) == ("attended", 2, 1, 1)
    assert data_version(scenario) == before + 1
    log = outcomes.history("BC", scenario)
    assert set(log["what"]) == {"status", "attendees", "note"}
    assert log.set_index("what").loc["status", ["old", "new"]].tolist() == ["booked", "attended"]
    assert log.set_index("what").loc["note", "new"] == "Venue avec sa mère"
    assert set(log["by"]) == {"yves.conseil@example.org"}


def test_the_second_of_two_concurrent_saves_is_refused(scenario):
    # Both advisors read BC at version 0; the first saves attended, the second no-show.
    outcomes.record_outcome(
        "BC", outcome=Outcome("attended"), author="a", read_version=0, now=AFTER_APRIL, engine=scenario
    )
    with pytest.raises(ConflictError, match="modifié"):
        outcomes.record_outcome(
            "BC", outcome=Outcome("no_show"), author="b", read_version=0, now=AFTER_APRIL, engine=scenario
        )
    assert booking(scenario, "BC")["status"] == "attended"
    assert len(outcomes.history("BC", scenario)) == 1


def test_an_import_that_changes_a_booking_makes_a_stale_save_conflict(scenario):
    load(
        "bookings",
        "ref,candidate_ref,site_code,program_code,starts_at,status,booked_at\n"
        "BC,CC,YUT,CAP-RI,2020-04-15 09:30,booked,2020-04-10 12:00\n",
        scenario,
    )
    with pytest.raises(ConflictError):
        outcomes.record_outcome(
            "BC", outcome=Outcome("attended"), author="a", read_version=0, now=AFTER_APRIL, engine=scenario
        )


def test_a_refused_outcome_writes_nothing(scenario):
    with pytest.raises(ChangeRefused):
        outcomes.record_outcome(
            "BD1", outcome=Outcome("attended"), author="a", read_version=0, now=AFTER_APRIL, engine=scenario
        )
    assert booking(scenario, "BD1")["status"] == "cancelled"
    assert outcomes.history("BD1", scenario).empty


def test_reassign_within_the_site_only_and_to_a_free_advisor(scenario):
    load("advisors", "email,name,site_code\nzoe@example.org,Zoé,YUT\nmax@example.org,Max,MAX\n", scenario)
    with pytest.raises(ChangeRefused, match="même site"):
        outcomes.reassign("BC", advisor_email="max@example.org", author="a", read_version=0, engine=scenario)
    assert (
        outcomes.reassign("BC", advisor_email="zoe@example.org", author="a", read_version=0, engine=scenario)
        == 1
    )
    assert booking(scenario, "BC")["advisor_email"] == "zoe@example.org"
    # BD2 is on 16/04 at 10:00; give Zoé an interview then, and the reassignment is refused.
    load(
        "bookings",
        "ref,candidate_ref,site_code,advisor_email,starts_at,status,booked_at\n"
        "BZ,CE,YUT,zoe@example.org,2020-04-16 10:30,booked,2020-04-10 12:00\n",
        scenario,
    )
    with pytest.raises(ChangeRefused, match="déjà un entretien"):
        outcomes.reassign("BD2", advisor_email="zoe@example.org", author="a", read_version=0, engine=scenario)


# ---------------------------------------------------------------- iCalendar


def test_ics_round_trips_through_a_real_parser(scenario):
    day = schedule.interviews(date(2020, 4, 14), date(2020, 4, 17), engine=scenario)
    anne = day[day["advisor_email"] == "anne.conseil@example.org"]
    parsed = Calendar.from_ical(schedule_ics(anne, "Anne Conseil", now=AFTER_APRIL))
    events = sorted(parsed.walk("VEVENT"), key=lambda e: e["dtstart"].dt)
    assert [str(e["uid"]) for e in events] == ["BA@rencontres.pole-formation", "BB@rencontres.pole-formation"]
    first = events[0]
    # BA: 14/04/2020 10:00 CEST = 08:00 UTC, 45 minutes
    assert first["dtstart"].dt == datetime(2020, 4, 14, 8, 0, tzinfo=UTC)
    assert first["dtend"].dt == datetime(2020, 4, 14, 8, 45, tzinfo=UTC)
    assert str(first["summary"]) == "Entretien BTS-MS · Alice A."
    assert str(first["url"]) == "https://centre.whereby.com/max-ba"
    assert "Personnes attendues : 3" in str(first["description"])
    text = schedule_ics(anne, "Anne Conseil").decode()
    for personal in ("Aubry", "alice@example.org", "2004-05-01", "20040501", "54000"):
        assert personal not in text


def test_ics_leaves_cancelled_interviews_out_and_keeps_winter_times(engine):
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load("candidates", "ref,first_name,created_at\nC1,Léa,2020-03-01 10:00\n", engine)
    load(
        "bookings",
        "ref,candidate_ref,site_code,starts_at,status,booked_at\n"
        "B1,C1,MAX,2020-03-27 09:00,booked,2020-03-01 10:00\n"
        "B2,C1,MAX,2020-03-30 09:00,booked,2020-03-01 10:00\n"
        "B3,C1,MAX,2020-03-30 11:00,cancelled,2020-03-01 10:00\n",
        engine,
    )
    week = schedule.interviews(date(2020, 3, 27), date(2020, 3, 30), engine=engine)
    events = Calendar.from_ical(schedule_ics(week, "x")).walk("VEVENT")
    # 09:00 CET is 08:00 UTC; after the change 09:00 CEST is 07:00 UTC.
    assert sorted(e["dtstart"].dt for e in events) == [
        datetime(2020, 3, 27, 8, tzinfo=UTC),
        datetime(2020, 3, 30, 7, tzinfo=UTC),
    ]


def test_ics_of_a_day_where_only_some_interviews_have_a_room_or_a_programme(engine):
    # A missing link or programme among present ones reads as missing (pandas holds NaN there,
    # which is truthy): no "nan" room, no "nan" programme.
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load("programs", "code,site_code,name\nBTS-CRSA,MAX,BTS CRSA\n", engine)
    load(
        "candidates", "ref,first_name,created_at\nC1,Léa,2020-03-01 10:00\nC2,Tom,2020-03-01 10:00\n", engine
    )
    load(
        "bookings",
        "ref,candidate_ref,site_code,program_code,starts_at,status,booked_at,meeting_url\n"
        "B1,C1,MAX,BTS-CRSA,2020-04-14 09:00,booked,2020-03-01 10:00,https://demo.whereby.com/b1\n"
        "B2,C2,MAX,,2020-04-14 10:00,booked,2020-03-01 10:00,\n",
        engine,
    )
    events = Calendar.from_ical(schedule_ics(schedule.interviews(DAY, DAY, engine=engine), "x")).walk(
        "VEVENT"
    )
    by_uid = {str(e["uid"]).split("@")[0]: e for e in events}
    assert str(by_uid["B1"]["location"]) == "https://demo.whereby.com/b1"
    assert "location" not in by_uid["B2"] and "url" not in by_uid["B2"]
    assert "nan" not in str(by_uid["B2"]["summary"]) and "nan" not in str(by_uid["B2"]["description"])


def test_unknown_birth_date_is_unknown_age_not_adult(engine):
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load(
        "candidates",
        "ref,birth_date,created_at\nC1,,2020-03-01 10:00\nC2,2005-01-01,2020-03-01 10:00\n",
        engine,
    )
    load(
        "bookings",
        "ref,candidate_ref,site_code,starts_at,status,booked_at\n"
        "B1,C1,MAX,2020-04-14 10:00,booked,2020-03-01 10:00\n"
        "B2,C2,MAX,2020-04-14 11:00,booked,2020-03-01 10:00\n",
        engine,
    )
    day = schedule.interviews(DAY, DAY, engine=engine).set_index("ref")
    assert day.loc["B1", "minor"] is None and pd.isna(day.loc["B1", "age"])
    assert (day.loc["B2", "age"], day.loc["B2", "minor"]) == (15, True)


def test_advisors_with_the_same_name_get_their_own_row(engine):
    rows = frame(
        ("A", "jade1@example.org", local(DAY, 10), 45, "booked"),
        ("B", "jade2@example.org", local(DAY, 10), 45, "booked"),
    )
    rows["advisor"], rows["site_code"] = "Jade David", ["EPI", "EPI"]
    labels = schedule.advisor_labels(rows)
    assert labels.nunique() == 2 and all(label.startswith("Jade David · EPI (") for label in labels)
    rows["site_code"] = ["EPI", "MET"]
    assert schedule.advisor_labels(rows).tolist() == ["Jade David · EPI", "Jade David · MET"]


def test_a_day_without_any_interview_has_every_slot_free(engine):
    # Morning 09:00–12:00 holds 4 slots of 45 min (till 12:00), afternoon 13:30–17:15 holds 5:
    # 9 free slots for the one advisor on a weekday when nobody booked.
    load("sites", "code,name\nMAX,Maxéville\n")
    load("advisors", "email,name,site_code\nc.roux@cfai.fr,Claire Roux,MAX\n")
    day = date(2020, 4, 15)  # a Wednesday
    nobody = schedule.interviews(day, day)
    assert nobody.empty
    slots = availability.free_slots_by_advisor(day, nobody, schedule.advisors_of(()))
    assert slots["free_slots"].tolist() == [9]


# ---------------------------------------------------------------- pages of advisors


def network_day() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six advisors and six interviews of a day, small enough to page two advisors at a time."""
    advisors = pd.DataFrame(
        [
            ("d@cfai.fr", "Dora", "MAX"),
            ("b@cfai.fr", "Bruno", "MAX"),
            ("a@cfai.fr", "Alice", "MAX"),
            ("c@cfai.fr", "Chloé", "YUT"),
            ("e@cfai.fr", "Emma", "MAX"),
        ],
        columns=["email", "name", "site_code"],
    )
    times = frame(
        ("B1", "b@cfai.fr", local(DAY, 10), 45, "booked"),
        ("C1", "c@cfai.fr", local(DAY, 10), 45, "booked"),
        ("E1", "e@cfai.fr", local(DAY, 10), 45, "booked"),  # 10:00–10:45
        ("E2", "e@cfai.fr", local(DAY, 10, 30), 45, "booked"),  # 10:30–11:15: overlaps E1
        ("Z1", "z@cfai.fr", local(DAY, 11), 45, "booked"),  # Zoé is not an advisor of these sites
        ("N1", None, local(DAY, 11), 45, "booked"),  # nobody's yet
    )
    times["advisor"] = ["Bruno", "Chloé", "Emma", "Emma", "Zoé", None]
    times["site_code"] = ["MAX", "YUT", "MAX", "MAX", "EPI", "MAX"]
    return times, advisors


def test_advisors_are_paged_chosen_first_then_busy_then_idle():
    times, advisors = network_day()
    # Dora is chosen (she has no interview); then the advisors with interviews by label: Bruno ·
    # MAX, Chloé · YUT, Emma · MAX, Zoé · EPI (whose interview is at these sites although she is
    # not one of their advisors); then the idle ones: Alice · MAX. Six advisors, two a page:
    # [Dora, Bruno], [Chloé, Emma], [Zoé, Alice].
    first = schedule.advisor_page(times, advisors, 1, first_advisor="d@cfai.fr", size=2)
    assert (first.number, first.pages, first.first, first.last, first.total) == (1, 3, 1, 2, 6)
    assert [first.span(number) for number in (1, 2, 3)] == [(1, 2), (3, 4), (5, 6)]
    # The interview without an advisor comes on the first page, after the chosen advisor.
    assert first.advisors == ("d@cfai.fr", None, "b@cfai.fr")
    # Bruno's B1 and the unassigned N1, of the six interviews; four advisors have interviews.
    assert (first.interviews, first.interview_total, first.busy) == (2, 6, 4)
    assert first.bounds == (
        ("Dora · MAX", "Bruno · MAX"),
        ("Chloé · YUT", "Emma · MAX"),
        ("Zoé · EPI", "Alice · MAX"),
    )
    # Emma's overlap is on page 2: named on the others, not on her own.
    assert first.overlaps_elsewhere == (("Emma · MAX", 2),)
    assert not first.whole

    second = schedule.advisor_page(times, advisors, 2, first_advisor="d@cfai.fr", size=2)
    assert second.advisors == ("c@cfai.fr", "e@cfai.fr")
    assert (second.first, second.last, second.interviews) == (3, 4, 3)  # C1, E1, E2
    assert second.overlaps_elsewhere == ()
    # The audit names the advisors shown (their e-mails), the interviews without one too.
    assert schedule.view_detail(DAY, DAY, second) == "2020-04-14..2020-04-14 conseillers c@cfai.fr, e@cfai.fr"
    assert schedule.view_detail(DAY, DAY, first) == (
        "2020-04-14..2020-04-14 conseillers d@cfai.fr, (sans conseiller), b@cfai.fr"
    )


def test_a_page_number_out_of_range_is_brought_back_within_the_pages():
    times, advisors = network_day()
    last = schedule.advisor_page(times, advisors, 9, size=2)
    # Nobody chosen: Bruno, Chloé, Emma, Zoé, then Alice and Dora; page 3 is the last.
    assert (last.number, last.advisors, last.first, last.last) == (3, ("a@cfai.fr", "d@cfai.fr"), 5, 6)
    assert last.interviews == 0
    assert schedule.advisor_page(times, advisors, 0, size=2).number == 1
    # Nobody chosen: the unassigned interviews open the first page.
    assert schedule.advisor_page(times, advisors, 1, size=2).advisors == (None, "b@cfai.fr", "c@cfai.fr")


def test_one_page_holds_everything_and_the_audit_says_only_the_period():
    times, advisors = network_day()
    page = schedule.advisor_page(times, advisors, 1, first_advisor="e@cfai.fr")  # 25 a page
    assert (page.pages, page.first, page.last, page.total) == (1, 1, 6, 6)
    assert page.advisors == (
        "e@cfai.fr",
        None,
        "b@cfai.fr",
        "c@cfai.fr",
        "z@cfai.fr",
        "a@cfai.fr",
        "d@cfai.fr",
    )
    assert page.whole and page.overlaps_elsewhere == ()
    assert schedule.view_detail(DAY, DAY, page) == "2020-04-14..2020-04-14"


def test_the_first_page_with_every_interview_is_whole_even_when_idle_advisors_follow():
    times, advisors = network_day()
    busy_only = times[times["advisor_email"].isin(["b@cfai.fr", "c@cfai.fr"])]
    # Bruno and Chloé first, then Alice, Dora, Emma (idle that way): 2 pages of 3.
    page = schedule.advisor_page(busy_only, advisors, 1, size=3)
    assert page.pages == 2 and page.whole
    assert schedule.view_detail(DAY, DAY, page) == "2020-04-14..2020-04-14"


def test_a_day_without_interviews_pages_its_advisors(scenario):
    day = date(2020, 4, 17)  # a Friday of the operation nobody booked
    times = schedule.interview_times(day, day, engine=scenario)
    assert times.empty
    page = schedule.advisor_page(times, schedule.advisors_of((), scenario), 1)
    # Anne and Yves, by label, neither busy.
    assert page.advisors == ("anne.conseil@example.org", "yves.conseil@example.org")
    assert (page.interviews, page.interview_total, page.busy, page.whole) == (0, 0, 0, True)


def test_interview_times_are_the_interviews_without_their_details(scenario):
    # 15/04: BC (09:00) and BD1 (10:00, cancelled), both Yves's at YUT; on a week, BF2 (Anne,
    # 30/04 23:30) falls outside 13–19/04; BD2 is on 16/04.
    week = schedule.interview_times(date(2020, 4, 13), date(2020, 4, 19), engine=scenario)
    full = schedule.interviews(date(2020, 4, 13), date(2020, 4, 19), engine=scenario)
    assert sorted(week["ref"]) == sorted(full["ref"]) == ["BA", "BB", "BC", "BD1", "BD2"]
    day = schedule.interview_times(date(2020, 4, 15), date(2020, 4, 15), ("YUT",), ("CAP-RI",), scenario)
    assert day["ref"].tolist() == ["BC"]
    assert (day.iloc[0]["advisor"], day.iloc[0]["ends_at"].strftime("%H:%M")) == ("Yves Conseil", "09:45")


def test_interviews_of_some_advisors_only(scenario):
    # 25/03 holds BF1 at MAX, without an advisor; 14/04 Anne's BA and BB.
    march = (date(2020, 3, 25), date(2020, 4, 14))
    assert schedule.interviews(*march, engine=scenario)["ref"].tolist() == ["BF1", "BA", "BB"]
    anne = ("anne.conseil@example.org",)
    assert schedule.interviews(*march, engine=scenario, advisors=anne)["ref"].tolist() == ["BA", "BB"]
    assert schedule.interviews(*march, engine=scenario, advisors=(None,))["ref"].tolist() == ["BF1"]
    assert schedule.interviews(*march, engine=scenario, advisors=())["ref"].tolist() == []
    scope = Scope(date(2020, 4, 1), date(2020, 4, 30))
    # Yves alone: BC and BD2 (BD1 is cancelled), 45 minutes each.
    yves = availability.advisor_load(scope, scenario, advisors=("yves.conseil@example.org",))
    assert yves[["advisor_email", "interviews", "hours"]].values.tolist() == [
        ["yves.conseil@example.org", 2, 1.5]
    ]


def test_free_slots_count_every_interview_of_the_advisor_whatever_its_site_or_programme(scenario):
    # Yves on 15/04: BC (CAP-RI, 09:00–09:45) takes the 09:00 slot; BD1 (BTS-MS, 10:00) is
    # cancelled and takes nothing. An interview of his at MAX at 14:00 takes 13:30 (13:30–14:15)
    # and 14:15 (14:15–15:00): 9 − 3 = 6 free slots, whatever the page shows of his day.
    load(
        "bookings",
        "ref,candidate_ref,site_code,program_code,advisor_email,starts_at,status,booked_at\n"
        "BY,CE,MAX,BTS-MS,yves.conseil@example.org,2020-04-15 14:00,booked,2020-04-10 12:00\n",
        scenario,
    )
    yves = schedule.advisors_of(("YUT",), scenario)
    slots = availability.free_slots_of(date(2020, 4, 15), yves, scenario).iloc[0]
    assert slots["free_slots"] == 6
    assert slots["first_free"] == ["09:45", "10:30", "11:15", "15:00", "15:45", "16:30"]


def test_the_list_as_shown_and_exported():
    rows = frame(
        ("A", "x", local(DAY, 11), 45, "booked"),
        ("B", "y", local(DAY, 10), 45, "attended"),
    )
    rows = rows.assign(
        advisor=["Xavier", "Yann"],
        candidate=["Ana Bel", "—"],
        age=pd.Series([16, "—"], dtype=object),  # Yann's candidate is another advisor's
        minor=[True, "—"],
        email=["ana@example.org", "—"],
        phone=[None, "—"],
        program=[None, "CAP RI"],
        program_code=["BTS-MS", "CAP-RI"],
        attendees=[1, 2],
        meeting_url=[None, None],
        earlier_bookings=[0, 1],
        origin_channel=["email", None],
    )
    shown = schedule.listing_table(
        rows,
        first_advisor="x",
        status_names={"booked": "Réservé", "attended": "Venu"},
        minor_label="mineur",
        with_day=False,
    )
    # Xavier's first although later; a hidden age and minor stay "—"; the programme's code
    # stands in for its missing name; no ref, no day.
    assert shown[["time", "advisor", "age", "minor", "status", "program"]].values.tolist() == [
        ["11:00", "Xavier", "16", "mineur", "Réservé", "BTS-MS"],
        ["10:00", "Yann", "—", "—", "Venu", "CAP RI"],
    ]
    assert "ref" not in shown and "day" not in shown
    week = schedule.listing_table(rows, first_advisor=None, status_names={}, minor_label="m", with_day=True)
    assert week["day"].tolist() == ["14/04/2020", "14/04/2020"]
