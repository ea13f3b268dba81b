"""Small groups in the marketing audience (docs/privacy.md, *Petits effectifs*): hand-made tables whose
hidden cells are worked out by hand, and the attacks the protection has to defeat."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from services.access import roles
from services.metrics import marketing
from services.store.scope import Scope
from tests.conftest import load

M = roles.SUPPRESSED


def protected(groups: list[str], counts: list[int]) -> list[str]:
    return roles.hide_small_groups(pd.DataFrame({"group": groups, "candidates": counts}))[
        "candidates"
    ].tolist()


def complement(total: int, shown: list[str]) -> int:
    """What the attack computes: the scope's total (the results page's "booked") minus the shown groups."""
    return total - sum(int(cell) for cell in shown if cell != M)


def test_a_single_small_group_gets_a_partner_and_the_complement_no_longer_gives_it():
    counts = [30, 12, 3, 8]  # departments 54, 57, 88, 55; 53 candidates, which the results page shows
    shown = protected(["54", "57", "88", "55"], counts)
    # 88 (3) is under 5: hidden. Alone, 53 - (30 + 12 + 8) would give it back, so the smallest
    # shown group, 55 (8), is hidden too: the complement is 11, the two hidden groups together.
    assert shown == ["30", "12", M, M]
    assert complement(53, shown) == 11
    assert complement(53, shown) not in (3, 8)


def test_the_hidden_groups_hold_at_least_5_together():
    # 57 (4) and 88 (0) are under 5; together 4: the complement would say both are small (and
    # 4 + 0 = 4 with a 0 shown as such would give both). 55 (5), the smallest shown, joins them:
    # hidden 4 + 0 + 5 = 9, and each hidden group may be anything from 0 to 9.
    assert protected(["54", "57", "88", "55"], [12, 4, 0, 5]) == ["12", M, M, M]
    # Two small groups worth 7 together: no partner needed (each may be anything from 0 to 7).
    assert protected(["54", "57", "88", "55"], [30, 4, 3, 8]) == ["30", M, M, "8"]
    # Three small groups worth 0 + 1 + 2 = 3: the smallest shown (6) joins them, 9 in all; on a
    # tie the first in the table's order goes (67 before 68, both 6).
    assert protected(["54", "57", "88", "55", "67", "68"], [40, 0, 1, 2, 6, 6]) == [
        "40",
        M,
        M,
        M,
        M,
        "6",
    ]


def test_zero_reads_like_a_small_group():
    shown = protected(["under_15", "15_17", "18_20", "21_25", "26_plus", "unknown"], [0, 16, 10, 2, 0, 0])
    # 0, 2, 0, 0 are under 5 (together 2): 18_20 (10), the smallest shown, joins them.
    assert shown == [M, "16", M, M, M, M]
    assert "0" not in shown
    assert shown[0] == shown[3]  # a true 0 and a 2 read the same


def test_a_scope_under_the_minimum_shows_no_breakdown():
    # 12 + 5 = 17 candidates, under 20: not a single group is shown, not even the large ones.
    assert roles.hide_small_groups(pd.DataFrame({"group": ["54", "57"], "candidates": [12, 5]})).empty
    # 15 + 5 = 20: shown, nothing under 5.
    assert protected(["54", "57"], [15, 5]) == ["15", "5"]


def test_the_audience_period_is_whole_calendar_months():
    # 15 March → 17 May widens to 1 March → 31 May: comparing two periods a day apart, or a
    # week apart, gives the same breakdown; only whole months can be told apart.
    scope = Scope(date(2020, 3, 15), date(2020, 5, 17), "POV", ("MAX",), ("BTS-MS",))
    assert marketing.audience_scope(scope) == Scope(
        date(2020, 3, 1), date(2020, 5, 31), "POV", ("MAX",), ("BTS-MS",)
    )
    # December ends on the 31st; February of a leap year on the 29th.
    assert marketing.audience_scope(Scope(date(2019, 12, 2), date(2020, 2, 3))) == Scope(
        date(2019, 12, 1), date(2020, 2, 29)
    )


@pytest.mark.postgresql
def test_departments_under_5_are_one_group_that_is_always_there(engine):
    load("sites", "code,name\nMAX,Maxéville\n")
    load("programs", "code,site_code,name,level\nBTS-MS,MAX,BTS MS,BTS\n")
    load("advisors", "email,name,site_code\nc.roux@cfai.fr,Claire Roux,MAX\n")
    # Six from 54 (Nancy), two from 57, one from 88, one without a postal code, one cancelled
    # from 55 (not in the audience); none born after 2005-04-14, so all are 15 or older.
    people = (
        [("54000", "2004-01-01")] * 6 + [("57000", "2003-01-01")] * 2 + [("88000", "2001-06-01"), ("", "")]
    )
    load(
        "candidates",
        "ref,first_name,last_name,email,created_at,birth_date,postal_code\n"
        + "".join(
            f"C{n},P{n},N{n},c{n}@exemple.fr,2020-03-01 10:00,{born},{code}\n"
            for n, (code, born) in enumerate([*people, ("55000", "2004-01-01")])
        ),
    )
    load(
        "bookings",
        "ref,candidate_ref,site_code,program_code,advisor_email,starts_at,status,booked_at\n"
        + "".join(
            f"B{n},C{n},MAX,BTS-MS,c.roux@cfai.fr,2020-04-14 10:00,{status},2020-04-01 09:00\n"
            for n, status in enumerate(["booked"] * len(people) + ["cancelled"])
        ),
    )
    by_age, by_department = marketing.audience(Scope(date(2020, 4, 1), date(2020, 4, 30)), engine)
    # 54 has 6: listed. 57 (2), 88 (1) and the unknown code (1) are one group of 4, "other":
    # a department missing from the list would otherwise say it has no candidate at all.
    assert by_department.to_dict("list") == {"group": ["54", marketing.OTHER], "candidates": [6, 4]}
    # Ages on 14 April 2020: 16 (six), 17 (two), 18 (one), unknown (one).
    assert by_age["candidates"].tolist() == [0, 8, 1, 0, 0, 1]
    # Ten candidates: under 20, marketing sees neither table.
    assert roles.hide_small_groups(by_department).empty
    # Even on an empty scope the "other" group is there (with 0).
    _, nobody = marketing.audience(Scope(date(2021, 4, 1), date(2021, 4, 30)), engine)
    assert nobody.to_dict("list") == {"group": [marketing.OTHER], "candidates": [0]}
