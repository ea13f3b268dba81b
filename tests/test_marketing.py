"""The marketing services on hand-made data (tests/data/scenario and small cases)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from services.metrics import marketing
from services.metrics.attribution import MODELS, JourneyData, journey_data
from services.store import channels
from services.store.scope import Scope
from tests.conftest import load

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL


APRIL = Scope(date(2020, 4, 1), date(2020, 4, 30))


@pytest.mark.parametrize("model", MODELS)
def test_bootstrap_intervals_are_seeded_and_hold_the_estimate(demo_store, model):
    data = journey_data(Scope(date(2020, 3, 15), date(2020, 5, 17)), "booking", 30, demo_store)
    first = marketing.intervals(data, model, seed=7)
    again = marketing.intervals(data, model, seed=7)
    assert first.equals(again)
    assert not first.equals(marketing.intervals(data, model, seed=8))
    point = data.attribution.credits[model]
    for row in first.itertuples():
        assert row.low <= point.get(row.channel, 0.0) <= row.high
        assert row.high > row.low  # hundreds of conversions: the interval is not a point


def _hand_made(journeys: list[list[tuple[str, float]]]) -> JourneyData:
    """Booking conversions on 15/04/2020 at noon, one per journey of (channel, days before the
    conversion) touches, in order; no non-converter (no Markov here)."""
    converted_at = datetime(2020, 4, 15, 12, tzinfo=UTC)
    refs = [f"C{number:03d}" for number in range(len(journeys))]
    touches = [
        (ref, converted_at, converted_at - timedelta(days=days), channel, step, len(journey), None, None)
        for ref, journey in zip(refs, journeys, strict=True)
        for step, (channel, days) in enumerate(journey)
    ]
    columns = ["candidate_ref", "converted_at", "occurred_at", "channel", "step", "n"]
    columns += ["utm_source", "utm_campaign"]
    return JourneyData(
        "booking",
        30,
        pd.DataFrame({"candidate_ref": refs, "converted_at": [converted_at] * len(refs)}),
        pd.DataFrame(touches, columns=columns),
        pd.DataFrame,
        pd.DataFrame,
    )


def test_bootstrap_of_shared_paths_draws_each_conversion_with_replacement():
    # 100 conversions: 50 by one social touch, 50 by one e-mail touch (linear: 1 to its channel).
    # Resampling 100 conversions with replacement, the social credit of a sample is how many
    # social conversions it draws: Binomial(100, 1/2), mean 50, standard deviation 5; its 5th and
    # 95th percentiles are 50 ∓ 1.645 × 5 ≈ 41.8 and 58.2. 200 samples estimate them within
    # about ±2: a law other than drawing each conversion with replacement (no resampling, or
    # drawing the two paths with equal odds whatever their conversions) would not land there.
    data = _hand_made([[("social", 1.0)]] * 50 + [[("email", 1.0)]] * 50)
    table = marketing.intervals(data, "linear").set_index("channel")
    for channel in ("social", "email"):
        assert table.loc[channel, "credit"] == 50.0
        assert 38.0 <= table.loc[channel, "low"] <= 46.0
        assert 54.0 <= table.loc[channel, "high"] <= 62.0
    # Skewed odds: 90 social and 10 e-mail conversions → the e-mail credit is Binomial(100, 0.1),
    # standard deviation 3: 10 ∓ 1.645 × 3 ≈ 5.1 and 14.9.
    skewed = marketing.intervals(_hand_made([[("social", 1.0)]] * 90 + [[("email", 1.0)]] * 10), "linear")
    email = skewed.set_index("channel").loc["email"]
    assert 3.0 <= email["low"] <= 7.0
    assert 13.0 <= email["high"] <= 17.0
    # One path for all: every sample gives the same credits, the interval is the figure itself.
    one = marketing.intervals(_hand_made([[("social", 2.0), ("email", 1.0)]] * 40), "linear")
    assert one.set_index("channel")[["credit", "low", "high"]].to_dict("index") == {
        "email": {"credit": 20.0, "low": 20.0, "high": 20.0},
        "social": {"credit": 20.0, "low": 20.0, "high": 20.0},
    }


def test_bootstrap_of_conversions_with_credits_of_their_own():
    # Time decay, 200 conversions each with a social touch k/10 days and an e-mail touch 1 day
    # before the conversion (k = 1 … 200, so no two conversions share their credits): conversion
    # k gives social 2^(-k/70) / (2^(-k/70) + 2^(-1/7)) (metrics: weight 2^(-d/7), d in days).
    # The social credit of a resample of n conversions has a standard deviation of √n·σ, σ the
    # spread of those shares, so its 90 % interval is about 2 × 1.645 × √n·σ wide.
    n = 200
    shares = [2 ** (-k / 70) / (2 ** (-k / 70) + 2 ** (-1 / 7)) for k in range(1, n + 1)]
    mean = math.fsum(shares) / n
    sigma = math.sqrt(math.fsum((share - mean) ** 2 for share in shares) / n)
    data = _hand_made([[("social", k / 10), ("email", 1.0)] for k in range(1, n + 1)])
    social = marketing.intervals(data, "time_decay").set_index("channel").loc["social"]
    assert social["credit"] == pytest.approx(math.fsum(shares))
    assert social["high"] - social["low"] == pytest.approx(2 * 1.645 * math.sqrt(n) * sigma, rel=0.25)
    assert social["low"] < social["credit"] < social["high"]


def test_credit_matrix_rows_are_conversions_and_sum_to_one(scenario):
    data = journey_data(APRIL, "booking", 30, scenario)
    matrix = marketing.credit_matrix(data, "linear")
    assert sorted(matrix.index) == ["CA", "CB", "CC", "CD", "CG"]
    assert matrix.sum(axis=1).tolist() == pytest.approx([1.0] * 5)
    # CB: direct, social, direct → 2/3 direct, 1/3 social; CC has no touch → all to direct
    assert matrix.loc["CB", "direct"] == pytest.approx(2 / 3)
    assert matrix.loc["CC", "direct"] == 1.0


def test_channel_table(scenario):
    bookings = journey_data(APRIL, "booking", 30, scenario)
    enrollments = journey_data(APRIL, "enrollment", 90, scenario)
    table = marketing.channel_table(
        APRIL,
        "linear",
        bookings,
        enrollments,
        "booking",
        marketing.reached_by_channel(APRIL, scenario),
        scenario,
    ).set_index("channel")
    # Reached in April: social CA, CB (explicit), CE, CF → 4; newspaper CA, CE → 2; email CA → 1;
    # direct CB → 1; search CG → 1.
    assert table["reached"].to_dict() == {"social": 4, "newspaper": 2, "email": 1, "search": 1, "direct": 1}
    # Linear booking credits (see test_attribution): social 2/3 of 5 conversions.
    assert table.loc["social", "credit"] == pytest.approx(2 / 3)
    assert table.loc["social", "share"] == pytest.approx(2 / 3 / 5)
    assert table.loc["social", "cost_per_booking"] == pytest.approx(1000.5 / (2 / 3))
    # Enrollment goal, lookback 90: CF (social) and CE (social, social, newspaper): social 1 + 2/3.
    assert table.loc["social", "cost_per_enrollment"] == pytest.approx(1000.5 / (5 / 3))
    assert pd.isna(table.loc["search", "cost_per_enrollment"])  # no enrollment credited to search: undefined


def test_paths_and_days(scenario):
    data = journey_data(APRIL, "booking", 30, scenario)
    paths = dict(zip(*marketing.top_paths(data).to_dict("list").values(), strict=True))
    assert paths == {
        "social → newspaper → email": 1,
        "direct → social → direct": 1,
        "email": 1,
        "search": 1,
        "(aucun contact)": 1,
    }
    # first touch to conversion: CA 7 days, CB 4 days 30 min, CD 30 days, CG 2 days
    assert sorted(marketing.days_to_conversion(data).round(4)) == [2.0, round(4 + 0.5 / 24, 4), 7.0, 30.0]


def test_hygiene_checks(engine):
    load("campaigns", "code,name,channel\nSOC-1,Facebook,social\n", engine)
    load("candidates", "ref,created_at\nA,2020-04-01 10:00\nB,2020-04-01 10:00\n", engine)
    load(
        "touchpoints",
        "candidate_ref,occurred_at,channel,utm_source,utm_medium,utm_campaign\n"
        "A,2020-04-02 10:00,,facebook,social,soc-1\n"  # known campaign (case ignored)
        "A,2020-04-03 10:00,,Facebook ,social,SOC-1 \n"  # same source, other case and a space
        "B,2020-04-02 10:00,,newsletter,Email,printemps\n"  # unknown campaign
        "B,2020-04-03 10:00,email,newsletter,email,\n",
        engine,
    )  # explicit channel
    load("sites", "code,name\nMAX,M\n", engine)
    load(
        "bookings",
        "ref,candidate_ref,site_code,starts_at,status,booked_at\n"
        "BA,A,MAX,2020-04-20 10:00,booked,2020-04-10 10:00\n",
        engine,
    )
    data = journey_data(APRIL, "booking", 30, engine)
    checks = marketing.hygiene(APRIL, data, engine)
    assert checks["untagged_share"] == 0.0  # A's journey is tagged
    variants = checks["variants"].set_index(["column", "value"])
    assert variants.loc[("utm_source", "facebook"), "touchpoints"] == 2
    assert ("utm_medium", "email") in variants.index  # "Email" and "email"
    assert checks["unknown_campaigns"].to_dict("records") == [{"utm_campaign": "printemps", "touchpoints": 1}]
    rules = checks["rules"].set_index(["rule", "channel"])["touchpoints"]
    assert rules[("explicit", "email")] == 1
    assert sum(v for (rule, _), v in rules.items() if rule.startswith("3.")) == 2  # social by rule 3


@pytest.mark.parametrize(
    ("source", "medium", "intended"),
    [
        ("facebook", "paid_social", "social"),
        ("estrepublicain.fr", "display", "newspaper"),
        ("newsletter", "email", "email"),
        ("google", "cpc", "search"),
        ("", "", "direct"),
        ("radio", "offline", "other"),
    ],
)
def test_built_links_round_trip_through_the_rules(source, medium, intended):
    rules = tuple(
        channels.Rule(**{**r.__dict__, "position": i}) for i, r in enumerate(channels.DEFAULT_RULES, 1)
    )
    link = marketing.build_link(
        "https://www.example.org/portes-ouvertes?x=1&utm_source=old", source, medium, "pov"
    )
    assert link.startswith("https://www.example.org/portes-ouvertes?x=1&")
    assert "utm_source=old" not in link
    assert marketing.channel_of_link(link, rules)[0] == intended


def test_a_link_needs_a_full_address():
    with pytest.raises(ValueError):
        marketing.build_link("portes-ouvertes", "facebook", "social", "x")


def test_rules_table_round_trip():
    frame = channels.rules_frame(channels.DEFAULT_RULES)
    assert channels.rules_from_frame(frame) == channels.DEFAULT_RULES
    frame.loc[len(frame)] = [None, False, "", "", ""]  # an empty row added in the editor is ignored
    assert len(channels.rules_from_frame(frame)) == len(channels.DEFAULT_RULES)


def test_source_detail(scenario):
    data = journey_data(APRIL, "booking", 30, scenario)
    table = marketing.source_detail(APRIL, data, "linear", scenario).set_index(["channel", "source"])
    # April touches: facebook (social) by CA, CE twice and CF; CB's explicit social touch has no source;
    # estrepublicain.fr (CA) and www.vosgesmatin.fr (CE) for newspapers.
    assert table.loc[("social", "facebook"), ["touchpoints", "reached"]].tolist() == [4, 3]
    assert table.loc[("social", ""), ["touchpoints", "reached"]].tolist() == [1, 1]
    # Linear credit of the touches in booking journeys: CA's facebook 1/3 and estrepublicain.fr 1/3,
    # CB's source-less social touch 1/3; CE and CF never book.
    assert table.loc[("social", "facebook"), "credit"] == pytest.approx(1 / 3)
    assert table.loc[("newspaper", "estrepublicain.fr"), "credit"] == pytest.approx(1 / 3)
    assert table.loc[("newspaper", "www.vosgesmatin.fr"), "credit"] == 0


def test_source_detail_merges_sources_that_differ_by_case_and_spaces(engine):
    # A: "Facebook " then "facebook", B: "FACEBOOK", C: "Mémo-Journal.fr" and "mémo-journal.fr"
    # (a non-ASCII letter lower-cased too). facebook: 3 touches by 2 candidates;
    # mémo-journal.fr: 2 touches by 1 candidate. Nobody books: no credit.
    load("candidates", "ref,created_at\nA,2020-04-01 10:00\nB,2020-04-01 10:00\nC,2020-04-01 10:00\n", engine)
    load(
        "touchpoints",
        "candidate_ref,occurred_at,channel,utm_source,utm_medium\n"
        "A,2020-04-02 10:00,social,Facebook ,social\nA,2020-04-03 10:00,social,facebook,social\n"
        "B,2020-04-02 10:00,social,FACEBOOK,social\n"
        "C,2020-04-02 10:00,newspaper,Mémo-Journal.fr,referral\n"
        "C,2020-04-03 10:00,newspaper,mémo-journal.fr,referral\n",
        engine,
    )
    data = journey_data(APRIL, "booking", 30, engine)
    table = marketing.source_detail(APRIL, data, "linear", engine)
    assert table.to_dict("records") == [
        {"channel": "newspaper", "source": "mémo-journal.fr", "touchpoints": 2, "reached": 1, "credit": 0.0},
        {"channel": "social", "source": "facebook", "touchpoints": 3, "reached": 2, "credit": 0.0},
    ]


def test_campaign_results_and_email_funnel(scenario):
    bookings = journey_data(APRIL, "booking", 30, scenario)
    enrollments = journey_data(APRIL, "enrollment", 90, scenario)
    table = marketing.campaign_results(APRIL, bookings, enrollments, "linear", scenario).set_index("code")
    assert sorted(table.index) == ["MAIL-1", "NEWS-1", "SOC-1"]  # SOC-0 starts on 31/03
    # CA's journey: soc-1, news-1, mail-1 → 1/3 each; CE's enrollment journey: soc-1, soc-1, (none) → 2/3.
    assert table.loc["SOC-1", "bookings"] == pytest.approx(1 / 3)
    assert table.loc["SOC-1", "enrollments"] == pytest.approx(2 / 3)
    assert table.loc["SOC-1", "cost_per_booking"] == pytest.approx(1000.5 * 3)
    assert table.loc["SOC-1", "cost_per_enrollment"] == pytest.approx(1000.5 * 3 / 2)
    funnel = marketing.email_funnel(APRIL, bookings, enrollments, scenario).set_index("code").loc["MAIL-1"]
    # 1000 sent, 300 opened, 50 clicked; CA booked with mail-1 in the journey; no enrollment journey has it.
    assert (funnel["booked"], funnel["enrolled"]) == (1, 0)
    assert funnel["click_to_open"] == pytest.approx(50 / 300)
    assert funnel["click_to_booking"] == pytest.approx(1 / 50)
    assert funnel["booking_to_enrollment"] == 0
