"""Which channels brought the conversions: the six attribution models of metrics.md."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Engine

from services.store import analytics
from services.store.database import binary_order
from services.store.models import Booking, Enrollment, Touchpoint
from services.store.scope import Scope

GOALS = ("booking", "enrollment")
MODELS = ("first_touch", "last_touch", "linear", "position_based", "time_decay", "markov")
DEFAULT_LOOKBACK_DAYS = 30
#: Half-life of a touch's weight in the time-decay model, in days.
TIME_DECAY_HALF_LIFE_DAYS = 7
DIRECT = "direct"
_START, _CONVERSION, _NULL = "(start)", "(conversion)", "(null)"
#: Between the channels of a path read from the database (no channel holds it).
PATH_SEPARATOR = ">"

BOOKINGS = Booking.__table__
ENROLLMENTS = Enrollment.__table__
TOUCHPOINTS = Touchpoint.__table__


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


def _conversions_query(goal: str, scope: Scope) -> sa.Select:
    """(candidate_ref, converted_at) of the conversions that count for the scope."""
    ranked, converted_at, (event, site, program) = _first_conversions(goal)
    conditions = [ranked.c.rank == 1, scope.within(converted_at)]
    if scope.event and goal == "booking":
        conditions.append(event == scope.event)
    conditions += scope.offering_filters(site, program)
    return sa.select(ranked.c.candidate_ref, converted_at).where(*conditions)


def conversions(goal: str, scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """The conversions that count for the scope: one row per candidate (candidate_ref, converted_at).

    The event filter applies to the converting booking; an enrollment has no event, so for the
    enrollment goal only the site and programme filters apply.
    """
    # In candidate order: the bootstrap resamples rows by position, so it must not depend on the engine.
    query = _conversions_query(goal, scope)
    query = query.order_by(binary_order(query.selected_columns.candidate_ref))
    return analytics.read_frame(query, engine, instants=["converted_at"])


def journeys(
    converted: pd.DataFrame, scope: Scope, lookback_days: int, engine: Engine | None = None, *, goal: str
) -> pd.DataFrame:
    """The touches of each conversion's journey, in order: candidate_ref, converted_at,
    occurred_at, channel, step (0-based), n (touches in the journey), and the touch's
    utm_source and utm_campaign (for the views by source and campaign).

    ``converted`` is ``conversions(goal, scope)``: the touches are read by joining the same query.
    """
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
    converting = _conversions_query(goal, scope).subquery()
    touch = TOUCHPOINTS.c
    # Every journey lies between (period start − lookback) and the period's end: read only that,
    # in journey order. Touches at the same instant are ordered by every column of their key, so
    # that the first or last touch's source and campaign never depend on the engine; in code
    # point order, as Python would (at scale L, sorting 1.7M touches in pandas took 0.9 s).
    query = (
        sa.select(
            touch.candidate_ref,
            converting.c.converted_at,
            touch.occurred_at,
            touch.channel,
            touch.utm_source,
            touch.utm_campaign,
        )
        .join_from(TOUCHPOINTS, converting, touch.candidate_ref == converting.c.candidate_ref)
        .where(
            touch.occurred_at >= scope.start - lookback,
            touch.occurred_at < scope.end,
            touch.occurred_at <= converting.c.converted_at,
        )
        .order_by(
            binary_order(touch.candidate_ref),
            touch.occurred_at,
            binary_order(touch.channel),
            sa.nulls_last(binary_order(touch.utm_source)),
            sa.nulls_last(binary_order(touch.utm_campaign)),
        )
    )
    frame = analytics.read_frame(query, engine, instants=["converted_at", "occurred_at"])
    # The window's start needs date arithmetic, which every engine writes its own way: here.
    within = frame["occurred_at"] >= frame["converted_at"] - lookback
    if not within.all():  # filtering copies every column (a third of a second at scale L)
        frame = frame[within].reset_index(drop=True)
    # Each journey's rows are contiguous: its first row starts a run of the same candidate,
    # found by comparing each ref with the one before, column against column (at scale L, 1.4
    # million touches: 0.02 s; numbering the refs first took 0.3 s, as Python strings 0.2 s
    # and a hundred megabytes).
    refs = frame["candidate_ref"].reset_index(drop=True)
    rows = len(refs)
    changed = (refs.iloc[1:].reset_index(drop=True) != refs.iloc[:-1]).to_numpy(bool)
    first = np.flatnonzero(np.r_[True, changed]) if rows else np.zeros(0, int)
    journey_of_row = np.repeat(np.arange(len(first)), np.diff(np.r_[first, rows]))
    frame["step"] = np.arange(rows) - first[journey_of_row]
    frame["n"] = np.diff(np.r_[first, rows])[journey_of_row]
    return frame[columns]


def _non_converter_touches(goal: str, scope: Scope) -> sa.Subquery:
    """The touches, in the period, of the candidates who never convert for ``goal``."""
    if goal == "booking":
        converters = sa.select(BOOKINGS.c.candidate_ref).where(BOOKINGS.c.status != "cancelled")
    else:
        converters = sa.select(ENROLLMENTS.c.candidate_ref).where(ENROLLMENTS.c.status == "enrolled")
    return (
        sa.select(TOUCHPOINTS.c.candidate_ref, TOUCHPOINTS.c.occurred_at, TOUCHPOINTS.c.channel)
        .where(scope.within(TOUCHPOINTS.c.occurred_at), TOUCHPOINTS.c.candidate_ref.not_in(converters))
        .subquery()
    )


def _non_converter_paths(goal: str, scope: Scope, engine: Engine | None) -> pd.DataFrame:
    """The channel paths, in the period, of candidates who never convert for ``goal``: one row
    per distinct path (``path``: channels joined by ``PATH_SEPARATOR`` in touch order) with its
    number of ``candidates``, in path order. The bootstrap of the Markov model draws them.

    Counted in the database: at scale M, 285,000 paths of about a million touches come down to
    a few thousand rows.
    """
    touches = _non_converter_touches(goal, scope)
    # Touches at the same instant in channel order, as in the journeys.
    in_order = aggregate_order_by(
        sa.literal(PATH_SEPARATOR), touches.c.occurred_at, binary_order(touches.c.channel)
    )
    per_candidate = (
        sa.select(sa.func.string_agg(touches.c.channel, in_order).label("path"))
        .group_by(touches.c.candidate_ref)
        .subquery()
    )
    candidates = sa.func.count().label("candidates")
    query = sa.select(per_candidate.c.path, candidates).group_by(per_candidate.c.path)
    frame = analytics.read_frame(query, engine)
    # Sorted here, not by the database, whose text collation depends on its locale.
    return frame.sort_values("path", kind="stable").reset_index(drop=True)


def _non_converter_transitions(goal: str, scope: Scope, engine: Engine | None) -> pd.DataFrame:
    """The transitions of the non-converters' paths (those of ``_non_converter_paths``) counted
    in the database: ``from_state``, ``to_state`` and their number of ``transitions``, START to
    the first touch, touch to touch, last touch to NULL. All the Markov credits need: at scale
    L, 0.5 s against 2.3 s to read the distinct paths (ordered aggregates are slow to build)."""
    touches = _non_converter_touches(goal, scope)
    window = {
        "partition_by": touches.c.candidate_ref,
        "order_by": (touches.c.occurred_at, binary_order(touches.c.channel)),
    }
    # Each touch with the state before it and the state after it.
    around = sa.select(
        sa.func.lag(touches.c.channel, 1, _START).over(**window).label("previous"),
        touches.c.channel,
        sa.func.lead(touches.c.channel, 1, _NULL).over(**window).label("next"),
    ).subquery()
    query = sa.select(around, sa.func.count().label("touches")).group_by(*around.c)
    frame = analytics.read_frame(query, engine)
    # Every touch is reached from its previous state; the last touch of a path leads to NULL.
    into = frame.groupby(["previous", "channel"], as_index=False)["touches"].sum()
    last = frame[frame["next"] == _NULL].groupby(["channel", "next"], as_index=False)["touches"].sum()
    names = ["from_state", "to_state", "transitions"]
    return pd.concat([into.set_axis(names, axis=1), last.set_axis(names, axis=1)], ignore_index=True)


# ---------------------------------------------------------------- rule-based models


def journey_numbers(journey: pd.DataFrame) -> np.ndarray:
    """Each touch's journey, numbered 0, 1, … in the frame's order: a journey's touches are
    contiguous, step 0 first (grouping by these numbers rather than by candidate ref spared
    half a second of string hashing per page at scale L)."""
    return np.cumsum(journey["step"].to_numpy() == 0) - 1


def touch_credits(journey: pd.DataFrame, model: str) -> pd.Series:
    """Each touch's share of its conversion under a rule-based model (aligned on ``journey``)."""
    step, n = journey["step"].to_numpy(), journey["n"].to_numpy()
    if model == "first_touch":
        return pd.Series(np.where(step == 0, 1.0, 0.0), index=journey.index)
    if model == "last_touch":
        not_direct = journey["channel"] != DIRECT
        last_not_direct = journey["step"].where(not_direct).groupby(journey_numbers(journey)).transform("max")
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
        return weight / weight.groupby(journey_numbers(journey)).transform("sum")
    raise ValueError(f"modèle inconnu « {model} »")


def _sum_by_channel(data: JourneyData, shares: pd.Series) -> dict[str, float]:
    # fsum is exact, so the credits do not depend on the order of the journeys (candidate refs):
    # the purge's anonymous refs leave every figure as it was. Each channel's shares are a slice
    # of the shares ordered by channel (``JourneyData.touches_by_channel``, found once for the
    # six models: factorising the channels took 0.1 s per model at scale L).
    channels, order, bounds = data.touches_by_channel
    values = shares.to_numpy()[order]
    return {channel: math.fsum(values[bounds[i] : bounds[i + 1]]) for i, channel in enumerate(channels)}


# ---------------------------------------------------------------- Markov


@dataclass(frozen=True)
class MarkovPaths:
    """Every path of the chain (the converting journeys first) as a row of transition counts.

    States are START, the channels (sorted), CONVERSION and NULL; a row holds the counts of a
    path's transitions, flattened (``from × len(states) + to``). Paths with the same counts share
    a row (``counts``), ``rows`` gives each path's row: at scale, hundreds of thousands of paths
    come down to a few thousand rows. Summing paths (or weighting them, for a bootstrap) gives
    the chain's transition counts.
    """

    channels: list[str]
    counts: np.ndarray
    rows: np.ndarray
    converting: int

    @property
    def size(self) -> int:
        """Number of states."""
        return len(self.channels) + 3

    def transition_counts(self, weights: np.ndarray | None = None) -> np.ndarray:
        """The chain's (size × size) transition counts, each path counted ``weights[path]`` times.

        Summed over the rows' non-zero counts only (a path has a few transitions of the
        size × size): at scale M, 200 bootstrap samples took 2.4 s as a dense product, and
        integer counts keep every sum exact either way."""
        per_row = np.bincount(self.rows, weights=weights, minlength=len(self.counts))
        row, column, count = self._non_zero
        totals = np.bincount(column, weights=per_row[row] * count, minlength=self.size**2)
        return totals.reshape(self.size, self.size)

    @functools.cached_property
    def _non_zero(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, count) of every non-zero count."""
        row, column = np.nonzero(self.counts)
        return row, column, self.counts[row, column]


#: Paths turned into count rows at a time (bounds the memory: 50,000 × 144 × 4 bytes ≈ 29 MB).
_PATHS_PER_CHUNK = 50_000


def markov_paths(journey: pd.DataFrame, non_converters: pd.DataFrame) -> MarkovPaths:
    """START → c1 → … → cn → CONVERSION for each journey, → NULL for each non-converter's path
    (``non_converters``: distinct paths and their number of candidates)."""
    other_touches = non_converters["path"].str.split(PATH_SEPARATOR).explode()
    channels = sorted(set(journey["channel"].unique()) | set(other_touches.unique()))
    states = pd.Index([_START, *channels, _CONVERSION, _NULL])
    size = len(states)
    counts, rows = _distinct_count_rows(
        *_transitions(journey_numbers(journey), states, journey["channel"], _CONVERSION),
        size * size,
    )
    # The non-converters' paths are distinct already, and never coincide with a journey (their
    # last transition goes to NULL, a journey's to CONVERSION): one row each, repeated per candidate.
    path_id, transition = _transitions(other_touches.index.to_numpy(), states, other_touches, _NULL)
    others = np.bincount(path_id * size * size + transition, minlength=len(non_converters) * size * size)
    candidates = non_converters["candidates"].to_numpy(np.int64)
    rows = np.r_[rows, len(counts) + np.repeat(np.arange(len(non_converters)), candidates)]
    return MarkovPaths(
        channels,
        np.vstack([counts, others.reshape(-1, size * size)]),
        rows,
        int((journey["step"] == 0).sum()),
    )


def _transitions(
    path_id: np.ndarray, states: pd.Index, channel: pd.Series, end: str
) -> tuple[np.ndarray, np.ndarray]:
    """(path, from × len(states) + to) of every transition of the paths: START to the first
    touch, touch to touch, last touch to ``end``. Touches come in path order, paths contiguous."""
    size = len(states)
    if not len(path_id):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # Each distinct channel looked up once: looking up every touch's made a Python string of each
    # (a hundred megabytes at scale L).
    codes, names = pd.factorize(channel)
    state = states.get_indexer(names)[codes]
    first = np.r_[True, path_id[1:] != path_id[:-1]]
    previous = np.where(first, 0, np.r_[0, state[:-1]])
    last = np.r_[path_id[1:] != path_id[:-1], True]
    return (
        np.r_[path_id, path_id[last]].astype(np.int64),
        np.r_[previous * size + state, state[last] * size + states.get_loc(end)].astype(np.int64),
    )


def _distinct_count_rows(
    path_id: np.ndarray, transition: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows of transition counts, each path's row), built a chunk of paths at a time."""
    paths = int(path_id.max()) + 1 if len(path_id) else 0
    order = np.argsort(path_id, kind="stable")
    path_id, transition = path_id[order], transition[order]
    distinct, rows = [np.zeros((0, width), dtype=np.int32)], [np.zeros(0, dtype=np.int64)]
    for first in range(0, paths, _PATHS_PER_CHUNK):
        last = min(first + _PATHS_PER_CHUNK, paths)
        lo, hi = np.searchsorted(path_id, [first, last])
        flat = (path_id[lo:hi] - first) * width + transition[lo:hi]
        dense = np.bincount(flat, minlength=(last - first) * width).astype(np.int32).reshape(-1, width)
        chunk_rows, chunk_of_path = unique_rows(dense)
        rows.append(chunk_of_path + sum(len(d) for d in distinct))
        distinct.append(chunk_rows)
    counts, of_chunk_row = unique_rows(np.concatenate(distinct))
    return counts.astype(float), of_chunk_row[np.concatenate(rows)]


def unique_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct rows, each row's index among them), comparing rows as raw bytes."""
    matrix = np.ascontiguousarray(matrix)
    as_bytes = matrix.view(np.dtype((np.void, matrix.dtype.itemsize * matrix.shape[1]))).ravel()
    _, first, inverse = np.unique(as_bytes, return_index=True, return_inverse=True)
    return matrix[first], inverse.ravel()


def removal_credits(paths: MarkovPaths, weights: np.ndarray | None = None) -> dict[str, float] | None:
    """Removal-effect credits of the (weighted) paths' conversions; None when ΣRE is 0."""
    converted = float(weights[: paths.converting].sum()) if weights is not None else float(paths.converting)
    return _chain_credits(paths.channels, paths.transition_counts(weights), converted)


def chain_counts(
    journey: pd.DataFrame, non_converter_transitions: pd.DataFrame
) -> tuple[list[str], np.ndarray]:
    """(channels, the chain's transition counts) of the journeys (→ CONVERSION) and of the
    non-converters' paths (→ NULL) given by their transitions (``_non_converter_transitions``):
    the counts ``markov_paths(…).transition_counts()`` gives, without building the paths."""
    others = non_converter_transitions
    channels = sorted(set(journey["channel"].unique()) | (set(others["to_state"]) - {_NULL}))
    states = pd.Index([_START, *channels, _CONVERSION, _NULL])
    size = len(states)
    _, transition = _transitions(journey_numbers(journey), states, journey["channel"], _CONVERSION)
    flat = np.r_[
        transition, states.get_indexer(others["from_state"]) * size + states.get_indexer(others["to_state"])
    ]
    weights = np.r_[np.ones(len(transition)), others["transitions"].to_numpy(float)]
    return channels, np.bincount(flat, weights=weights, minlength=size * size).reshape(size, size)


def markov_credits(journey: pd.DataFrame, non_converter_transitions: pd.DataFrame) -> dict[str, float] | None:
    """Removal-effect credits of the conversions with a journey; None when ΣRE is 0."""
    if journey.empty:
        return None
    channels, totals = chain_counts(journey, non_converter_transitions)
    return _chain_credits(channels, totals, float((journey["step"] == 0).sum()))


def _chain_credits(channels: list[str], totals: np.ndarray, converted: float) -> dict[str, float] | None:
    """Removal-effect credits of ``converted`` conversions from the chain's transition counts
    (states START, ``channels``, CONVERSION, NULL); None when ΣRE is 0."""
    if converted == 0:
        return None
    size = len(totals)
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
    effects = {c: 1 - reach(i + 1) / probability for i, c in enumerate(channels)}
    total = sum(effects.values())
    if total <= 1e-12:
        return None
    return {channel: effect / total * converted for channel, effect in effects.items()}


# ---------------------------------------------------------------- all models


@dataclass
class _Computed:
    """What ``Attribution.credits`` computed for one ``JourneyData``."""

    credits: dict[str, dict[str, float]] = field(default_factory=dict)
    markov_fell_back: bool = False


@dataclass(frozen=True)
class JourneyData:
    """What every model works on: the conversions, their journeys, and (read when a model needs
    them: only Markov does) the non-converters' transitions, or their paths for a bootstrap."""

    goal: str
    lookback_days: int
    converted: pd.DataFrame
    journey: pd.DataFrame
    #: Reads the non-converters' transitions (``_non_converter_transitions``), what the Markov
    #: credits need, and their paths (``_non_converter_paths``), what the Markov bootstrap
    #: draws: seconds at scale L that a page showing another model never spends. Read from the
    #: store as it is then: after a write in between, pages ask for the new data version's
    #: data anyway.
    read_non_converter_transitions: Callable[[], pd.DataFrame]
    read_non_converters: Callable[[], pd.DataFrame]

    @functools.cached_property
    def non_converter_transitions(self) -> pd.DataFrame:
        """Transitions of the paths of the candidates who never converted, with their number."""
        return self.read_non_converter_transitions()

    @functools.cached_property
    def non_converters(self) -> pd.DataFrame:
        """Distinct paths of the candidates who never converted, with their number of candidates."""
        return self.read_non_converters()

    @functools.cached_property
    def touches_by_channel(self) -> tuple[pd.Index, np.ndarray, np.ndarray]:
        """The journeys' channels (sorted), the touches' positions grouped by channel, and where
        each channel's positions start and end in them (``bounds[i]:bounds[i + 1]``)."""
        codes, channels = pd.factorize(self.journey["channel"], sort=True)
        order = np.argsort(codes, kind="stable")
        return channels, order, np.searchsorted(codes[order], np.arange(len(channels) + 1))

    @functools.cached_property
    def empty_journeys(self) -> int:
        """Conversions whose journey has no touch."""
        return len(self.converted) - int((self.journey["step"] == 0).sum())

    #: The models' credits once computed (``Attribution.credits``). Kept here, not in an
    #: Attribution these data would hold: the Attribution points to the data, and a reference
    #: cycle would keep data dropped from the cache alive until the garbage collector's next
    #: pass, which the journeys' arrays do not hasten (at scale L, 140 MB held twice while a
    #: page read newer ones).
    computed: _Computed = field(default_factory=_Computed, init=False, repr=False, compare=False)

    @property
    def attribution(self) -> Attribution:
        """The credits of the models for these data, each computed once, when first asked for."""
        return Attribution(self)


class Attribution:
    """Credits per model and channel for the conversions of one goal in one scope.

    ``credits[model]`` computes a model's credits the first time it is asked for: a page shows
    one model, and Markov, the costliest, reads the non-converters' transitions.
    """

    def __init__(self, data: JourneyData) -> None:
        self.goal = data.goal
        self.lookback_days = data.lookback_days
        self.conversions = len(data.converted)
        #: Conversions whose journey is empty (their credit goes to ``direct``).
        self.empty_journeys = data.empty_journeys
        self.credits = _Credits(data, self.empty_journeys)

    @property
    def markov_fell_back(self) -> bool:
        """True when the Markov model's removal effects summed to 0 and linear was used."""
        self.credits["markov"]  # noqa: B018  (computed if it was not)
        return self.credits.markov_fell_back


class _Credits(Mapping[str, dict[str, float]]):
    """Each model's credits (conversions with an empty journey add 1 each to ``direct``),
    computed once, on first access."""

    def __init__(self, data: JourneyData, empty_journeys: int) -> None:
        self._data, self._empty = data, empty_journeys
        self._computed = data.computed.credits

    @property
    def markov_fell_back(self) -> bool:
        return self._data.computed.markov_fell_back

    def __getitem__(self, model: str) -> dict[str, float]:
        if model not in MODELS:
            raise KeyError(model)
        if model not in self._computed:
            self._computed[model] = self._compute(model)
        return self._computed[model]

    def __iter__(self) -> Iterator[str]:
        return iter(MODELS)

    def __len__(self) -> int:
        return len(MODELS)

    def _compute(self, model: str) -> dict[str, float]:
        journey = self._data.journey
        if journey.empty:
            credits: dict[str, float] = {}
        elif model == "markov":
            markov = markov_credits(journey, self._data.non_converter_transitions)
            if markov is None:
                self._data.computed.markov_fell_back = True
                return dict(self["linear"])
            credits = markov
        else:
            credits = _sum_by_channel(self._data, touch_credits(journey, model))
        if self._empty:
            credits[DIRECT] = credits.get(DIRECT, 0.0) + self._empty
        return credits


def journey_data(
    scope: Scope,
    goal: str = "booking",
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    engine: Engine | None = None,
) -> JourneyData:
    """The conversions of ``goal`` in ``scope`` and their journeys; the non-converters'
    transitions and paths are read when a model needs them."""
    if lookback_days < 0:
        raise ValueError("la fenêtre d'attribution doit être ≥ 0 jour")
    converted = conversions(goal, scope, engine)
    return JourneyData(
        goal,
        lookback_days,
        converted,
        journeys(converted, scope, lookback_days, engine, goal=goal),
        functools.partial(_non_converter_transitions, goal, scope, engine),
        functools.partial(_non_converter_paths, goal, scope, engine),
    )


def attribute(
    scope: Scope,
    goal: str = "booking",
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    engine: Engine | None = None,
) -> Attribution:
    """Credits of the models for the conversions of ``goal`` in ``scope``."""
    return journey_data(scope, goal, lookback_days, engine).attribution
