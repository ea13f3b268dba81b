"""Which channels brought the conversions: the six attribution models of metrics.md."""

from __future__ import annotations

import functools
import math
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
    # In candidate order: the bootstrap resamples rows by position, so it must not depend on the engine.
    query = (
        sa.select(ranked.c.candidate_ref, converted_at).where(*conditions).order_by(ranked.c.candidate_ref)
    )
    with (engine or get_engine()).connect() as connection:
        rows = _plain(connection.execute(query))
    frame = pd.DataFrame(rows, columns=["candidate_ref", "converted_at"])
    frame["converted_at"] = pd.to_datetime(frame["converted_at"], utc=True)
    return frame


def journeys(
    converted: pd.DataFrame, scope: Scope, lookback_days: int, engine: Engine | None = None
) -> pd.DataFrame:
    """The touches of each conversion's journey, in order: candidate_ref, converted_at,
    occurred_at, channel, step (0-based), n (touches in the journey), and the touch's
    utm_source and utm_campaign (for the views by source and campaign)."""
    columns = [
        "candidate_ref",
        "converted_at",
        "occurred_at",
        "channel",
        "step",
        "n",
        "utm_source",
        "utm_campaign",
    ]
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
    # Touches at the same instant are ordered by every column of their key, so that the first or
    # last touch's source and campaign never depend on the order the engine returned rows in.
    order = ["candidate_ref", "occurred_at", "channel", "utm_source", "utm_campaign"]
    frame = frame.sort_values(order, kind="stable").reset_index(drop=True)
    by_candidate = frame.groupby("candidate_ref", sort=False)
    frame["step"] = by_candidate.cumcount()
    frame["n"] = by_candidate["channel"].transform("size")
    return frame[columns]


def _touches(refs: list[str], start: object, end: object, engine: Engine | None) -> pd.DataFrame:
    """Touchpoints (candidate_ref, occurred_at, channel, utm_source, utm_campaign) of these
    candidates in ``[start, end)``."""
    rows = []
    columns = (
        TOUCHPOINTS.c.candidate_ref,
        _raw_instant(TOUCHPOINTS.c.occurred_at),
        TOUCHPOINTS.c.channel,
        TOUCHPOINTS.c.utm_source,
        TOUCHPOINTS.c.utm_campaign,
    )
    with (engine or get_engine()).connect() as connection:
        for first in range(0, len(refs), 5000):
            query = sa.select(*columns).where(
                TOUCHPOINTS.c.candidate_ref.in_(refs[first : first + 5000]),
                TOUCHPOINTS.c.occurred_at >= start,
                TOUCHPOINTS.c.occurred_at < end,
            )
            rows += _plain(connection.execute(query))
    frame = pd.DataFrame(
        rows, columns=["candidate_ref", "occurred_at", "channel", "utm_source", "utm_campaign"]
    )
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True, format="ISO8601")
    return frame


def _plain(result: sa.Result) -> list[tuple]:
    """The rows as plain tuples: pandas builds a frame from SQLAlchemy rows far more slowly."""
    return list(map(tuple, result))


def _raw_instant(column: sa.ColumnElement) -> sa.ColumnElement:
    """An instant column as the driver gives it (SQLite: the stored UTC text), for pandas to parse
    in one vectorised pass instead of a Python conversion per row."""
    return sa.type_coerce(column, sa.String).label(column.name)


def _non_converter_paths(goal: str, scope: Scope, engine: Engine | None) -> pd.DataFrame:
    """Touchpoints in the period of candidates who never convert for ``goal``, in path order."""
    if goal == "booking":
        converters = sa.select(BOOKINGS.c.candidate_ref).where(BOOKINGS.c.status != "cancelled")
    else:
        converters = sa.select(ENROLLMENTS.c.candidate_ref).where(ENROLLMENTS.c.status == "enrolled")
    query = sa.select(
        TOUCHPOINTS.c.candidate_ref, _raw_instant(TOUCHPOINTS.c.occurred_at), TOUCHPOINTS.c.channel
    ).where(scope.within(TOUCHPOINTS.c.occurred_at), TOUCHPOINTS.c.candidate_ref.not_in(converters))
    with (engine or get_engine()).connect() as connection:
        frame = pd.DataFrame(
            _plain(connection.execute(query)), columns=["candidate_ref", "occurred_at", "channel"]
        )
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True, format="ISO8601")
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
    # fsum is exact, so the credits do not depend on the order of the journeys (candidate refs):
    # the purge's anonymous refs leave every figure as it was.
    return {
        channel: float(value) for channel, value in shares.groupby(journey["channel"]).agg(math.fsum).items()
    }


# ---------------------------------------------------------------- Markov


@dataclass(frozen=True)
class MarkovPaths:
    """Every path of the chain as a row of transition counts (the converting journeys first).

    States are START, the channels (sorted), CONVERSION and NULL; a row holds the counts of the
    path's transitions, flattened (``from × len(states) + to``). Summing rows (or weighting
    them, for a bootstrap) gives the chain's transition counts.
    """

    channels: list[str]
    counts: np.ndarray
    converting: int

    @property
    def size(self) -> int:
        """Number of states."""
        return len(self.channels) + 3


def markov_paths(journey: pd.DataFrame, non_converters: pd.DataFrame) -> MarkovPaths:
    """START → c1 → … → cn → CONVERSION for each journey, → NULL for each non-converter."""
    channels = sorted(set(journey["channel"]) | set(non_converters["channel"]))
    size = len(channels) + 3
    index = {_START: 0, **{c: i + 1 for i, c in enumerate(channels)}, _CONVERSION: size - 2, _NULL: size - 1}
    rows = []
    path_offset = 0
    for paths, end_state in ((journey, _CONVERSION), (non_converters, _NULL)):
        if paths.empty:
            continue
        path_id = pd.factorize(paths["candidate_ref"], sort=False)[0] + path_offset
        state = paths["channel"].map(index).to_numpy()
        first = np.r_[True, path_id[1:] != path_id[:-1]]
        previous = np.where(first, index[_START], np.r_[0, state[:-1]])
        last = np.r_[path_id[1:] != path_id[:-1], True]
        rows.append((path_id, previous, state))
        rows.append((path_id[last], state[last], np.full(last.sum(), index[end_state])))
        path_offset = path_id.max() + 1
    counts = np.zeros((path_offset, size * size))
    for path_id, origin, target in rows:
        np.add.at(counts, (path_id, origin * size + target), 1)
    return MarkovPaths(channels, counts, journey["candidate_ref"].nunique())


def removal_credits(paths: MarkovPaths, weights: np.ndarray | None = None) -> dict[str, float] | None:
    """Removal-effect credits of the (weighted) paths' conversions; None when ΣRE is 0."""
    converted = float(weights[: paths.converting].sum()) if weights is not None else float(paths.converting)
    if converted == 0:
        return None
    size = paths.size
    totals = (weights @ paths.counts if weights is not None else paths.counts.sum(axis=0)).reshape(size, size)
    leaving = totals.sum(axis=1, keepdims=True)
    probabilities = np.divide(totals, leaving, out=np.zeros_like(totals), where=leaving > 0)
    transient = size - 2  # START and the channels
    q, r = probabilities[:transient, :transient], probabilities[:transient, size - 2]

    def reach(removed: int | None = None) -> float:
        chain = q.copy()
        if removed is not None:
            chain[:, removed] = 0.0  # transitions into the removed channel go to NULL
        return float(np.linalg.solve(np.eye(transient) - chain, r)[0])

    probability = reach()
    if probability <= 0:
        return None
    effects = {c: 1 - reach(i + 1) / probability for i, c in enumerate(paths.channels)}
    total = sum(effects.values())
    if total <= 1e-12:
        return None
    return {channel: effect / total * converted for channel, effect in effects.items()}


def markov_credits(journey: pd.DataFrame, non_converters: pd.DataFrame) -> dict[str, float] | None:
    """Removal-effect credits of the conversions with a journey; None when ΣRE is 0."""
    if journey.empty:
        return None
    return removal_credits(markov_paths(journey, non_converters))


# ---------------------------------------------------------------- all models


@dataclass(frozen=True)
class JourneyData:
    """What every model works on: the conversions, their journeys, and the non-converters' paths."""

    goal: str
    lookback_days: int
    converted: pd.DataFrame
    journey: pd.DataFrame
    non_converters: pd.DataFrame

    @property
    def empty_journeys(self) -> int:
        """Conversions whose journey has no touch."""
        return len(self.converted) - self.journey["candidate_ref"].nunique()

    @functools.cached_property
    def attribution(self) -> Attribution:
        """The credits of every model, computed once for these data."""
        return credit(self)


def journey_data(
    scope: Scope,
    goal: str = "booking",
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    engine: Engine | None = None,
) -> JourneyData:
    """The conversions of ``goal`` in ``scope``, their journeys and the non-converters' paths."""
    if lookback_days < 0:
        raise ValueError("la fenêtre d'attribution doit être ≥ 0 jour")
    converted = conversions(goal, scope, engine)
    return JourneyData(
        goal,
        lookback_days,
        converted,
        journeys(converted, scope, lookback_days, engine),
        _non_converter_paths(goal, scope, engine),
    )


def credit(data: JourneyData) -> Attribution:
    """Credits of every model for the conversions of ``data``."""
    journey, empty = data.journey, data.empty_journeys
    credits: dict[str, dict[str, float]] = {}
    for model in MODELS[:-1]:
        credits[model] = _sum_by_channel(journey, touch_credits(journey, model)) if not journey.empty else {}
    markov = markov_credits(journey, data.non_converters)
    credits["markov"] = markov if markov is not None else dict(credits["linear"])
    for model_credits in credits.values():
        if empty:
            model_credits[DIRECT] = model_credits.get(DIRECT, 0.0) + empty
    return Attribution(
        goal=data.goal,
        lookback_days=data.lookback_days,
        conversions=len(data.converted),
        empty_journeys=empty,
        credits=credits,
        markov_fell_back=markov is None and not journey.empty,
    )


def attribute(
    scope: Scope,
    goal: str = "booking",
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    engine: Engine | None = None,
) -> Attribution:
    """Credits of every model for the conversions of ``goal`` in ``scope``."""
    return credit(journey_data(scope, goal, lookback_days, engine))
