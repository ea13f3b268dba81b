"""Which channels brought the conversions: the six attribution models of metrics.md."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.database import get_engine
from services.models import Booking, Enrollment, Touchpoint
from services.scope import Scope

GOALS = ("booking", "enrollment")
MODELS = ("first_touch", "last_touch", "linear", "position_based", "time_decay", "markov")
DEFAULT_LOOKBACK_DAYS = 30
#: Half-life of a touch's weight in the time-decay model, in days.
TIME_DECAY_HALF_LIFE_DAYS = 7
DIRECT = "direct"
_START, _CONVERSION, _NULL = "(start)", "(conversion)", "(null)"

BOOKINGS = Booking.__table__
ENROLLMENTS = Enrollment.__table__
TOUCHPOINTS = Touchpoint.__table__


@dataclass(frozen=True)
class Attribution:
    """Credits per model and channel for the conversions of one goal in one scope."""

    goal: str
    lookback_days: int
    conversions: int
    #: Conversions whose journey is empty (their credit goes to ``direct``).
    empty_journeys: int
    credits: dict[str, dict[str, float]]
    #: True when the Markov model's removal effects summed to 0 and linear was used.
    markov_fell_back: bool


def _first_conversions(goal: str) -> tuple[sa.Subquery, sa.ColumnElement, list[sa.ColumnElement]]:
    """Each candidate's converting booking or enrollment (rank 1), its time, and its filter columns."""
    if goal == "booking":
        table, at, eligible = BOOKINGS, BOOKINGS.c.booked_at, BOOKINGS.c.status != "cancelled"
        order = [at, BOOKINGS.c.starts_at, BOOKINGS.c.ref]
    elif goal == "enrollment":
        table, at, eligible = ENROLLMENTS, ENROLLMENTS.c.enrolled_at, ENROLLMENTS.c.status == "enrolled"
        order = [at, ENROLLMENTS.c.program_code, ENROLLMENTS.c.site_code]
    else:
        raise ValueError(f"objectif inconnu « {goal} » (attendu : {', '.join(GOALS)})")
    rank = sa.func.row_number().over(partition_by=table.c.candidate_ref, order_by=order)
    event = table.c.event_code if goal == "booking" else sa.null()
    ranked = (
        sa.select(
            table.c.candidate_ref,
            at.label("converted_at"),
            event.label("event_code"),
            table.c.site_code,
            table.c.program_code,
            rank.label("rank"),
        )
        .where(eligible)
        .subquery()
    )
    return ranked, ranked.c.converted_at, [ranked.c.event_code, ranked.c.site_code, ranked.c.program_code]


def conversions(goal: str, scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """The conversions that count for the scope: one row per candidate (candidate_ref, converted_at).

    The event filter applies to the converting booking; an enrollment has no event, so for the
    enrollment goal only the site and programme filters apply.
    """
    ranked, converted_at, (event, site, program) = _first_conversions(goal)
    conditions = [ranked.c.rank == 1, scope.within(converted_at)]
    if scope.event and goal == "booking":
        conditions.append(event == scope.event)
    conditions += scope.offering_filters(site, program)
    query = sa.select(ranked.c.candidate_ref, converted_at).where(*conditions)
    with (engine or get_engine()).connect() as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame(rows, columns=["candidate_ref", "converted_at"])
    frame["converted_at"] = pd.to_datetime(frame["converted_at"], utc=True)
    return frame


def journeys(
    converted: pd.DataFrame, scope: Scope, lookback_days: int, engine: Engine | None = None
) -> pd.DataFrame:
    """The touches of each conversion's journey, in order: candidate_ref, converted_at,
    occurred_at, channel, step (0-based) and n (touches in the journey)."""
    columns = ["candidate_ref", "converted_at", "occurred_at", "channel", "step", "n"]
    if converted.empty:
        return pd.DataFrame(columns=columns)
    lookback = timedelta(days=lookback_days)
    refs = sorted(converted["candidate_ref"])
    # Every journey lies between (period start − lookback) and the period's end: read only that.
    frame = _touches(refs, scope.start - lookback, scope.end, engine).merge(converted, on="candidate_ref")
    frame = frame[
        (frame["occurred_at"] >= frame["converted_at"] - lookback)
        & (frame["occurred_at"] <= frame["converted_at"])
    ]
    frame = frame.sort_values(["candidate_ref", "occurred_at", "channel"], kind="stable").reset_index(
        drop=True
    )
    by_candidate = frame.groupby("candidate_ref", sort=False)
    frame["step"] = by_candidate.cumcount()
    frame["n"] = by_candidate["channel"].transform("size")
    return frame[columns]


def _touches(refs: list[str], start: object, end: object, engine: Engine | None) -> pd.DataFrame:
    """Touchpoints (candidate_ref, occurred_at, channel) of these candidates in ``[start, end)``."""
    rows = []
    columns = (TOUCHPOINTS.c.candidate_ref, TOUCHPOINTS.c.occurred_at, TOUCHPOINTS.c.channel)
    with (engine or get_engine()).connect() as connection:
        for first in range(0, len(refs), 5000):
            query = sa.select(*columns).where(
                TOUCHPOINTS.c.candidate_ref.in_(refs[first : first + 5000]),
                TOUCHPOINTS.c.occurred_at >= start,
                TOUCHPOINTS.c.occurred_at < end,
            )
            rows += connection.execute(query).all()
    frame = pd.DataFrame(rows, columns=["candidate_ref", "occurred_at", "channel"])
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame


def _non_converter_paths(goal: str, scope: Scope, engine: Engine | None) -> pd.DataFrame:
    """Touchpoints in the period of candidates who never convert for ``goal``, in path order."""
    if goal == "booking":
        converters = sa.select(BOOKINGS.c.candidate_ref).where(BOOKINGS.c.status != "cancelled")
    else:
        converters = sa.select(ENROLLMENTS.c.candidate_ref).where(ENROLLMENTS.c.status == "enrolled")
    query = sa.select(TOUCHPOINTS.c.candidate_ref, TOUCHPOINTS.c.occurred_at, TOUCHPOINTS.c.channel).where(
        scope.within(TOUCHPOINTS.c.occurred_at), TOUCHPOINTS.c.candidate_ref.not_in(converters)
    )
    with (engine or get_engine()).connect() as connection:
        frame = pd.DataFrame(
            connection.execute(query).all(), columns=["candidate_ref", "occurred_at", "channel"]
        )
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame.sort_values(["candidate_ref", "occurred_at", "channel"], kind="stable").reset_index(
        drop=True
    )


# ---------------------------------------------------------------- rule-based models


def touch_credits(journey: pd.DataFrame, model: str) -> pd.Series:
    """Each touch's share of its conversion under a rule-based model (aligned on ``journey``)."""
    step, n = journey["step"].to_numpy(), journey["n"].to_numpy()
    if model == "first_touch":
        return pd.Series(np.where(step == 0, 1.0, 0.0), index=journey.index)
    if model == "last_touch":
        not_direct = journey["channel"] != DIRECT
        last_not_direct = journey["step"].where(not_direct).groupby(journey["candidate_ref"]).transform("max")
        all_direct = last_not_direct.isna()
        chosen = np.where(all_direct, step == n - 1, step == last_not_direct)
        return pd.Series(np.where(chosen, 1.0, 0.0), index=journey.index)
    if model == "linear":
        return pd.Series(1.0 / n, index=journey.index)
    if model == "position_based":
        ends = (step == 0) | (step == n - 1)
        middle_share = 0.2 / np.maximum(n - 2, 1)
        share = np.select([n == 1, n == 2, ends], [1.0, 0.5, 0.4], default=middle_share)
        return pd.Series(share, index=journey.index)
    if model == "time_decay":
        age_days = (journey["converted_at"] - journey["occurred_at"]).dt.total_seconds() / 86_400
        weight = np.power(2.0, -age_days / TIME_DECAY_HALF_LIFE_DAYS)
        return weight / weight.groupby(journey["candidate_ref"]).transform("sum")
    raise ValueError(f"modèle inconnu « {model} »")


def _sum_by_channel(journey: pd.DataFrame, shares: pd.Series) -> dict[str, float]:
    return {channel: float(value) for channel, value in shares.groupby(journey["channel"]).sum().items()}


# ---------------------------------------------------------------- Markov


def _transitions(paths: pd.DataFrame, end_state: str) -> pd.DataFrame:
    """Transition counts (from, to, count) of ordered paths (candidate_ref, channel) to ``end_state``."""
    if paths.empty:
        return pd.DataFrame(columns=["from", "to", "count"])
    previous = paths.groupby("candidate_ref", sort=False)["channel"].shift(1).fillna(_START)
    moves = pd.DataFrame({"from": previous.to_numpy(), "to": paths["channel"].to_numpy()})
    last = paths.groupby("candidate_ref", sort=False)["channel"].last()
    ends = pd.DataFrame({"from": last.to_numpy(), "to": end_state})
    return pd.concat([moves, ends]).groupby(["from", "to"]).size().rename("count").reset_index()


def _conversion_probability(counts: pd.DataFrame, channels: list[str], removed: str | None = None) -> float:
    """P(START reaches CONVERSION) in the absorbing chain; transitions into ``removed`` go to NULL."""
    states = [_START, *channels]
    index = {state: i for i, state in enumerate(states)}
    leaving = counts.groupby("from")["count"].sum()
    q = np.zeros((len(states), len(states)))
    r = np.zeros(len(states))
    for origin, target, count in counts.itertuples(index=False):
        probability = count / leaving[origin]
        if target == _CONVERSION:
            r[index[origin]] += probability
        elif target in index and target != removed:
            q[index[origin], index[target]] += probability
    return float(np.linalg.solve(np.eye(len(states)) - q, r)[index[_START]])


def markov_credits(journey: pd.DataFrame, non_converters: pd.DataFrame) -> dict[str, float] | None:
    """Removal-effect credits of the conversions with a journey; None when ΣRE is 0."""
    if journey.empty:
        return None
    counts = pd.concat([_transitions(journey, _CONVERSION), _transitions(non_converters, _NULL)])
    counts = counts.groupby(["from", "to"], as_index=False)["count"].sum()
    channels = sorted((set(counts["from"]) | set(counts["to"])) - {_START, _CONVERSION, _NULL})
    probability = _conversion_probability(counts, channels)
    if probability <= 0:
        return None
    effects = {c: 1 - _conversion_probability(counts, channels, removed=c) / probability for c in channels}
    total = sum(effects.values())
    if total <= 1e-12:
        return None
    converted = journey["candidate_ref"].nunique()
    return {channel: effect / total * converted for channel, effect in effects.items()}


# ---------------------------------------------------------------- all models


def attribute(
    scope: Scope,
    goal: str = "booking",
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    engine: Engine | None = None,
) -> Attribution:
    """Credits of every model for the conversions of ``goal`` in ``scope``."""
    if lookback_days < 0:
        raise ValueError("la fenêtre d'attribution doit être ≥ 0 jour")
    converted = conversions(goal, scope, engine)
    journey = journeys(converted, scope, lookback_days, engine)
    empty = len(converted) - journey["candidate_ref"].nunique()
    credits: dict[str, dict[str, float]] = {}
    for model in MODELS[:-1]:
        credits[model] = _sum_by_channel(journey, touch_credits(journey, model)) if not journey.empty else {}
    markov = markov_credits(journey, _non_converter_paths(goal, scope, engine))
    credits["markov"] = markov if markov is not None else dict(credits["linear"])
    for model_credits in credits.values():
        if empty:
            model_credits[DIRECT] = model_credits.get(DIRECT, 0.0) + empty
    return Attribution(
        goal=goal,
        lookback_days=lookback_days,
        conversions=len(converted),
        empty_journeys=empty,
        credits=credits,
        markov_fell_back=markov is None and not journey.empty,
    )
