"""The directors' job-dating figures, worked out by hand.

tests/data/scenario in April 2020 (the same data as test_report's ``job_dating`` object):
  offers published in April: O1 Forges de Lorraine BTS-MS@MAX 2 positions (02/04),
    O2 Usinage Mosellan BTS-MS@YUT 1 (05/04), O3 Usinage Mosellan CAP-RI@YUT 3 (25/04);
    O4 (BTS-MS@MAX, 01/03) is out of the period.
  seeking: pre_registered or enrolled without a signed contract: CC (CAP-RI@YUT), CE (CAP-RI@YUT),
    CF (BTS-MS@MAX); CA signed (M1), CD withdrew.
  meetings of JD-2020-04: M1 CA·O1 20/04 held contract_signed (signed 02/05), M2 CC·O1 20/04 held
    both_interested, M3 CF·O2 21/04 no_show, M4 CC·O2 21/04 cancelled.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from services.metrics import jobdating
from services.store.scope import Scope
from tests.conftest import load

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL


APRIL = Scope(date(2020, 4, 1), date(2020, 4, 30))
FUNNEL = ["planned", "held", "mutual_interest", "contracts", "no_show"]


def test_previous_year_is_the_same_period_one_year_earlier():
    scope = Scope(date(2020, 2, 29), date(2020, 5, 31), "JD", ("MAX",), ("BTS-MS",))
    # 2019 has no 29 February: the period starts on the 28th; the event does not apply to offers.
    assert jobdating.previous_year(scope) == Scope(
        date(2019, 2, 28), date(2019, 5, 31), None, ("MAX",), ("BTS-MS",)
    )


@pytest.fixture
def supply(scenario):
    """The scenario, plus offers of April 2019 (O19, O17) and May 2019 (O18), two more seekers in
    CAP-RI@YUT."""
    load(
        "offers",
        "ref,siret,program_code,site_code,positions,published_on\nO19,12345678900011,BTS-MS,MAX,2,2019-04-10\n"
        "O18,12345678900011,CAP-RI,YUT,5,2019-05-01\n"
        "O17,12345678900011,CAP-RI,MAX,4,2019-04-20\n",
        scenario,
    )
    load(
        "candidates",
        "ref,first_name,last_name,created_at\nCH,Hugo,Henry,2020-04-01 10:00\n"
        "CI,Inès,Ibert,2020-04-01 10:00\n",
        scenario,
    )
    load(
        "enrollments",
        "candidate_ref,program_code,site_code,enrolled_at,status\n"
        "CH,CAP-RI,YUT,2020-04-15 09:00,enrolled\nCI,CAP-RI,YUT,2020-04-16 09:00,pre_registered\n",
        scenario,
    )
    return scenario


def test_supply_and_demand_by_programme_and_site(supply):
    table = jobdating.supply_and_demand(APRIL, supply).set_index(["program_code", "site_code"])
    columns = ["offers", "positions", "seeking", "gap", "offers_previous", "positions_previous"]
    # BTS-MS@MAX: O1 (2 positions); seeking CF; 2019: O19 (2 positions, 10/04/2019 is in April 2019).
    assert table.loc[("BTS-MS", "MAX"), columns].tolist() == [1, 2, 1, -1, 1, 2]
    # BTS-MS@YUT: O2 (1); nobody seeking there (CD withdrew).
    assert table.loc[("BTS-MS", "YUT"), columns].tolist() == [1, 1, 0, -1, 0, 0]
    # CAP-RI@YUT: O3 (3); seeking CC, CE, CH, CI → 4, one more than positions; O18 is from May 2019.
    assert table.loc[("CAP-RI", "YUT"), columns].tolist() == [1, 3, 4, 1, 0, 0]
    # CAP-RI@MAX: nothing now, O17 (4 positions) a year earlier.
    assert table.loc[("CAP-RI", "MAX"), columns].tolist() == [0, 0, 0, 0, 1, 4]
    assert table.loc[("CAP-RI", "YUT"), ["program", "site"]].tolist() == [
        "CAP Réalisations industrielles",
        "Yutz",
    ]
    # The totals match the report's figures (positions 6) for the same scope.
    figures = jobdating.job_dating_figures(APRIL, supply)
    assert table["positions"].sum() == figures["positions"] == 6
    assert table["seeking"].sum() == figures["seeking_candidates"] == 5


def test_supply_by_programme_and_its_imbalances_in_words(supply):
    table = jobdating.supply_by_programme(APRIL, supply).set_index("program_code")
    # BTS-MS: O1 + O2 → 2 offers, 3 positions; seeking CF → 1; 2019: O19 only.
    assert table.loc["BTS-MS", ["offers", "positions", "seeking", "gap", "positions_previous"]].tolist() == [
        2,
        3,
        1,
        -2,
        2,
    ]
    # CAP-RI: O3 → 3 positions for 4 seeking; a year earlier O17 (4 positions, O18 is from May).
    assert table.loc["CAP-RI", ["offers", "positions", "seeking", "gap", "positions_previous"]].tolist() == [
        1,
        3,
        4,
        1,
        4,
    ]
    short, surplus = jobdating.imbalances(table.reset_index())
    assert short["program_code"].tolist() == ["CAP-RI"]
    assert surplus["program_code"].tolist() == ["BTS-MS"]


def test_supply_follows_the_site_filter(supply):
    # YUT only: O2 (1) and O3 (3); seeking at YUT: CC, CE, CH, CI; nothing at YUT in April 2019.
    table = jobdating.supply_by_programme(Scope(APRIL.date_from, APRIL.date_to, sites=("YUT",)), supply)
    assert table.set_index("program_code")[["positions", "seeking", "positions_previous"]].to_dict(
        "index"
    ) == {
        "BTS-MS": {"positions": 1, "seeking": 0, "positions_previous": 0},
        "CAP-RI": {"positions": 3, "seeking": 4, "positions_previous": 0},
    }


def test_funnel_of_the_scenario(scenario):
    row = jobdating.funnel(APRIL, engine=scenario).iloc[0]
    # planned = not cancelled: M1, M2, M3 → 3; held M1, M2; mutual: M1 (contract_signed) and M2
    # (both_interested); contracts: CA; no-show M3. Show rate 2 / (2 + 1); CA's first meeting held
    # 20/04, contract 02/05 → 12 days.
    assert row[FUNNEL].tolist() == [3, 2, 2, 1, 1]
    assert row["show_rate"] == pytest.approx(2 / 3)
    assert row["mutual_interest_rate"] == 1.0
    assert (row["days_to_contract"], row["contracts_dated"]) == (12, 1)
    # The same definitions as the report's figures.
    figures = jobdating.job_dating_figures(APRIL, scenario)
    assert row["contracts"] == figures["contracts_signed"]
    assert row["show_rate"] == figures["meeting_show_rate"]
    assert row["mutual_interest_rate"] == figures["mutual_interest_rate"]


def test_funnel_by_site_and_programme_of_the_offers(scenario):
    by_site = jobdating.funnel(APRIL, "site_code", scenario).set_index("site_code")
    # MAX (O1): M1, M2 held, both mutual, CA's contract. YUT (O2): M3 no-show, M4 cancelled.
    assert by_site.loc["MAX", FUNNEL].tolist() == [2, 2, 2, 1, 0]
    assert by_site.loc["YUT", FUNNEL].tolist() == [1, 0, 0, 0, 1]
    assert by_site.loc["YUT", "show_rate"] == 0.0
    assert pd.isna(by_site.loc["YUT", "mutual_interest_rate"])  # no meeting held
    assert by_site.loc["MAX", "site"] == "Maxéville"
    by_programme = jobdating.funnel(APRIL, "program_code", scenario)
    # Every meeting is about a BTS-MS offer; CAP-RI (O3) has none and no row.
    assert by_programme["program_code"].tolist() == ["BTS-MS"]
    assert by_programme.iloc[0][FUNNEL].tolist() == [3, 2, 2, 1, 1]


def test_days_to_contract_are_counted_from_the_local_day_of_the_first_meeting_held(engine):
    load("sites", "code,name\nA,Site A\nB,Site B\n", engine)
    load("programs", "code,name,site_code,seats\nP,Prog P,A,10\nQ,Prog Q,B,10\n", engine)
    load(
        "events", "code,name,kind,starts_on,ends_on\nJD,Job dating,job_dating,2020-05-19,2020-05-20\n", engine
    )
    load("companies", "siret,name\n11111111111111,Alpha\n", engine)
    load(
        "offers",
        "ref,siret,program_code,site_code,positions,published_on\n"
        "OP,11111111111111,P,A,2,2020-05-01\nOQ,11111111111111,Q,B,1,2020-05-01\n",
        engine,
    )
    load("candidates", "ref,created_at\n" + "".join(f"{c},2020-04-01 10:00\n" for c in "VWXYZ"), engine)
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,status,outcome,contract_signed_on\n"
        # V: a no-show on 19/05 does not start the count; held on 20/05, signed 30/05 → 10 days.
        "M1,JD,V,OP,2020-05-19 09:00,no_show,,\n"
        "M2,JD,V,OP,2020-05-20 09:00,held,contract_signed,2020-05-30\n"
        # W: held at 00:10 on 20/05 in Paris (22:10 UTC on the 19th): 20/05 → 24/05, 4 days;
        # its second contract meeting (on Q, signed later) does not make W two contracts.
        "M3,JD,W,OP,2020-05-20 00:10,held,contract_signed,2020-05-24\n"
        "M4,JD,W,OQ,2020-05-20 10:00,held,contract_signed,2020-06-10\n"
        # X: first held 19/05 (on Q, interest only), contract from 20/05 on P signed 08/06 → 20 days.
        "M5,JD,X,OQ,2020-05-19 11:00,held,company_interested,\n"
        "M6,JD,X,OP,2020-05-20 11:00,held,contract_signed,2020-06-08\n"
        # Y: a contract without its date: counted as a contract, not in the median.
        "M7,JD,Y,OP,2020-05-19 14:00,held,contract_signed,\n"
        # Z: cancelled, then planned.
        "M8,JD,Z,OQ,2020-05-19 15:00,cancelled,,\n"
        "M9,JD,Z,OQ,2020-05-20 15:00,planned,,\n",
        engine,
    )
    scope = Scope(date(2020, 5, 1), date(2020, 6, 30), "JD")
    row = jobdating.funnel(scope, engine=engine).iloc[0]
    # Not cancelled: 8 of 9; held M2–M7 → 6; mutual: M2, M3, M4, M6, M7 → 5; contracts V, W, X, Y → 4;
    # no-show M1 → show rate 6 / 7. Days: V 10, W 4, X 20 → median 10, over 3 candidates.
    assert row[FUNNEL].tolist() == [8, 6, 5, 4, 1]
    assert row["show_rate"] == pytest.approx(6 / 7)
    assert row["mutual_interest_rate"] == pytest.approx(5 / 6)
    assert (row["days_to_contract"], row["contracts_dated"]) == (10, 3)
    assert jobdating.job_dating_figures(scope, engine)["contracts_signed"] == 4
    by_programme = jobdating.funnel(scope, "program_code", engine).set_index("program_code")
    # P: M1 (no-show), M2, M3, M6, M7 (held, all contracts): 5 not cancelled, 4 held and mutual;
    # contracts V (10 days), W (24/05: 4 days), X (08/06 from X's first held meeting, 19/05 on Q:
    # 20 days), Y (no date) → median of 4, 10, 20 = 10. Q: M4 (W's second contract, 10/06 from
    # 20/05: 21 days), M5 (interest of the company only), M8 cancelled, M9 planned.
    assert by_programme.loc["P", FUNNEL].tolist() == [5, 4, 4, 4, 1]
    assert by_programme.loc["P", "days_to_contract"] == 10
    assert by_programme.loc["Q", FUNNEL].tolist() == [3, 2, 1, 1, 0]
    assert (by_programme.loc["Q", "days_to_contract"], by_programme.loc["Q", "contracts_dated"]) == (21, 1)


def test_an_even_number_of_contracts_has_the_middle_two_averaged(engine):
    load("sites", "code,name\nA,Site A\n", engine)
    load("programs", "code,name,site_code,seats\nP,Prog P,A,10\n", engine)
    load(
        "events", "code,name,kind,starts_on,ends_on\nJD,Job dating,job_dating,2020-05-19,2020-05-20\n", engine
    )
    load("companies", "siret,name\n11111111111111,Alpha\n", engine)
    load(
        "offers", "ref,siret,program_code,site_code,published_on\nOP,11111111111111,P,A,2020-05-01\n", engine
    )
    load("candidates", "ref,created_at\nV,2020-04-01 10:00\nW,2020-04-01 10:00\n", engine)
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,status,outcome,contract_signed_on\n"
        "M1,JD,V,OP,2020-05-19 09:00,held,contract_signed,2020-05-22\n"  # 3 days
        "M2,JD,W,OP,2020-05-19 10:00,held,contract_signed,2020-05-27\n",  # 8 days
        engine,
    )
    row = jobdating.funnel(Scope(date(2020, 5, 1), date(2020, 5, 31)), engine=engine).iloc[0]
    assert row["days_to_contract"] == 5.5  # (3 + 8) / 2


def test_a_scope_without_meetings_has_an_empty_funnel(scenario):
    row = jobdating.funnel(Scope(date(2020, 3, 1), date(2020, 3, 31)), engine=scenario).iloc[0]
    assert row[FUNNEL].tolist() == [0, 0, 0, 0, 0]
    assert pd.isna(row["show_rate"]) and pd.isna(row["days_to_contract"])
    assert jobdating.funnel(Scope(date(2020, 3, 1), date(2020, 3, 31)), "site_code", scenario).empty


def test_uncovered_offers_and_candidates(scenario):
    offers = jobdating.uncovered_offers(APRIL, scenario)
    # O1 has M1, M2; O2 has M3, M4 (a cancelled meeting covers too); O3 has none.
    assert offers[["company", "offer_ref", "program_code", "site_code", "positions"]].values.tolist() == [
        ["Usinage Mosellan", "O3", "CAP-RI", "YUT", 3]
    ]
    candidates = jobdating.uncovered_candidates(APRIL, scenario)
    # Seeking CC, CE, CF; CC (M2, M4) and CF (M3) met a company: Emma Erb is left.
    assert candidates[
        ["last_name", "first_name", "program_code", "site", "enrollment_status"]
    ].values.tolist() == [["Erb", "Emma", "CAP-RI", "Yutz", "enrolled"]]
    figures = jobdating.job_dating_figures(APRIL, scenario)
    assert (figures["uncovered_offers"], figures["uncovered_candidates"]) == (1, 1)
    counts = jobdating.uncovered_counts(APRIL, scenario)
    columns = ["uncovered_offers", "uncovered_positions", "uncovered_candidates"]
    assert counts[["program_code", "site_code", *columns]].values.tolist() == [["CAP-RI", "YUT", 1, 3, 1]]


def test_uncovered_follows_the_event_and_the_period(scenario):
    # Another event has no meeting: every offer of April and every seeking candidate is uncovered.
    other = Scope(APRIL.date_from, APRIL.date_to, event="POV-2020-04")
    assert jobdating.uncovered_offers(other, scenario)["offer_ref"].tolist() == ["O1", "O2", "O3"]
    assert sorted(jobdating.uncovered_candidates(other, scenario)["last_name"]) == [
        "Cordier",
        "Erb",
        "Fontaine",
    ]
    counts = jobdating.uncovered_counts(other, scenario).set_index(["program_code", "site_code"])
    # BTS-MS@MAX: O1 (2 positions), CF; BTS-MS@YUT: O2 (1), nobody; CAP-RI@YUT: O3 (3), CC and CE.
    columns = ["uncovered_offers", "uncovered_positions", "uncovered_candidates"]
    assert counts[columns].values.tolist() == [[1, 2, 1], [1, 1, 0], [1, 3, 2]]
