"""The directors' results on the hand-made scenario (figures worked out by hand)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from services.metrics import bookings, results
from services.store.scope import Scope
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
    assert [(s.kind, s.subject, s.figures, s.day) for s in found] == [
        ("full_day", "Site A", {"advisors": 1, "interviews": 9}, date(2020, 4, 14))
    ]
    assert results.full_days(Scope(date(2020, 4, 1), date(2020, 4, 30)), engine) == []  # no event chosen


def test_site_figures_read_each_site_s_funnel_and_bookings_per_status_at_once(scenario):
    # April bookings: MAX BA (CA attended), BB (CB no-show), BF2 (CF attended, no event);
    # YUT BC (CC booked), BD1 (CD cancelled), BD2 (CD attended). CA and CF are enrolled, CC only
    # pre-registered, CD withdrawn.
    figures = results.site_figures(APRIL, scenario)
    assert figures.index.tolist() == ["MAX", "YUT"]
    assert figures.loc["MAX"].to_dict() == {
        "reached": 3,  # CA, CB, CF
        "booked": 3,
        "attended": 2,  # CA, CF
        "enrolled": 2,  # CA, CF
        "bookings_booked": 0,
        "bookings_attended": 2,  # BA, BF2
        "bookings_no_show": 1,  # BB
        "bookings_cancelled": 0,
    }
    assert figures.loc["YUT"].to_dict() == {
        "reached": 2,  # CC, CD
        "booked": 2,  # CC (BC), CD (BD2)
        "attended": 1,  # CD
        "enrolled": 0,
        "bookings_booked": 1,  # BC
        "bookings_attended": 1,  # BD2
        "bookings_no_show": 0,
        "bookings_cancelled": 1,  # BD1
    }
    # The event's scope drops BF2: MAX keeps CA (attended, enrolled) and CB (no-show).
    event = results.site_figures(Scope(APRIL.date_from, APRIL.date_to, event="POV-2020-04"), scenario)
    assert event.loc["MAX"].tolist() == [2, 2, 1, 1, 0, 1, 1, 0]
    # Nothing in scope: no row.
    assert results.site_figures(Scope(date(2030, 1, 1), date(2030, 1, 2)), scenario).empty


def test_bookings_by_site_in_long_form_from_the_site_figures(scenario):
    long = results.bookings_by_site(APRIL, scenario)
    # Per status, then per site (as the chart stacks them), with the sites' names.
    assert long.values.tolist() == [
        ["MAX", "Maxéville", "booked", 0],
        ["YUT", "Yutz", "booked", 1],
        ["MAX", "Maxéville", "attended", 2],
        ["YUT", "Yutz", "attended", 1],
        ["MAX", "Maxéville", "no_show", 1],
        ["YUT", "Yutz", "no_show", 0],
        ["MAX", "Maxéville", "cancelled", 0],
        ["YUT", "Yutz", "cancelled", 1],
    ]
    figures = results.site_figures(APRIL, scenario)
    given = results.bookings_by_site(APRIL, scenario, figures=figures, names={"MAX": "M", "YUT": "Y"})
    assert given["bookings"].tolist() == long["bookings"].tolist() and set(given["site"]) == {"M", "Y"}


@pytest.mark.parametrize(
    "scope",
    [
        APRIL,
        Scope(APRIL.date_from, APRIL.date_to, event="POV-2020-04"),
        Scope(APRIL.date_from, APRIL.date_to, sites=("YUT",)),
        Scope(APRIL.date_from, APRIL.date_to, programs=("CAP-RI",)),
        Scope(date(2020, 3, 1), date(2020, 5, 31)),
        Scope(date(2030, 1, 1), date(2030, 1, 2)),
    ],
)
def test_key_figures_in_one_query_are_the_bookings_definitions(scenario, scope):
    # The cards read statuses, family attendance, booked and enrolled in one pass: the same
    # figures as the definitions of services.metrics.bookings, each its own query.
    figures = results.key_figures(scope, scenario)
    totals = bookings.status_totals(scope, scenario)
    funnel = bookings.funnel(scope, scenario, steps=("booked", "enrolled"))
    assert figures["bookings"] == totals["total"]
    assert figures["show_rate"] == bookings.show_rate(totals)
    assert figures["family_attendance"] == bookings.family_attendance(scope, scenario)
    assert (figures["booked"], figures["enrolled"]) == (funnel["booked"], funnel["enrolled"])


def test_pacing_days_are_paris_days_across_the_clock_change(engine):
    # Event E starts Monday 30/03/2020, the day after the change to summer time (UTC+1 → UTC+2).
    load("sites", "code,name\nA,Site A\nB,Site B\n", engine)
    load("events", "code,name,kind,starts_on,ends_on\nE,E,virtual,2020-03-30,2020-03-31\n", engine)
    load("events", "code,name,kind,starts_on,ends_on\nF,F,virtual,2020-03-30,2020-03-31\n", engine)
    load("candidates", "ref,created_at\nC,2020-01-01 10:00\n", engine)
    booked = [
        ("P1", "E", "A", "2020-01-15 10:00"),  # D-75: counted from D-30 on
        ("P2", "E", "A", "2020-02-29 23:59"),  # D-30
        ("P3", "E", "A", "2020-03-01 00:00"),  # D-29
        ("P4", "E", "A", "2020-03-29 00:30"),  # D-1, before the change (23:30 UTC on the 28th)
        ("P5", "E", "A", "2020-03-29 23:30"),  # D-1, after it (21:30 UTC)
        ("P6", "E", "A", "2020-03-30 00:10"),  # D0 (22:10 UTC on the 29th)
        ("P7", "E", "B", "2020-04-06 23:59"),  # D+7, at site B
        ("P8", "E", "A", "2020-04-07 00:00"),  # D+8: after the curve
        ("P9", "F", "A", "2020-03-30 10:00"),  # another event
    ]
    load(
        "bookings",
        "ref,candidate_ref,event_code,site_code,starts_at,status,booked_at\n"
        + "".join(
            f"{ref},C,{event},{site},2020-04-10 10:00,booked,{at}\n" for ref, event, site, at in booked
        ),
        engine,
    )
    curve = results.pacing("E", date(2020, 3, 30), APRIL, engine).set_index("day")["bookings"]
    assert curve.index.tolist() == list(range(-30, 8))
    # D-30: P1, P2; D-29: + P3; D-1: + P4, P5; D0: + P6; D+7: + P7.
    assert curve[-30] == 2 and curve[-29] == 3 and curve[-2] == 3
    assert [curve[d] for d in (-1, 0, 1, 6, 7)] == [5, 6, 6, 6, 7]
    only_a = Scope(APRIL.date_from, APRIL.date_to, sites=("A",))
    assert results.pacing("E", date(2020, 3, 30), only_a, engine)["bookings"].iloc[-1] == 6  # not P7
    assert results.pacing("X", date(2020, 3, 30), APRIL, engine)["bookings"].sum() == 0  # no booking


SLOTS = ["09:00", "09:45", "10:30", "11:15", "13:30", "14:15", "15:00", "15:45", "16:30"]


def _interviews(rows: list[tuple[str, str, str, str, int, str]], engine) -> None:
    """Load bookings of event E: (ref, site, advisor, local start, minutes, status)."""
    load(
        "bookings",
        "ref,candidate_ref,event_code,site_code,advisor_email,starts_at,duration_min,status,booked_at\n"
        + "".join(
            f"{ref},C,E,{site},{advisor},{start},{minutes},{status},2020-04-01 12:00\n"
            for ref, site, advisor, start, minutes, status in rows
        ),
        engine,
    )


def test_a_site_is_full_only_when_every_one_of_its_advisors_is(engine):
    # Site A has three advisors, site B one; event E on Tuesday 14 and Wednesday 15/04/2020.
    load("sites", "code,name\nA,Site A\nB,Site B\n", engine)
    load(
        "advisors",
        "email,name,site_code\na1@x.org,A1,A\na2@x.org,A2,A\na3@x.org,A3,A\nb1@x.org,B1,B\n",
        engine,
    )
    load("events", "code,name,kind,starts_on,ends_on\nE,E,virtual,2020-04-14,2020-04-15\n", engine)
    load("candidates", "ref,created_at\nC,2020-04-01 10:00\n", engine)
    rows = []
    for day in ("14", "15"):
        for advisor in ("a1", "a2", "a3", "b1"):
            for time in SLOTS:
                status = "booked"
                if (day, advisor, time) == ("15", "a3", "16:30"):
                    continue  # a3 has 16:30 free on the 15th
                if (day, advisor, time) == ("14", "b1", "16:30"):
                    status = "cancelled"  # b1's 16:30 on the 14th is free again
                site = "B" if advisor == "b1" else "A"
                rows.append(
                    (f"{advisor}-{day}-{time}", site, f"{advisor}@x.org", f"2020-04-{day} {time}", 45, status)
                )
    rows.append(("nobody", "B", "", "2020-04-15 12:00", 45, "booked"))  # no advisor: counted, fills nothing
    _interviews(rows, engine)
    found = results.full_days(Scope(date(2020, 4, 1), date(2020, 4, 30), event="E"), engine)
    # 14th: A full (3 advisors × 9 interviews); B not (the cancelled 16:30). 15th: A not (a3's
    # 16:30), B full: b1's 9 interviews and the one without advisor.
    assert [(s.kind, s.subject, s.figures, s.day) for s in found] == [
        ("full_day", "Site A", {"advisors": 3, "interviews": 27}, date(2020, 4, 14)),
        ("full_day", "Site B", {"advisors": 1, "interviews": 10}, date(2020, 4, 15)),
    ]
    only_b = Scope(date(2020, 4, 1), date(2020, 4, 30), event="E", sites=("B",))
    assert [(s.subject, s.day) for s in results.full_days(only_b, engine)] == [("Site B", date(2020, 4, 15))]
    the_14th = Scope(date(2020, 4, 14), date(2020, 4, 14), event="E")
    assert [(s.subject, s.day) for s in results.full_days(the_14th, engine)] == [
        ("Site A", date(2020, 4, 14))
    ]


def test_a_full_day_counts_long_interviews_interviews_off_the_slots_and_at_other_sites(engine):
    # Ann (site A) on Tuesday 14/04/2020: 09:00 for 135 min (slots 09:00, 09:45, 10:30), 11:15,
    # 13:30 for 90 min (13:30, 14:15), 15:00 at site B, 15:45, and 17:00, which overlaps the
    # 16:30–17:15 slot: every slot is taken, with six interviews. Saturday 18/04 is closed.
    load("sites", "code,name\nA,Site A\nB,Site B\n", engine)
    load("advisors", "email,name,site_code\nann@x.org,Ann,A\n", engine)
    load("events", "code,name,kind,starts_on,ends_on\nE,E,virtual,2020-04-14,2020-04-18\n", engine)
    load("candidates", "ref,created_at\nC,2020-04-01 10:00\n", engine)
    rows = [
        ("L1", "A", "ann@x.org", "2020-04-14 09:00", 135, "booked"),
        ("L2", "A", "ann@x.org", "2020-04-14 11:15", 45, "booked"),
        ("L3", "A", "ann@x.org", "2020-04-14 13:30", 90, "attended"),
        ("L4", "B", "ann@x.org", "2020-04-14 15:00", 45, "no_show"),
        ("L5", "A", "ann@x.org", "2020-04-14 15:45", 45, "booked"),
        ("L6", "A", "ann@x.org", "2020-04-14 17:00", 45, "booked"),
        ("L7", "A", "ann@x.org", "2020-04-14 16:30", 45, "cancelled"),
    ]
    rows += [(f"S{i}", "A", "ann@x.org", f"2020-04-18 {t}", 45, "booked") for i, t in enumerate(SLOTS)]
    _interviews(rows, engine)
    event = Scope(date(2020, 4, 1), date(2020, 4, 30), event="E")
    found = results.full_days(event, engine)
    # Interviews not cancelled at site A that day: L1, L2, L3, L5, L6 (L4 is at site B).
    assert [(s.subject, s.day, s.figures) for s in found] == [
        ("Site A", date(2020, 4, 14), {"advisors": 1, "interviews": 5})
    ]
    # With only site A chosen, Ann's interview at B still takes her 15:00 (metrics.md, *Créneaux
    # libres*: any interview of the advisor): the day is full all the same, with A's 5 interviews.
    assert [
        (s.subject, s.day, s.figures)
        for s in results.full_days(Scope(event.date_from, event.date_to, "E", ("A",)), engine)
    ] == [("Site A", date(2020, 4, 14), {"advisors": 1, "interviews": 5})]
