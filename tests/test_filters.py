"""The scope in the URL: read with a notice and the default for every bad value."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from services.app.filters import Selection, params_of, read_selection
from services.store.scope import Scope

EVENTS = pd.DataFrame(
    {
        "code": ["JD-2020-05", "POV-2020-04", "POP-2020-01"],
        "name": ["Job dating", "Virtuelles", "Janvier"],
        "kind": ["job_dating", "virtual", "in_person"],
        "starts_on": [date(2020, 5, 19), date(2020, 4, 14), date(2020, 1, 25)],
        "ends_on": [date(2020, 5, 20), date(2020, 4, 17), date(2020, 1, 25)],
    }
)
DEFAULT_PERIODS = {
    "POV-2020-04": (date(2020, 3, 15), date(2020, 5, 17)),
    "POP-2020-01": (date(2019, 12, 26), date(2020, 2, 24)),
    "JD-2020-05": (date(2020, 5, 1), date(2020, 6, 19)),
}


def read(params: dict[str, list[str]], events: pd.DataFrame = EVENTS):
    return read_selection(
        params,
        events,
        ["MAX", "YUT"],
        ["BTS-MS", "CAP-RI"],
        default_scope=lambda code: Scope(*DEFAULT_PERIODS[code], event=code),
        default_compare=lambda code: "POP-2020-01" if code == "POV-2020-04" else None,
        today=date(2026, 11, 28),
    )


def test_no_parameter_gives_the_latest_open_day_and_its_window():
    selection, notices = read({})
    assert selection == Selection("POV-2020-04", date(2020, 3, 15), date(2020, 5, 17), (), (), "POP-2020-01")
    assert notices == []


def test_a_full_link_round_trips():
    wanted = Selection(
        "POP-2020-01", date(2020, 1, 2), date(2020, 1, 31), ("YUT",), ("BTS-MS", "CAP-RI"), "POV-2020-04"
    )
    params = {
        name: value if isinstance(value, list) else [value] for name, value in params_of(wanted).items()
    }
    assert read(params) == (wanted, [])


@pytest.mark.parametrize(
    ("params", "notice"),
    [
        ({"event": ["NOPE"]}, ("filters.bad_event", "NOPE")),
        ({"from": ["2020-13-01"]}, ("filters.bad_from", "2020-13-01")),
        ({"to": ["demain"]}, ("filters.bad_to", "demain")),
        ({"from": ["2020-05-01"], "to": ["2020-04-01"]}, ("filters.bad_period", "2020-05-01 → 2020-04-01")),
        ({"compare": ["POV-2020-04"]}, ("filters.bad_compare", "POV-2020-04")),  # itself
    ],
)
def test_a_bad_value_falls_back_to_the_default_with_a_notice(params, notice):
    selection, notices = read(params)
    assert notices == [notice]
    assert (selection.event, selection.date_from, selection.date_to) == (
        "POV-2020-04",
        date(2020, 3, 15),
        date(2020, 5, 17),
    )
    assert selection.compare == "POP-2020-01"


def test_unknown_sites_and_programmes_are_dropped_with_a_notice():
    selection, notices = read({"site": ["MAX", "ZZZ", "MAX"], "program": ["BTS-MS", "X"]})
    assert (selection.sites, selection.programs) == (("MAX",), ("BTS-MS",))
    assert notices == [("filters.bad_site", "ZZZ"), ("filters.bad_program", "X")]


def test_french_dates_are_accepted_in_the_link():
    selection, notices = read({"from": ["01/04/2020"], "to": ["30/04/2020"]})
    assert (selection.date_from, selection.date_to, notices) == (date(2020, 4, 1), date(2020, 4, 30), [])


def test_an_empty_store_gives_this_year_up_to_today():
    selection, notices = read({}, EVENTS.iloc[0:0])
    assert selection == Selection(None, date(2026, 1, 1), date(2026, 11, 28))
    assert notices == []
