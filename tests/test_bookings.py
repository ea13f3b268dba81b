"""Booking figures and the funnel on the hand-made scenario (tests/data/scenario).

In-scope bookings for April 2020 (start date in the period, Europe/Paris):
BA attended MAX 3 people · BB no_show MAX · BC booked YUT · BD1 cancelled YUT ·
BD2 attended YUT 2 people · BF2 attended MAX (30/04 23:30 local, 21:30 UTC: still April).
Out: BF1 (starts in March) and BG (01/05 00:15 local, although 30/04 22:15 UTC).
"""

from datetime import date

import pytest

from services.imports.importer import import_path
from services.metrics import bookings
from services.store.scope import Scope

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL


APRIL = Scope(date(2020, 4, 1), date(2020, 4, 30))


def test_status_totals_count_every_status_in_scope(scenario):
    assert bookings.status_totals(APRIL, scenario) == {
        "booked": 1,
        "attended": 3,
        "no_show": 1,
        "cancelled": 1,
        "total": 6,
    }


def test_rates_follow_their_definitions(scenario):
    totals = bookings.status_totals(APRIL, scenario)
    assert bookings.show_rate(totals) == pytest.approx(3 / 4)  # attended / (attended + no_show)
    assert bookings.cancellation_rate(totals) == pytest.approx(1 / 6)  # cancelled / bookings
    # attended with attendees ≥ 2: BA (3) and BD2 (2), of 3 attended
    assert bookings.family_attendance(APRIL, scenario) == pytest.approx(2 / 3)


def test_rates_are_undefined_without_denominator(engine):
    empty = bookings.status_totals(APRIL, engine)
    assert empty["total"] == 0
    assert bookings.show_rate(empty) is None
    assert bookings.cancellation_rate(empty) is None
    assert bookings.family_attendance(APRIL, engine) is None


def test_by_site_lists_every_site(scenario):
    assert bookings.by_site(APRIL, scenario) == {"MAX": 3, "YUT": 3}
    # one day with no booking: every site still listed, with 0
    assert bookings.by_site(Scope(date(2020, 4, 2), date(2020, 4, 2)), scenario) == {"MAX": 0, "YUT": 0}


def test_local_date_decides_the_period_at_midnight(scenario):
    # BF2 starts 30/04 23:30 local; BG starts 01/05 00:15 local (30/04 22:15 UTC)
    last_day = bookings.status_totals(Scope(date(2020, 4, 30), date(2020, 4, 30)), scenario)
    first_of_may = bookings.status_totals(Scope(date(2020, 5, 1), date(2020, 5, 1)), scenario)
    assert last_day["total"] == 1
    assert first_of_may["total"] == 1


def test_filters_on_event_site_and_programme(scenario):
    event = Scope(date(2020, 4, 1), date(2020, 4, 30), event="POV-2020-04")
    assert bookings.status_totals(event, scenario)["total"] == 5  # BA BB BC BD1 BD2 (BF2 has no event)
    yut = Scope(date(2020, 4, 1), date(2020, 4, 30), sites=("YUT",))
    assert bookings.status_totals(yut, scenario)["total"] == 3
    cap = Scope(date(2020, 4, 1), date(2020, 4, 30), programs=("CAP-RI",))
    assert bookings.status_totals(cap, scenario)["total"] == 1  # BC


def test_booking_counts_by_programme_and_advisor(scenario):
    by_program = bookings.booking_counts(APRIL, by="program_code", engine=scenario)
    assert by_program.loc["BTS-MS", "total"] == 5
    assert by_program.loc["CAP-RI", "booked"] == 1
    by_advisor = bookings.booking_counts(APRIL, by="advisor_email", engine=scenario)
    assert by_advisor.loc["anne.conseil@example.org", "attended"] == 2  # BA, BF2
    assert by_advisor.loc["yves.conseil@example.org", "total"] == 3


def test_booking_counts_keep_bookings_without_programme_or_advisor(scenario, tmp_path):
    # metrics.md: bookings in scope are "also counted by programme, by advisor"; both columns may be
    # empty (data-contract.md). BX (CC, YUT, 20/04, no programme, no advisor) joins April's six:
    # by programme BTS-MS 5 (BA BB BD1 BD2 BF2), CAP-RI 1 (BC), none 1 (BX) = the total, 7;
    # by advisor anne 3 (BA BB BF2), yves 3 (BC BD1 BD2), none 1 (BX).
    (tmp_path / "bookings.csv").write_text(
        "ref,candidate_ref,event_code,site_code,starts_at,status,booked_at\n"
        "BX,CC,POV-2020-04,YUT,2020-04-20 10:00,booked,2020-04-18 10:00\n",
        encoding="utf-8",
    )
    assert import_path(tmp_path / "bookings.csv", engine=scenario)[0].accepted
    assert bookings.status_totals(APRIL, scenario)["total"] == 7
    by_program = bookings.booking_counts(APRIL, by="program_code", engine=scenario)
    assert by_program["total"].sum() == 7
    assert by_program.loc[by_program.index.isna(), "booked"].tolist() == [1]
    by_advisor = bookings.booking_counts(APRIL, by="advisor_email", engine=scenario)
    assert by_advisor["total"].tolist() == [3, 3, 1]  # anne, yves, none
    assert by_advisor.loc[by_advisor.index.isna(), "total"].tolist() == [1]


def test_bookings_by_day_uses_local_dates(scenario):
    days = bookings.bookings_by_day(APRIL, scenario)
    per_day = days.groupby("day")["bookings"].sum().to_dict()
    assert per_day == {date(2020, 4, 14): 2, date(2020, 4, 15): 2, date(2020, 4, 16): 1, date(2020, 4, 30): 1}


def test_funnel_counts_distinct_candidates(scenario):
    # reached: touch in April (CA CB CE CF CG) or booking in scope (CA CB CC CD CF) → 7
    # booked: non-cancelled booking in scope: CA CB CC CD(BD2) CF → 5
    # attended: CA CD CF → 3 ; enrolled: booked with an 'enrolled' enrollment: CA CF → 2
    counts = bookings.funnel(APRIL, scenario)
    assert counts == {"reached": 7, "booked": 5, "attended": 3, "enrolled": 2}
    assert bookings.conversion_to_enrollment(counts) == pytest.approx(2 / 5)


def test_funnel_with_a_site_filter_ignores_touchpoints(scenario):
    # MAX bookings in scope: BA (CA), BB (CB), BF2 (CF); touchpoints belong to no site
    counts = bookings.funnel(Scope(date(2020, 4, 1), date(2020, 4, 30), sites=("MAX",)), scenario)
    assert counts == {"reached": 3, "booked": 3, "attended": 2, "enrolled": 2}


def test_scope_refuses_an_inverted_period():
    with pytest.raises(ValueError):
        Scope(date(2020, 4, 30), date(2020, 4, 1))


def test_funnel_counts_a_candidate_with_two_bookings_once(scenario):
    # YUT: BC (CC), BD1 cancelled and BD2 attended (both CD) → reached CC, CD; booked CC, CD
    counts = bookings.funnel(Scope(date(2020, 4, 1), date(2020, 4, 30), sites=("YUT",)), scenario)
    assert counts == {"reached": 2, "booked": 2, "attended": 1, "enrolled": 0}


def test_the_event_filter_alone_keeps_the_visits_of_the_period(scenario):
    # POV-2020-04 bookings in April: BA (CA attended), BB (CB no-show), BC (CC booked),
    # BD1 (CD cancelled), BD2 (CD attended). Visits in April: CA CB CE CF CG (CD's are in March).
    # reached: CA CB CE CF CG + CC CD (booked, no visit in the period) → 7; booked CA CB CC CD → 4;
    # attended CA CD → 2; enrolled: CA (CC is pre-registered, CD withdrawn) → 1.
    event = Scope(date(2020, 4, 1), date(2020, 4, 30), event="POV-2020-04")
    assert bookings.funnel(event, scenario) == {"reached": 7, "booked": 4, "attended": 2, "enrolled": 1}


def test_funnel_computes_only_the_steps_asked_for(scenario):
    assert bookings.funnel(APRIL, scenario, steps=("booked", "enrolled")) == {"booked": 5, "enrolled": 2}
