"""The six attribution models, worked out by hand on tests/data/scenario (goal booking, lookback 30).

Conversions in April (first non-cancelled booking by booked_at, booked_at in the period):
  CA 08/04 10:00 · journey social (01/04 10:00) → newspaper (03/04) → email (05/04)
  CB 06/04 09:30 · journey direct (02/04 09:00) → social (04/04 09:00) → direct (06/04 09:00)
  CC 10/04 12:00 · no touchpoint: empty journey, whole credit to direct
  CD 12/04 12:00 (BD1 is cancelled) · email 13/03 11:00 CET, exactly 30 × 86 400 s before
      (the clocks moved on 29/03); the social touch at 10:59 CET is outside the lookback
  CG 11/04 10:00 (its interview is on 1 May, the conversion is in April) · search (09/04 10:00)
Not conversions: CF converted on 20/03 (BF1); CE never books (a Markov NULL path).
"""

import gc
import weakref
from datetime import UTC, date, datetime

import pytest

from services.metrics.attribution import (
    MODELS,
    attribute,
    chain_counts,
    conversions,
    journey_data,
    journeys,
    markov_paths,
    removal_credits,
)
from services.store import database
from services.store.models import Touchpoint
from services.store.scope import Scope
from tests.conftest import load

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL


APRIL = Scope(date(2020, 4, 1), date(2020, 4, 30))


def test_conversions_are_first_non_cancelled_bookings_dated_in_the_period(scenario):
    converted = conversions("booking", APRIL, scenario)
    assert sorted(converted["candidate_ref"]) == ["CA", "CB", "CC", "CD", "CG"]


def test_journeys_respect_the_lookback_in_real_elapsed_time(scenario):
    path = journeys(conversions("booking", APRIL, scenario), APRIL, 30, scenario, goal="booking")
    by_candidate = path.groupby("candidate_ref")["channel"].apply(list).to_dict()
    assert by_candidate == {
        "CA": ["social", "newspaper", "email"],
        "CB": ["direct", "social", "direct"],
        "CD": ["email"],  # 11:00 CET is in, 10:59 CET is out
        "CG": ["search"],
    }


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        # CA → social, CB → direct, CC (empty) → direct, CD → email, CG → search
        ("first_touch", {"social": 1, "direct": 2, "email": 1, "search": 1}),
        # CA → email, CB → social (last touch that is not direct), CC → direct, CD → email, CG → search
        ("last_touch", {"email": 2, "social": 1, "direct": 1, "search": 1}),
        # CA 1/3 each; CB direct 2/3, social 1/3; CC direct 1; CD email 1; CG search 1
        ("linear", {"social": 2 / 3, "newspaper": 1 / 3, "email": 4 / 3, "direct": 5 / 3, "search": 1}),
        # CA .4 / .2 / .4; CB direct .4 + .4, social .2; CC direct 1; CD email 1; CG search 1
        ("position_based", {"social": 0.6, "newspaper": 0.2, "email": 1.4, "direct": 1.8, "search": 1}),
    ],
)
def test_rule_based_models(scenario, model, expected):
    credits = attribute(APRIL, "booking", 30, scenario).credits[model]
    assert {c: v for c, v in credits.items() if v} == pytest.approx(expected)


def test_time_decay_halves_a_touch_weight_every_seven_days(scenario):
    # CA: touches 7, 5 and 3 days before the conversion weigh 2^-1, 2^-5/7, 2^-3/7.
    ca = [2 ** (-7 / 7), 2 ** (-5 / 7), 2 ** (-3 / 7)]
    # CB converts 06/04 09:30; touches 4 d 30 min, 2 d 30 min and 30 min before it.
    half_hour = 0.5 / 24
    cb = [2 ** (-(4 + half_hour) / 7), 2 ** (-(2 + half_hour) / 7), 2 ** (-half_hour / 7)]
    expected = {
        "social": ca[0] / sum(ca) + cb[1] / sum(cb),
        "newspaper": ca[1] / sum(ca),
        "email": ca[2] / sum(ca) + 1,  # + CD's single touch
        "direct": (cb[0] + cb[2]) / sum(cb) + 1,  # + CC's empty journey
        "search": 1.0,  # CG's single touch
    }
    assert attribute(APRIL, "booking", 30, scenario).credits["time_decay"] == pytest.approx(expected)


def test_markov_removal_effects_solved_on_paper(scenario):
    # Paths: CA START→social→newspaper→email→CONV; CB START→direct→social→direct→CONV;
    # CD START→email→CONV; CG START→search→CONV; CE (never converts) START→social→social→newspaper→NULL.
    # Transition probabilities: START: social 2/5, direct 1/5, email 1/5, search 1/5;
    # social: newspaper 2/4, direct 1/4, social 1/4; newspaper: email 1/2, NULL 1/2;
    # email: CONV 1; direct: social 1/2, CONV 1/2; search: CONV 1.
    # Solving x = Qx + r: x_social = 3/5, x_direct = 4/5, x_newspaper = 1/2 → P = 4/5.
    # Without social P = 1/2 → RE 3/8; without direct 8/15 → RE 1/3; without newspaper 3/5 → RE 1/4;
    # without email 2/5 → RE 1/2; without search 3/5 → RE 1/4.  ΣRE = 41/24.
    # Credit = RE / ΣRE × 4 conversions with a journey; CC's empty journey adds 1 to direct.
    expected = {
        "social": 36 / 41,
        "direct": 32 / 41 + 1,
        "newspaper": 24 / 41,
        "email": 48 / 41,
        "search": 24 / 41,
    }
    result = attribute(APRIL, "booking", 30, scenario)
    assert result.credits["markov"] == pytest.approx(expected)
    assert not result.markov_fell_back


def test_only_markov_reads_the_non_converters(scenario):
    # A rule-based model needs the conversions' journeys only; the non-converters' transitions
    # are read when the Markov credits are asked for, their paths only for a bootstrap. CE's
    # alone (CF booked in March, so it is a converter): social, social, then vosgesmatin.fr by
    # referral, a newspaper site: START → social, social → social, social → newspaper,
    # newspaper → NULL, once each.
    data = journey_data(APRIL, "booking", 30, scenario)
    for model in MODELS[:-1]:
        data.attribution.credits[model]
    assert "non_converter_transitions" not in data.__dict__
    data.attribution.credits["markov"]
    assert sorted(data.non_converter_transitions.itertuples(index=False, name=None)) == [
        ("(start)", "social", 1),
        ("newspaper", "(null)", 1),
        ("social", "newspaper", 1),
        ("social", "social", 1),
    ]
    assert "non_converters" not in data.__dict__
    assert data.non_converters.to_dict("records") == [{"path": "social>social>newspaper", "candidates": 1}]


def test_each_model_is_computed_once_and_dropped_data_is_freed_at_once(scenario):
    data = journey_data(APRIL, "booking", 30, scenario)
    credits = {model: data.attribution.credits[model] for model in MODELS}
    # Asked again through a new Attribution: the same dicts, computed once and kept by the data.
    assert all(data.attribution.credits[model] is credits[model] for model in MODELS)
    attribution = data.attribution
    gone = weakref.ref(data)
    # No reference cycle between the data and their credits: once nothing holds them (a cache
    # entry dropped, a page's variables gone), they are freed without the garbage collector.
    gc.disable()
    try:
        del data, attribution
        assert gone() is None
    finally:
        gc.enable()


def test_chain_counts_from_transitions_are_those_of_the_paths(scenario):
    # The Markov credits count the chain from the non-converters' transitions, the bootstrap
    # from their paths: both must give the same chain (and so the same credits).
    data = journey_data(APRIL, "booking", 30, scenario)
    channels, totals = chain_counts(data.journey, data.non_converter_transitions)
    paths = markov_paths(data.journey, data.non_converters)
    assert channels == paths.channels
    assert totals.tolist() == paths.transition_counts().tolist()
    from_paths = removal_credits(paths)
    from_paths["direct"] = from_paths.get("direct", 0.0) + data.empty_journeys  # empty journeys
    assert data.attribution.credits["markov"] == pytest.approx(from_paths)


def test_markov_two_channel_chain(engine):
    # X: email → CONV; Y: social → email → CONV; Z never books: social → NULL.
    # START: email 1/3, social 2/3; social: email 1/2, NULL 1/2; email: CONV 1 → P = 1/3 + 2/3 × 1/2 = 2/3.
    # Without email P = 0 → RE 1; without social P = 1/3 → RE 1/2; ΣRE = 3/2, 2 conversions:
    # email 1 / (3/2) × 2 = 4/3, social (1/2) / (3/2) × 2 = 2/3.
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load("candidates", "ref,created_at\nX,2020-04-01 09:00\nY,2020-04-01 09:00\nZ,2020-04-01 09:00\n", engine)
    load(
        "touchpoints",
        "candidate_ref,occurred_at,channel\n"
        "X,2020-04-02 10:00,email\nY,2020-04-02 10:00,social\nY,2020-04-03 10:00,email\n"
        "Z,2020-04-02 10:00,social\n",
        engine,
    )
    load(
        "bookings",
        "ref,candidate_ref,site_code,starts_at,status,booked_at\n"
        "BX,X,MAX,2020-04-20 10:00,booked,2020-04-04 10:00\n"
        "BY,Y,MAX,2020-04-20 11:00,booked,2020-04-04 10:00\n",
        engine,
    )
    credits = attribute(APRIL, "booking", 30, engine).credits["markov"]
    assert credits == pytest.approx({"email": 4 / 3, "social": 2 / 3})


def test_ties_in_time_are_broken_by_channel_name(engine):
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load("candidates", "ref,created_at\nT,2020-04-01 09:00\n", engine)
    load(
        "touchpoints",
        "candidate_ref,occurred_at,channel\nT,2020-04-02 10:00,social\nT,2020-04-02 10:00,email\n",
        engine,
    )
    load(
        "bookings",
        "ref,candidate_ref,site_code,starts_at,status,booked_at\n"
        "BT,T,MAX,2020-04-20 10:00,booked,2020-04-04 10:00\n",
        engine,
    )
    credits = attribute(APRIL, "booking", 30, engine).credits
    assert credits["first_touch"] == {"email": 1.0, "social": 0.0}  # "email" < "social"
    assert credits["last_touch"] == {"email": 0.0, "social": 1.0}


def test_enrollment_goal(scenario):
    # First 'enrolled' enrollment by enrolled_at: CF 20/04, CE 25/04 (CA's is in June).
    # CF: social (02/04). CE: social 02/04, social 03/04, newspaper 04/04 (www.vosgesmatin.fr).
    result = attribute(APRIL, "enrollment", 30, scenario)
    assert result.conversions == 2
    assert result.credits["first_touch"] == pytest.approx({"social": 2, "newspaper": 0})
    assert result.credits["last_touch"] == pytest.approx({"social": 1, "newspaper": 1})
    assert result.credits["linear"] == pytest.approx({"social": 1 + 2 / 3, "newspaper": 1 / 3})
    # The site filter applies to the converting enrollment: only CE's is at YUT.
    yut = Scope(date(2020, 4, 1), date(2020, 4, 30), sites=("YUT",))
    assert attribute(yut, "enrollment", 30, scenario).conversions == 1


def test_a_short_lookback_empties_journeys_to_direct(scenario):
    # Lookback 0 keeps only touches at the very conversion instant: none here.
    result = attribute(APRIL, "booking", 0, scenario)
    assert result.conversions == result.empty_journeys == 5
    for model in MODELS:
        assert result.credits[model] == {"direct": 5.0}


def test_filters_apply_to_the_converting_booking(scenario):
    # Event POV-2020-04: CA, CB, CC, CD convert through event bookings; CG's booking has no event.
    event = Scope(date(2020, 4, 1), date(2020, 4, 30), event="POV-2020-04")
    assert attribute(event, "booking", 30, scenario).conversions == 4
    # Programme CAP-RI: only CC's booking.
    cap = Scope(date(2020, 4, 1), date(2020, 4, 30), programs=("CAP-RI",))
    assert attribute(cap, "booking", 30, scenario).conversions == 1


@pytest.mark.parametrize("goal", ["booking", "enrollment"])
@pytest.mark.parametrize("lookback", [0, 7, 30, 90])
def test_credits_add_up_to_conversions_on_demo_data(demo_store, goal, lookback):
    scope = Scope(date(2020, 3, 1), date(2020, 6, 30))
    result = attribute(scope, goal, lookback, demo_store)
    assert result.conversions > 0
    for model in MODELS:
        assert sum(result.credits[model].values()) == pytest.approx(result.conversions), model


def test_empty_store_has_no_conversion(engine):
    result = attribute(APRIL, "booking", 30, engine)
    assert result.conversions == 0
    assert all(credits == {} for credits in result.credits.values())


def test_unknown_goal_and_negative_lookback_are_refused(engine):
    with pytest.raises(ValueError):
        attribute(APRIL, "visit", 30, engine)
    with pytest.raises(ValueError):
        attribute(APRIL, "booking", -1, engine)


def test_touches_at_the_same_instant_come_in_campaign_order_whatever_the_store(engine):
    # Two e-mails of different campaigns opened at the same instant are two touches; which one
    # comes first decides the first-touch campaign. Stored zeta then alpha, they must read
    # alpha then zeta on every engine (PostgreSQL returns rows in no guaranteed order).
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load("candidates", "ref,created_at\nC1,2020-04-01 10:00\n", engine)
    with database.write_transaction(engine) as connection:  # in this order, whatever the importer does
        for campaign in ("zeta", "alpha"):
            connection.execute(
                Touchpoint.__table__.insert().values(
                    candidate_ref="C1",
                    occurred_at=datetime(2020, 4, 2, 8, tzinfo=UTC),
                    channel="email",
                    utm_source="newsletter",
                    utm_medium="email",
                    utm_campaign=campaign,
                )
            )
    load(
        "bookings",
        "ref,candidate_ref,site_code,starts_at,status,booked_at\n"
        "B1,C1,MAX,2020-04-14 10:00,booked,2020-04-03 10:00\n",
        engine,
    )
    if engine.dialect.name == "postgresql":
        # Read the table in storage order, as PostgreSQL does when it skips the indexes.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for scan in ("indexscan", "bitmapscan", "indexonlyscan"):
                connection.exec_driver_sql(f'ALTER DATABASE "{engine.url.database}" SET enable_{scan} = off')
        engine.dispose()
    path = journeys(conversions("booking", APRIL, engine), APRIL, 30, engine, goal="booking")
    assert path[["channel", "utm_campaign", "step"]].values.tolist() == [
        ["email", "alpha", 0],
        ["email", "zeta", 1],
    ]
