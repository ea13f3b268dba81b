"""The benchmark's near-limit reference for the channels page (bench/pages.py: the credits in
DuckDB SQL over a native copy, Markov from transitions counted in SQL) gives the figures worked
out by hand on tests/data/scenario (goal booking, lookback 30; the journeys are listed at the
top of tests/test_attribution.py): a fast reference that computed something else would make
every ratio of the benchmark meaningless."""

from datetime import date
from pathlib import Path

import pytest

from bench.pages import _DuckDB, channels_limit
from services.metrics.attribution import MODELS, attribute
from services.store.scope import Scope

APRIL = Scope(date(2020, 4, 1), date(2020, 4, 30))

# CA social → newspaper → email; CB direct → social → direct; CC no touch (direct);
# CD email; CG search. Five conversions, four journeys.
HALF_HOUR = 0.5 / 24
CA = [2 ** (-7 / 7), 2 ** (-5 / 7), 2 ** (-3 / 7)]  # touches 7, 5 and 3 days before
CB = [2 ** (-(4 + HALF_HOUR) / 7), 2 ** (-(2 + HALF_HOUR) / 7), 2 ** (-HALF_HOUR / 7)]
BY_HAND = {
    # first touch: CA social, CB direct, CC direct (empty), CD email, CG search
    "first_touch": {"social": 1, "direct": 2, "email": 1, "search": 1},
    # last touch that is not direct: CA email, CB social, CC direct, CD email, CG search
    "last_touch": {"email": 2, "social": 1, "direct": 1, "search": 1},
    # CA 1/3 each; CB direct 2/3, social 1/3; CC direct 1; CD email 1; CG search 1
    "linear": {"social": 2 / 3, "newspaper": 1 / 3, "email": 4 / 3, "direct": 5 / 3, "search": 1},
    # CA .4 / .2 / .4; CB direct .4 + .4, social .2; CC direct 1; CD email 1; CG search 1
    "position_based": {"social": 0.6, "newspaper": 0.2, "email": 1.4, "direct": 1.8, "search": 1},
    # weights 2^(-days/7) over the journey's total; CD, CG a single touch; CC empty
    "time_decay": {
        "social": CA[0] / sum(CA) + CB[1] / sum(CB),
        "newspaper": CA[1] / sum(CA),
        "email": CA[2] / sum(CA) + 1,
        "direct": (CB[0] + CB[2]) / sum(CB) + 1,
        "search": 1.0,
    },
    # The absorbing chain solved on paper in tests/test_attribution.py (with CE's path to NULL:
    # social → social → newspaper): RE social 3/8, direct 1/3, newspaper 1/4, email 1/2,
    # search 1/4, ΣRE 41/24; × 4 conversions with a journey, + CC's empty journey to direct.
    "markov": {
        "social": 36 / 41,
        "direct": 32 / 41 + 1,
        "newspaper": 24 / 41,
        "email": 48 / 41,
        "search": 24 / 41,
    },
}


def test_the_sql_reference_gives_the_credits_worked_out_by_hand(scenario):
    credits = _DuckDB(scenario, APRIL, date(2020, 4, 6)).credits("booking", 30)
    for model in MODELS:
        assert {c: v for c, v in credits[model].items() if v} == pytest.approx(BY_HAND[model]), model


def test_the_sql_reference_agrees_with_the_app_on_both_goals(scenario):
    # The enrollment goal too (the channels page shows both), on a lookback long enough to
    # reach every touch: the reference and the app, computed apart, must agree exactly.
    reference = _DuckDB(scenario, APRIL, date(2020, 4, 6))
    for goal in ("booking", "enrollment"):
        app = attribute(APRIL, goal, 365, scenario).credits
        assert sum(app["linear"].values()) > 0, goal  # conversions to compare
        sql = reference.credits(goal, 365)
        for model in MODELS:
            assert {c: v for c, v in sql[model].items() if v} == pytest.approx(
                {c: v for c, v in app[model].items() if v}, rel=1e-12
            ), (goal, model)


def test_the_limit_at_scale_runs_the_same_sql_over_the_workers_copies(scenario):
    # At scale L, the reference runs over the DuckDB worker's own copies of the SQLite file (no
    # pandas copy), in a process of its own: the same hand-worked credits for bookings (lookback
    # 30, the benchmark's), and the app's figures for both goals checked equal inside.
    limit = channels_limit(Path(scenario.url.database), APRIL, repeat=1)
    for model in MODELS:
        booked = {key[2]: value for key, value in limit["figures"].items() if key[:2] == ("booking", model)}
        assert {c: v for c, v in booked.items() if v} == pytest.approx(BY_HAND[model]), model
    # Reach, candidates with a touch of each channel in April (tests/data/scenario/touchpoints.csv;
    # CD's touches are in March): social CA, CB (explicit), CE, CF → 4; newspaper CA, CE (a
    # newspaper site's referral) → 2; email CA → 1; direct CB → 1; search CG → 1.
    reached = {key[1]: value for key, value in limit["figures"].items() if key[0] == "reached"}
    assert reached == {"social": 4, "newspaper": 2, "email": 1, "direct": 1, "search": 1}
    assert limit["limit"] > 0 and limit["copies"] > 0
