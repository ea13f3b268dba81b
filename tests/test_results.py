"""The directors' results on the hand-made scenario (figures worked out by hand)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from services import bookings, results
from services.scope import Scope
from tests.conftest import load

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL


APRIL = Scope(date(2020, 4, 1), date(2020, 4, 30))


def test_key_figures(scenario):
    # Bookings and funnel as in test_bookings.
    # Spend: SOC-1 1000.50 + MAIL-1 200 + NEWS-1 300 (campaigns starting in April).
    assert results.key_figures(APRIL, scenario) == pytest.approx(
        {
            "bookings": 6,
            "show_rate": 0.75,
            "family_attendance": 2 / 3,
            "booked": 5,
            "enrolled": 2,
            "conversion_to_enrollment": 0.4,
            "spend": 1500.5,
            "cost_per_enrollment": 1500.5 / 2,
        }
    )


def test_programme_table(scenario):
    table = results.programme_table(APRIL, scenario).set_index(["program_code", "site_code"])
    columns = ["seats", "booked", "attended", "pre_registered", "enrolled"]
    # BTS-MS@MAX: BA (CA attended), BB (CB no-show), BF2 (CF attended); CA and CF enrolled there.
    assert table.loc[("BTS-MS", "MAX"), columns].tolist() == [12, 3, 2, 0, 2]
    assert table.loc[("BTS-MS", "MAX"), "fill_rate"] == pytest.approx(2 / 12)
    # BTS-MS@YUT: BD1 cancelled, BD2 attended (CD, whose enrollment is withdrawn).
    assert table.loc[("BTS-MS", "YUT"), columns].tolist() == [10, 1, 1, 0, 0]
    # CAP-RI@YUT: BC booked (CC, pre-registered there).
    assert table.loc[("CAP-RI", "YUT"), columns].tolist() == [8, 1, 0, 1, 0]


def test_pacing_counts_bookings_by_booking_day_relative_to_the_first_day(scenario):
    # POV-2020-04 starts 14/04; its bookings were made 06/04 (D-8), 08/04 (D-6), 09/04 (D-5),
    # 10/04 (D-4) and 12/04 (D-2).
    curve = results.pacing("POV-2020-04", date(2020, 4, 14), APRIL, scenario).set_index("day")["bookings"]
    assert curve.index.min() == -30 and curve.index.max() == 7
    assert curve[-9] == 0
    assert [curve[d] for d in (-8, -7, -6, -5, -4, -3, -2, -1, 0, 7)] == [1, 1, 2, 3, 4, 4, 5, 5, 5, 5]
    yut = Scope(APRIL.date_from, APRIL.date_to, sites=("YUT",))
    assert results.pacing("POV-2020-04", date(2020, 4, 14), yut, scenario).iloc[-1]["bookings"] == 3


def test_comparison_event_is_the_previous_one_of_the_other_kind():
    events = pd.DataFrame(
        {
            "code": ["JD-2020-05", "POV-2020-04", "POP-2020-01", "POP-2019-03"],
            "kind": ["job_dating", "virtual", "in_person", "in_person"],
            "starts_on": [date(2020, 5, 19), date(2020, 4, 14), date(2020, 1, 25), date(2019, 3, 23)],
        }
    )
    assert results.comparison_event(events, "POV-2020-04") == "POP-2020-01"
    assert results.comparison_event(events, "POP-2020-01") is None  # no earlier virtual operation
    assert results.comparison_event(events, "JD-2020-05") == "POV-2020-04"


def test_funnel_by_site(scenario):
    table = results.funnel_by_site(APRIL, scenario).set_index("site_code")
    # MAX: CA, CB, CF reached and booked; CA, CF attended and enrolled.
    assert table.loc["MAX", ["reached", "booked", "attended", "enrolled"]].tolist() == [3, 3, 2, 2]
    assert table.loc["MAX", "attendance_rate"] == pytest.approx(2 / 3)
    assert table.loc["YUT", "conversion_to_enrollment"] == 0


# Expected per site, [reached, booked, attended, enrolled], worked out from tests/data/scenario:
# April bookings: MAX BA (CA attended), BB (CB no-show), BF2 (CF attended, no event);
# YUT BC (CC booked, CAP-RI), BD1 (CD cancelled) and BD2 (CD attended). Only CA and CF are enrolled.
FUNNELS_BY_SITE = [
    # No filter: a site's "reached" is its candidates with a booking, never the visits.
    (APRIL, {"MAX": [3, 3, 2, 2], "YUT": [2, 2, 1, 0]}),
    # The event drops BF2 (CF) at MAX.
    (Scope(APRIL.date_from, APRIL.date_to, event="POV-2020-04"), {"MAX": [2, 2, 1, 1], "YUT": [2, 2, 1, 0]}),
    # CAP-RI: only BC; MAX has no booking and is still listed, with zeros.
    (Scope(APRIL.date_from, APRIL.date_to, programs=("CAP-RI",)), {"MAX": [0, 0, 0, 0], "YUT": [1, 1, 0, 0]}),
    # A site filter lists only its sites.
    (Scope(APRIL.date_from, APRIL.date_to, sites=("YUT",)), {"YUT": [2, 2, 1, 0]}),
]


@pytest.mark.parametrize(("scope", "expected"), FUNNELS_BY_SITE)
def test_funnel_by_site_is_the_funnel_of_the_scope_narrowed_to_each_site(scenario, scope, expected):
    table = results.funnel_by_site(scope, scenario).set_index("site_code")
    steps = ["reached", "booked", "attended", "enrolled"]
    assert {site: table.loc[site, steps].tolist() for site in table.index} == expected
    for site in table.index:
        narrowed = Scope(scope.date_from, scope.date_to, scope.event, (site,), scope.programs)
        assert table.loc[site, steps].to_dict() == bookings.funnel(narrowed, scenario)
    if "MAX" in expected and expected["MAX"][1] == 0:  # nobody booked: the rates are undefined
        assert table.loc["MAX", ["booking_rate", "attendance_rate", "conversion_to_enrollment"]].isna().all()


def test_companies_by_programme(scenario):
    table = results.companies_by_programme(2020, APRIL, scenario).set_index("program_code")
    # 2020 offers: O1 (company 1, BTS-MS, 2 positions), O2 (company 2, BTS-MS, 1), O4 (company 1, BTS-MS, 1),
    # O3 (company 2, CAP-RI, 3); none in 2019.
    assert table.loc["BTS-MS", ["companies", "offers", "positions"]].tolist() == [2, 3, 4]
    assert table.loc["CAP-RI", ["companies", "offers", "positions"]].tolist() == [1, 1, 3]
    assert table["offers_previous"].sum() == 0


def test_no_signal_when_nothing_stands_out(scenario):
    # No-show rates: MAX 1/3, YUT 0, average 1/4: 1/3 < 1.5 × 1/4. Every offering has a booking.
    assert results.signals(APRIL, scenario) == []


def test_signals_a_site_with_many_no_shows_and_seats_without_booking(engine):
    load("sites", "code,name\nA,Site A\nB,Site B\n", engine)
    load("programs", "code,name,site_code,seats\nP,Prog,A,10\nP,Prog,B,10\nQ,Autre,B,5\n", engine)
    load("candidates", "ref,created_at\n" + "".join(f"C{i},2020-04-01 10:00\n" for i in range(6)), engine)
    load(
        "bookings",
        "ref,candidate_ref,site_code,program_code,starts_at,status,booked_at\n"
        "B0,C0,A,P,2020-04-14 10:00,no_show,2020-04-01 12:00\n"
        "B1,C1,A,P,2020-04-14 11:00,no_show,2020-04-01 12:00\n"
        + "".join(f"B{i},C{i},B,P,2020-04-14 1{i}:00,attended,2020-04-01 12:00\n" for i in range(2, 6)),
        engine,
    )
    # Average no-show rate 2 / 6 = 1/3; site A: 2 / 2 = 1 ≥ 1.5 × 1/3. Q@B has 5 seats and no booking.
    found = results.signals(APRIL, engine)
    assert [(s.kind, s.subject) for s in found] == [
        ("high_no_show", "Site A"),
        ("seats_without_booking", "Autre (B)"),
    ]
    assert found[0].figures == pytest.approx({"no_show_rate": 1.0, "average": 1 / 3, "no_show": 2})


def test_a_day_without_any_free_slot_is_a_finding(engine):
    # One advisor at site A, open 09:00–12:00 and 13:30–17:15: nine 45-minute slots, all booked on
    # Tuesday 14/04/2020 (event E); on Wednesday one slot stays free.
    load("sites", "code,name\nA,Site A\n", engine)
    load("advisors", "email,name,site_code\nann@example.org,Ann,A\n", engine)
    load(
        "events",
        "code,name,kind,starts_on,ends_on\nE,Portes ouvertes,virtual,2020-04-14,2020-04-15\n",
        engine,
    )
    load("candidates", "ref,created_at\nC,2020-04-01 10:00\n", engine)
    times = ["09:00", "09:45", "10:30", "11:15", "13:30", "14:15", "15:00", "15:45", "16:30"]
    rows = [f"T{i},C,E,A,ann@example.org,2020-04-14 {t},booked,2020-04-01 12:00" for i, t in enumerate(times)]
    rows += [
        f"W{i},C,E,A,ann@example.org,2020-04-15 {t},booked,2020-04-01 12:00" for i, t in enumerate(times[:-1])
    ]
    load(
        "bookings",
        "ref,candidate_ref,event_code,site_code,advisor_email,starts_at,status,booked_at\n"
        + "\n".join(rows)
        + "\n",
        engine,
    )
    found = results.full_days(Scope(date(2020, 4, 1), date(2020, 4, 30), event="E"), engine)
    assert [(s.kind, s.subject, s.figures) for s in found] == [
        ("full_day", "Site A · 14/04/2020", {"advisors": 1, "interviews": 9})
    ]
    assert results.full_days(Scope(date(2020, 4, 1), date(2020, 4, 30)), engine) == []  # no event chosen
