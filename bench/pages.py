"""The data behind each page three ways: ours (services, cold and warm), naive pandas, DuckDB.

Each approach returns the same plain figures (dicts of counts and credits), compared in
``measure``: the naive and DuckDB versions exist to be timed, and to check ours.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import sqlalchemy as sa
import streamlit as st
from streamlit import logger

from services.access import roles
from services.app import cached
from services.metrics import marketing
from services.metrics.attribution import MODELS, PATH_SEPARATOR, JourneyData, attribute
from services.store import columnar, database, events
from services.store.scope import Scope
from services.store.values import local_midnight

TABLES = (
    "bookings",
    "enrollments",
    "touchpoints",
    "campaigns",
    "programs",
    "sites",
    "candidates",
    "advisors",
)
INSTANTS = {
    "bookings": ("starts_at", "booked_at"),
    "enrollments": ("enrolled_at",),
    "touchpoints": ("occurred_at",),
    "candidates": ("created_at",),
}
VIEWER = roles.Viewer("admin")
BOOTSTRAP_MODELS = ("linear", "markov")
EVENT = "POV-2020-04"
DAY_OFFSET = 1  # the second day of the virtual open days
LOOKBACKS = (30, 90)


def _timed(function: Callable[[], object], repeat: int, before: Callable[[], None] | None = None) -> tuple:
    """(median seconds, last result) of ``repeat`` calls, ``before`` run untimed before each."""
    times, result = [], None
    for _ in range(repeat):
        if before:
            before()
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], result


def _clear_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


def _same(ours: object, other: object, what: str) -> None:
    """Exact equality of counts, 1e-9 relative for floats (sums taken in another order)."""
    if isinstance(ours, dict) and isinstance(other, dict):
        keys = {k for k, v in ours.items() if v} | {k for k, v in other.items() if v}
        for key in keys:
            _same(ours.get(key, 0), other.get(key, 0), f"{what}[{key}]")
        return
    if isinstance(ours, float) or isinstance(other, float):
        if not math.isclose(float(ours), float(other), rel_tol=1e-9, abs_tol=1e-9):
            raise AssertionError(f"{what}: {ours} ≠ {other}")
        return
    if ours != other:
        raise AssertionError(f"{what}: {ours} ≠ {other}")


# ---------------------------------------------------------------- ours


def _ours(scope: Scope, day: date) -> dict[str, Callable[[int], dict]]:
    """Per page, a function of the data version giving its figures through services/app/cached.py."""

    def results(version: int) -> dict:
        figures = dict(cached.key_figures(scope, version))
        for row in cached.bookings_by_site(scope, version).itertuples():
            figures[("site", row.site_code, row.status)] = int(row.bookings)
        for row in cached.funnel_by_site(scope, version).to_dict("records"):
            for step in ("reached", "booked", "attended", "enrolled"):
                figures[("funnel", row["site_code"], step)] = int(row[step])
        for row in cached.programme_table(scope, version).to_dict("records"):
            for step in ("booked", "attended", "pre_registered", "enrolled"):
                figures[("programme", row["program_code"], row["site_code"], step)] = int(row[step])
        return figures

    def schedule_day(version: int) -> dict:
        frame = cached.interviews(day, day, (), (), VIEWER, version)
        return {
            ref: (int(earlier), origin)
            for ref, earlier, origin in zip(
                frame["ref"], frame["earlier_bookings"], frame["origin_channel"], strict=True
            )
        }

    def channels(model: str) -> Callable[[int], dict]:
        def run(version: int) -> dict:
            figures = {}
            for goal in ("booking", "enrollment"):
                table = cached.channel_table(scope, model, goal, LOOKBACKS, version)
                for row in table.itertuples():
                    figures[(goal, row.channel)] = float(row.credit)
                    figures[("reached", row.channel)] = int(row.reached)
            return figures

        return run

    def intervals(model: str) -> Callable[[int], dict]:
        def run(version: int) -> dict:
            table = cached.credit_intervals(scope, "booking", LOOKBACKS[0], model, version)
            return {(row.channel, "low"): float(row.low) for row in table.itertuples()} | {
                (row.channel, "high"): float(row.high) for row in table.itertuples()
            }

        return run

    pages = {"résultats": results, "planning (un jour)": schedule_day}
    pages |= {f"canaux · {model}": channels(model) for model in MODELS}
    pages |= {f"intervalles · {model}": intervals(model) for model in BOOTSTRAP_MODELS}
    return pages


# ---------------------------------------------------------------- shared by naive and DuckDB


def _funnel_counts(b: pd.DataFrame, enrolled_refs: set[str], reached: int) -> dict[str, int]:
    live = b[b["status"] != "cancelled"]
    return {
        "reached": reached,
        "booked": live["candidate_ref"].nunique(),
        "attended": b.loc[b["status"] == "attended", "candidate_ref"].nunique(),
        "enrolled": live.loc[live["candidate_ref"].isin(enrolled_refs), "candidate_ref"].nunique(),
    }


def _journey_data(
    goal: str, lookback: int, converted: pd.DataFrame, journey: pd.DataFrame, others: pd.DataFrame
) -> JourneyData:
    """The same frames as attribution.journey_data, from frames computed elsewhere."""
    order = ["candidate_ref", "occurred_at", "channel", "utm_source", "utm_campaign"]
    journey = journey.sort_values(order, kind="stable").reset_index(drop=True)
    by_candidate = journey.groupby("candidate_ref", sort=False)
    journey["step"] = by_candidate.cumcount()
    journey["n"] = by_candidate["channel"].transform("size")
    others = others.sort_values(["candidate_ref", "occurred_at", "channel"], kind="stable")
    by_candidate = others.groupby("candidate_ref", sort=False)["channel"]
    paths = by_candidate.agg(PATH_SEPARATOR.join)
    counts = paths.value_counts().rename_axis("path").reset_index(name="candidates")
    counts = counts.sort_values("path", kind="stable").reset_index(drop=True)
    # Into each touch from the state before it, and from each path's last touch to NULL.
    steps = pd.DataFrame(
        {
            "from_state": by_candidate.shift(1).fillna("(start)").to_numpy(),
            "to_state": others["channel"].to_numpy(),
        }
    )
    last = pd.DataFrame({"from_state": by_candidate.last().to_numpy(), "to_state": "(null)"})
    transitions = pd.concat([steps, last]).value_counts().rename("transitions").reset_index()
    return JourneyData(goal, lookback, converted, journey, lambda: transitions, lambda: counts)


def _channel_figures(model: str, data: dict[str, JourneyData], reached: dict[str, int]) -> dict:
    figures = {}
    for goal, journey_data in data.items():
        for channel, credit in journey_data.attribution.credits[model].items():
            figures[(goal, channel)] = float(credit)
    figures |= {("reached", channel): int(n) for channel, n in reached.items()}
    return figures


def _interval_figures(data: JourneyData, model: str) -> dict:
    table = marketing.intervals(data, model)
    return {(row.channel, "low"): float(row.low) for row in table.itertuples()} | {
        (row.channel, "high"): float(row.high) for row in table.itertuples()
    }


# ---------------------------------------------------------------- naive: tables whole, pandas


def _read_whole(engine: sa.Engine) -> dict[str, pd.DataFrame]:
    frames = {name: pd.read_sql(f"SELECT * FROM {name}", engine) for name in TABLES}
    for name, columns in INSTANTS.items():
        for column in columns:
            frames[name][column] = pd.to_datetime(frames[name][column], utc=True, format="ISO8601")
    return frames


class _Naive:
    """The tutorial way: every page reads the tables it needs whole, then filters in pandas."""

    def __init__(self, engine: sa.Engine, scope: Scope, day: date) -> None:
        self.engine, self.scope, self.day = engine, scope, day

    def _bookings_in_scope(self, t: dict[str, pd.DataFrame]) -> pd.DataFrame:
        b = t["bookings"]
        return b[
            (b["starts_at"] >= self.scope.start)
            & (b["starts_at"] < self.scope.end)
            & (b["event_code"] == EVENT)
        ]

    def results(self) -> dict:
        t = _read_whole(self.engine)
        s, b = self.scope, self._bookings_in_scope(t)
        e, tp, c = t["enrollments"], t["touchpoints"], t["campaigns"]
        enrolled_refs = set(e.loc[e["status"] == "enrolled", "candidate_ref"])
        in_period = tp[(tp["occurred_at"] >= s.start) & (tp["occurred_at"] < s.end)]
        reached = len(set(in_period["candidate_ref"]) | set(b["candidate_ref"]))
        funnel = _funnel_counts(b, enrolled_refs, reached)
        counts = b["status"].value_counts()
        attended, no_show = int(counts.get("attended", 0)), int(counts.get("no_show", 0))
        came = b[b["status"] == "attended"]
        starts = pd.to_datetime(c["starts_on"]).dt.date
        spend = float(
            c.loc[
                (starts >= s.date_from) & (starts <= s.date_to) & (c["event_code"] == EVENT), "spend_eur"
            ].sum()
        )
        figures: dict = {
            "bookings": len(b),
            "show_rate": attended / (attended + no_show) if attended + no_show else None,
            "family_attendance": float((came["attendees"] >= 2).mean()) if len(came) else None,
            "booked": funnel["booked"],
            "enrolled": funnel["enrolled"],
            "conversion_to_enrollment": funnel["enrolled"] / funnel["booked"] if funnel["booked"] else None,
            "spend": spend,
            "cost_per_enrollment": spend / funnel["enrolled"] if funnel["enrolled"] else None,
        }
        for (site, status), n in b.groupby(["site_code", "status"]).size().items():
            figures[("site", site, status)] = int(n)
        for site, mine in b.groupby("site_code"):
            for step, n in _funnel_counts(mine, enrolled_refs, mine["candidate_ref"].nunique()).items():
                figures[("funnel", site, step)] = n
        offered = b[b["program_code"].notna()]
        for (program, site), mine in offered.groupby(["program_code", "site_code"]):
            live = mine[mine["status"] != "cancelled"]
            figures[("programme", program, site, "booked")] = live["candidate_ref"].nunique()
            figures[("programme", program, site, "attended")] = mine.loc[
                mine["status"] == "attended", "candidate_ref"
            ].nunique()
            for status in ("pre_registered", "enrolled"):
                here = e[(e["program_code"] == program) & (e["site_code"] == site) & (e["status"] == status)]
                figures[("programme", program, site, status)] = live.loc[
                    live["candidate_ref"].isin(here["candidate_ref"]), "candidate_ref"
                ].nunique()
        return figures

    def schedule_day(self) -> dict:
        t = _read_whole(self.engine)
        b, tp = t["bookings"], t["touchpoints"]
        start, end = local_midnight(self.day), local_midnight(self.day + timedelta(days=1))
        today = b[(b["starts_at"] >= start) & (b["starts_at"] < end)]
        mine = b[b["candidate_ref"].isin(today["candidate_ref"])]
        pairs = today[["ref", "candidate_ref", "starts_at"]].merge(
            mine[["candidate_ref", "starts_at"]], on="candidate_ref", suffixes=("", "_other")
        )
        earlier = (pairs["starts_at_other"] < pairs["starts_at"]).groupby(pairs["ref"]).sum()
        touches = tp[tp["candidate_ref"].isin(today["candidate_ref"])].sort_values(["occurred_at", "channel"])
        origin = touches.groupby("candidate_ref")["channel"].first()
        return {
            ref: (int(earlier.get(ref, 0)), origin.get(candidate))
            for ref, candidate in zip(today["ref"], today["candidate_ref"], strict=True)
        }

    def _data(self, t: dict[str, pd.DataFrame], goal: str, lookback: int) -> JourneyData:
        s, tp = self.scope, t["touchpoints"]
        if goal == "booking":
            table = t["bookings"][t["bookings"]["status"] != "cancelled"]
            first = table.sort_values(["booked_at", "starts_at", "ref"]).drop_duplicates("candidate_ref")
            first = first.rename(columns={"booked_at": "converted_at"})
            first = first[first["event_code"] == EVENT]
        else:
            table = t["enrollments"][t["enrollments"]["status"] == "enrolled"]
            first = table.sort_values(["enrolled_at", "program_code", "site_code"]).drop_duplicates(
                "candidate_ref"
            )
            first = first.rename(columns={"enrolled_at": "converted_at"})
        first = first[(first["converted_at"] >= s.start) & (first["converted_at"] < s.end)]
        converted = (
            first[["candidate_ref", "converted_at"]].sort_values("candidate_ref").reset_index(drop=True)
        )
        journey = tp.merge(converted, on="candidate_ref")
        window = timedelta(days=lookback)
        journey = journey[
            (journey["occurred_at"] >= journey["converted_at"] - window)
            & (journey["occurred_at"] <= journey["converted_at"])
        ]
        journey = journey[
            ["candidate_ref", "converted_at", "occurred_at", "channel", "utm_source", "utm_campaign"]
        ]
        in_period = tp[(tp["occurred_at"] >= s.start) & (tp["occurred_at"] < s.end)]
        others = in_period[~in_period["candidate_ref"].isin(table["candidate_ref"])]
        return _journey_data(
            goal, lookback, converted, journey, others[["candidate_ref", "occurred_at", "channel"]]
        )

    def channels(self, model: str) -> dict:
        t = _read_whole(self.engine)
        data = {
            goal: self._data(t, goal, lookback)
            for goal, lookback in zip(("booking", "enrollment"), LOOKBACKS, strict=True)
        }
        tp = t["touchpoints"]
        in_period = tp[(tp["occurred_at"] >= self.scope.start) & (tp["occurred_at"] < self.scope.end)]
        reached = in_period.groupby("channel")["candidate_ref"].nunique().to_dict()
        return _channel_figures(model, data, reached)

    def intervals(self, model: str) -> dict:
        return _interval_figures(self._data(_read_whole(self.engine), "booking", LOOKBACKS[0]), model)


# ---------------------------------------------------------------- DuckDB over a native copy


class _DuckDB:
    """The same figures in SQL over a native DuckDB copy (instants as naive UTC timestamps)."""

    def __init__(self, engine: sa.Engine, scope: Scope, day: date) -> None:
        connection = duckdb.connect()
        for name, frame in _read_whole(engine).items():
            for column in INSTANTS.get(name, ()):
                frame[column] = frame[column].dt.tz_localize(None)
            connection.register("frame", frame)
            connection.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            connection.unregister("frame")
        self._over(connection, scope, day)

    @classmethod
    def over(cls, connection: duckdb.DuckDBPyConnection, scope: Scope, day: date) -> _DuckDB:
        """The reference over tables another connection already holds (the worker's copies)."""
        reference = cls.__new__(cls)
        reference._over(connection, scope, day)
        return reference

    def _over(self, connection: duckdb.DuckDBPyConnection, scope: Scope, day: date) -> None:
        self.connection, self.scope, self.day = connection, scope, day
        self.start = pd.Timestamp(scope.start).tz_convert(None)
        self.end = pd.Timestamp(scope.end).tz_convert(None)

    def _frame(self, sql: str, *parameters: object) -> pd.DataFrame:
        frame = self.connection.execute(sql, list(parameters)).df()
        for column in ("converted_at", "occurred_at"):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column]).dt.tz_localize("UTC")
        return frame

    def results(self) -> dict:
        q, s, e = self.connection, self.start, self.end
        scoped = "FROM bookings WHERE starts_at >= $1 AND starts_at < $2 AND event_code = $3"
        enrolled = "candidate_ref IN (SELECT candidate_ref FROM enrollments WHERE status = 'enrolled')"
        bookings, attended, no_show, family, booked, enrolled_n = q.execute(
            f"""SELECT count(*), count(*) FILTER (status = 'attended'), count(*) FILTER (status = 'no_show'),
                avg(CASE WHEN attendees >= 2 THEN 1.0 ELSE 0.0 END) FILTER (status = 'attended'),
                count(DISTINCT candidate_ref) FILTER (status <> 'cancelled'),
                count(DISTINCT candidate_ref) FILTER (status <> 'cancelled' AND {enrolled}) {scoped}""",
            [s, e, EVENT],
        ).fetchone()
        spend = q.execute(
            "SELECT coalesce(sum(spend_eur), 0) FROM campaigns "
            "WHERE CAST(starts_on AS DATE) BETWEEN $1 AND $2 AND event_code = $3",
            [self.scope.date_from, self.scope.date_to, EVENT],
        ).fetchone()[0]
        figures: dict = {
            "bookings": bookings,
            "show_rate": attended / (attended + no_show) if attended + no_show else None,
            "family_attendance": float(family) if family is not None else None,
            "booked": booked,
            "enrolled": enrolled_n,
            "conversion_to_enrollment": enrolled_n / booked if booked else None,
            "spend": float(spend),
            "cost_per_enrollment": float(spend) / enrolled_n if enrolled_n else None,
        }
        for site, status, n in q.execute(
            f"SELECT site_code, status, count(*) {scoped} GROUP BY ALL", [s, e, EVENT]
        ).fetchall():
            figures[("site", site, status)] = n
        for site, *steps in q.execute(
            f"""SELECT site_code, count(DISTINCT candidate_ref),
                count(DISTINCT candidate_ref) FILTER (status <> 'cancelled'),
                count(DISTINCT candidate_ref) FILTER (status = 'attended'),
                count(DISTINCT candidate_ref) FILTER (status <> 'cancelled' AND {enrolled})
                {scoped} GROUP BY site_code""",
            [s, e, EVENT],
        ).fetchall():
            for step, n in zip(("reached", "booked", "attended", "enrolled"), steps, strict=True):
                figures[("funnel", site, step)] = n
        for program, site, *steps in q.execute(
            f"""SELECT program_code, site_code,
                count(DISTINCT b.candidate_ref) FILTER (status <> 'cancelled'),
                count(DISTINCT b.candidate_ref) FILTER (status = 'attended'),
                count(DISTINCT b.candidate_ref) FILTER (status <> 'cancelled' AND pre),
                count(DISTINCT b.candidate_ref) FILTER (status <> 'cancelled' AND enr)
            FROM (SELECT *, EXISTS (SELECT 1 FROM enrollments x WHERE x.candidate_ref = bookings.candidate_ref
                    AND x.program_code = bookings.program_code AND x.site_code = bookings.site_code
                    AND x.status = 'pre_registered') AS pre,
                  EXISTS (SELECT 1 FROM enrollments x WHERE x.candidate_ref = bookings.candidate_ref
                    AND x.program_code = bookings.program_code AND x.site_code = bookings.site_code
                    AND x.status = 'enrolled') AS enr
                  {scoped} AND program_code IS NOT NULL) b
            GROUP BY program_code, site_code""",
            [s, e, EVENT],
        ).fetchall():
            for step, n in zip(("booked", "attended", "pre_registered", "enrolled"), steps, strict=True):
                figures[("programme", program, site, step)] = n
        return figures

    def schedule_day(self) -> dict:
        start = pd.Timestamp(local_midnight(self.day)).tz_convert(None)
        end = pd.Timestamp(local_midnight(self.day + timedelta(days=1))).tz_convert(None)
        # The rows the page lists, as ours: the interview, its candidate, advisor and programme
        # by name, then the two figures compared (earlier bookings, channel of origin).
        frame = self.connection.execute(
            """WITH today AS (SELECT * FROM bookings WHERE starts_at >= $1 AND starts_at < $2)
            SELECT t.ref, t.starts_at, t.duration_min, t.site_code, t.advisor_email,
              a.name AS advisor, t.candidate_ref, c.first_name, c.last_name, c.birth_date,
              c.email, c.phone, t.program_code, p.name AS program, t.attendees, t.status,
              t.meeting_url, t.host_room_url, t.version,
              (SELECT count(*) FROM bookings o
               WHERE o.candidate_ref = t.candidate_ref AND o.starts_at < t.starts_at) AS earlier,
              (SELECT arg_min(channel, (occurred_at, channel)) FROM touchpoints p
               WHERE p.candidate_ref = t.candidate_ref) AS origin
            FROM today t
            JOIN candidates c ON c.ref = t.candidate_ref
            LEFT JOIN advisors a ON a.email = t.advisor_email
            LEFT JOIN programs p ON p.code = t.program_code AND p.site_code = t.site_code
            ORDER BY t.starts_at, t.advisor_email, t.ref""",
            [start, end],
        ).df()
        return {
            ref: (int(earlier), origin)
            for ref, earlier, origin in zip(frame["ref"], frame["earlier"], frame["origin"], strict=True)
        }

    def _converted_sql(self, goal: str) -> str:
        """(candidate_ref, converted_at) of the conversions that count for the scope ($1, $2:
        its start and end, naive UTC), as metrics.md defines them."""
        if goal == "booking":
            ranked = """SELECT candidate_ref, booked_at AS converted_at, event_code,
                row_number() OVER (PARTITION BY candidate_ref ORDER BY booked_at, starts_at, ref) AS rank
                FROM bookings WHERE status <> 'cancelled'"""
            event = f"AND event_code = '{self.scope.event}'" if self.scope.event else ""
        else:
            ranked = """SELECT candidate_ref, enrolled_at AS converted_at,
                row_number() OVER (
                    PARTITION BY candidate_ref ORDER BY enrolled_at, program_code, site_code
                ) AS rank
                FROM enrollments WHERE status = 'enrolled'"""
            event = ""
        return (
            f"SELECT candidate_ref, converted_at FROM ({ranked}) "
            f"WHERE rank = 1 AND converted_at >= $1 AND converted_at < $2 {event}"
        )

    @staticmethod
    def _converters(goal: str) -> str:
        """Every candidate who converts for ``goal`` at any date."""
        if goal == "booking":
            return "SELECT candidate_ref FROM bookings WHERE status <> 'cancelled'"
        return "SELECT candidate_ref FROM enrollments WHERE status = 'enrolled'"

    def _data(self, goal: str, lookback: int) -> JourneyData:
        """The journeys as frames, for the intervals (their bootstrap is drawn by our code)."""
        converted_sql = self._converted_sql(goal)
        converted = self._frame(f"{converted_sql} ORDER BY candidate_ref", self.start, self.end)
        journey = self._frame(
            f"""SELECT t.candidate_ref, c.converted_at, t.occurred_at, t.channel, t.utm_source, t.utm_campaign
            FROM touchpoints t JOIN ({converted_sql}) c USING (candidate_ref)
            WHERE t.occurred_at >= c.converted_at - INTERVAL '{lookback} days'
            AND t.occurred_at <= c.converted_at""",
            self.start,
            self.end,
        )
        others = self._frame(
            f"""SELECT candidate_ref, occurred_at, channel FROM touchpoints
            WHERE occurred_at >= $1 AND occurred_at < $2
            AND candidate_ref NOT IN ({self._converters(goal)})""",
            self.start,
            self.end,
        )
        return _journey_data(goal, lookback, converted, journey, others)

    def credits(self, goal: str, lookback: int, models: tuple[str, ...] = MODELS) -> dict[str, dict]:
        """Each model's credits per channel, computed in SQL from the definitions of metrics.md
        (Markov: its transitions counted in SQL, the absorbing chain solved in numpy), not by
        our code: the near-limit reference of the channels page."""
        q, period = self.connection, [self.start, self.end]
        journeys = f"""WITH converted AS ({self._converted_sql(goal)}),
            touches AS (
                SELECT t.candidate_ref, t.channel, t.occurred_at, c.converted_at,
                    row_number() OVER journey - 1 AS step,
                    count(*) OVER (PARTITION BY t.candidate_ref) AS n
                FROM touchpoints t JOIN converted c USING (candidate_ref)
                WHERE t.occurred_at >= c.converted_at - INTERVAL '{lookback} days'
                AND t.occurred_at <= c.converted_at
                WINDOW journey AS (PARTITION BY t.candidate_ref ORDER BY t.occurred_at, t.channel)
            )"""
        credits: dict[str, dict] = {model: {} for model in models}
        rule_based = [model for model in models if model != "markov"]
        if rule_based:
            credits |= self._rule_based(journeys, rule_based)
        converted, with_journey = q.execute(
            f"{journeys} SELECT (SELECT count(*) FROM converted), "
            "(SELECT count(DISTINCT candidate_ref) FROM touches)",
            period,
        ).fetchone()
        if "markov" in models:
            # Transitions: START → first touch, touch → touch, last touch → CONVERSION for each
            # journey; the same, last touch → NULL, for the never-converters' touches in the period.
            transitions = q.execute(
                f"""{journeys},
                others AS (
                    SELECT candidate_ref, channel, occurred_at FROM touchpoints
                    WHERE occurred_at >= $1 AND occurred_at < $2
                    AND candidate_ref NOT IN ({self._converters(goal)})
                ),
                paths AS (
                    SELECT candidate_ref, channel, occurred_at, '(conversion)' AS ending FROM touches
                    UNION ALL SELECT candidate_ref, channel, occurred_at, '(null)' FROM others
                ),
                around AS (
                    SELECT channel, ending,
                        lag(channel, 1, '(start)') OVER path AS previous,
                        lead(channel) OVER path IS NULL AS last
                    FROM paths
                    WINDOW path AS (PARTITION BY candidate_ref ORDER BY occurred_at, channel)
                )
                SELECT previous, channel, count(*) FROM around GROUP BY ALL
                UNION ALL SELECT channel, ending, count(*) FROM around WHERE last GROUP BY ALL""",
                period,
            ).fetchall()
            markov = _absorbing_chain_credits(transitions, with_journey)
            if markov is None:  # ΣRE = 0: linear instead
                markov = self._rule_based(journeys, ["linear"])["linear"]
            credits["markov"] = markov
        empty = converted - with_journey
        for model in models:
            if empty:
                credits[model]["direct"] = credits[model].get("direct", 0.0) + empty
        return credits

    def _rule_based(self, journeys: str, models: list[str]) -> dict[str, dict]:
        """The rule-based models' credits of the journeys (before the empty journeys' direct):
        last touch, the last touch that is not direct, else the last one; time decay,
        2^(-days/7), days fractional, over the journey's total weight."""
        rows = self.connection.execute(
            f"""{journeys},
            shares AS (
                SELECT channel, step, n,
                    max(step) FILTER (channel <> 'direct') OVER (PARTITION BY candidate_ref) AS last_paid,
                    pow(2.0, -(epoch(converted_at) - epoch(occurred_at)) / 86400.0 / 7) AS weight,
                    sum(pow(2.0, -(epoch(converted_at) - epoch(occurred_at)) / 86400.0 / 7))
                        OVER (PARTITION BY candidate_ref) AS total_weight
                FROM touches
            )
            SELECT channel,
                sum(CASE WHEN step = 0 THEN 1.0 ELSE 0.0 END) AS first_touch,
                sum(CASE WHEN step = coalesce(last_paid, n - 1) THEN 1.0 ELSE 0.0 END) AS last_touch,
                sum(1.0 / n) AS linear,
                sum(CASE WHEN n = 1 THEN 1.0 WHEN n = 2 THEN 0.5
                    WHEN step = 0 OR step = n - 1 THEN 0.4 ELSE 0.2 / (n - 2) END) AS position_based,
                sum(weight / total_weight) AS time_decay
            FROM shares GROUP BY channel""",
            [self.start, self.end],
        ).df()
        return {model: dict(zip(rows["channel"], rows[model].astype(float), strict=True)) for model in models}

    def channels(self, model: str) -> dict:
        figures = {}
        for goal, lookback in zip(("booking", "enrollment"), LOOKBACKS, strict=True):
            for channel, credit in self.credits(goal, lookback, (model,))[model].items():
                figures[(goal, channel)] = float(credit)
        return figures | self._reached()

    def intervals(self, model: str) -> dict:
        return _interval_figures(self._data("booking", LOOKBACKS[0]), model)

    def channels_page(self) -> dict:
        """What the channels page computes first, cold: the six models' credits for both goals
        (its table, its models chart, its costs per booking and per enrollment) and the reach."""
        figures = {}
        for goal, lookback in zip(("booking", "enrollment"), LOOKBACKS, strict=True):
            for model, credits in self.credits(goal, lookback).items():
                figures |= {(goal, model, channel): float(credit) for channel, credit in credits.items()}
        return figures | self._reached()

    def _reached(self) -> dict:
        reached = self.connection.execute(
            "SELECT channel, count(DISTINCT candidate_ref) FROM touchpoints "
            "WHERE occurred_at >= $1 AND occurred_at < $2 GROUP BY channel",
            [self.start, self.end],
        ).fetchall()
        return {("reached", channel): int(n) for channel, n in reached}


def _absorbing_chain_credits(transitions: list[tuple[str, str, int]], conversions: int) -> dict | None:
    """metrics.md's Markov credits of ``conversions`` from the chain's transition counts
    (from, to, count): P(START reaches CONVERSION) solved exactly, each channel's removal
    effect (transitions into it sent to NULL) over their sum; None when that sum is 0."""
    if not conversions:
        return None
    states = {state for pair in transitions for state in pair[:2]}
    channels = sorted(states - {"(start)", "(conversion)", "(null)"})
    transient = ["(start)", *channels]
    at = {state: i for i, state in enumerate(transient)}
    counts = np.zeros((len(transient), len(transient)))
    into_conversion, leaving = np.zeros(len(transient)), np.zeros(len(transient))
    for source, target, n in transitions:
        leaving[at[source]] += n
        if target == "(conversion)":
            into_conversion[at[source]] += n
        elif target != "(null)":
            counts[at[source], at[target]] += n
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.nan_to_num(counts / leaving[:, None])
        r = np.nan_to_num(into_conversion / leaving)

    def reach(removed: str | None = None) -> float:
        chain = q.copy()
        if removed is not None:
            chain[:, at[removed]] = 0.0
        return float(np.linalg.solve(np.eye(len(transient)) - chain, r)[0])

    probability = reach()
    if probability <= 0:
        return None
    effects = {channel: 1 - reach(channel) / probability for channel in channels}
    total = sum(effects.values())
    if total <= 1e-12:
        return None
    return {channel: effect / total * conversions for channel, effect in effects.items()}


# ---------------------------------------------------------------- the run


def _naive_and_duckdb(approach: _Naive | _DuckDB) -> dict[str, Callable[[], dict]]:
    pages: dict[str, Callable[[], dict]] = {
        "résultats": approach.results,
        "planning (un jour)": approach.schedule_day,
    }
    pages |= {f"canaux · {model}": (lambda m=model: approach.channels(m)) for model in MODELS}
    pages |= {f"intervalles · {model}": (lambda m=model: approach.intervals(m)) for model in BOOTSTRAP_MODELS}
    return pages


def measure(repeat: int) -> list[dict]:
    """Time every page four ways and check that the figures agree; one row per page."""
    engine = database.get_engine()
    scope = events.default_scope(EVENT, engine)
    first_day = pd.Timestamp(
        engine.connect().execute(sa.text(f"SELECT starts_on FROM events WHERE code = '{EVENT}'")).scalar()
    ).date()
    day = first_day + timedelta(days=DAY_OFFSET)
    version = database.data_version(engine)
    start = time.perf_counter()
    duck = _DuckDB(engine, scope, day)
    print(f"copie DuckDB native construite en {time.perf_counter() - start:.1f} s")
    naive = _naive_and_duckdb(_Naive(engine, scope, day))
    reference = _naive_and_duckdb(duck)
    rows = []
    for page, ours in _ours(scope, day).items():
        cold, figures = _timed(lambda f=ours: f(version), repeat, before=_clear_caches)
        warm, again = _timed(lambda f=ours: f(version), max(repeat, 3))
        naive_time, naive_figures = _timed(naive[page], repeat)
        duck_time, duck_figures = _timed(reference[page], repeat)
        _same(figures, again, f"{page} (warm)")
        _same(figures, naive_figures, f"{page} (naive)")
        _same(figures, duck_figures, f"{page} (DuckDB)")
        rows.append({"page": page, "cold": cold, "warm": warm, "naive": naive_time, "duckdb": duck_time})
        print(
            f"  {page}: {cold:.3f} s froid, {warm * 1000:.1f} ms chaud, "
            f"naïf {naive_time:.3f} s, DuckDB {duck_time:.3f} s"
        )
    return rows


def format_table(rows: list[dict]) -> str:
    """The figures as a Markdown table (seconds; warm in milliseconds), ratios included."""
    lines = [
        "| page | froid (s) | chaud (ms) | naïf pandas (s) | DuckDB natif (s) "
        "| nous / DuckDB | naïf / nous |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['page']} | {row['cold']:.3f} | {row['warm'] * 1000:.1f} | {row['naive']:.3f} | "
            f"{row['duckdb']:.3f} | {row['cold'] / row['duckdb']:.1f}× | {row['naive'] / row['cold']:.1f}× |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- the channels page's limit, at any scale


def channels_limit(path: Path, scope: Scope, repeat: int) -> dict:
    """Seconds of the near-limit reference for the channels page, at any scale: the credits of
    the six models for both goals and the reach, in the reference's SQL (``_DuckDB.channels_page``)
    over DuckDB's columnar copies of the SQLite file, made by the worker's own code
    (``columnar._Copies``: the copies the page reads too). ``measure``'s native copy goes through
    pandas, which a store of scale L leaves no room for beside the app. Run in a process of its
    own (its memory is not the app's), the copies made before the clock starts (``copies``); its
    figures are checked equal to the app's, as ``measure`` checks its own. Returns the seconds
    (``limit``: the median run; ``copies``) and the figures."""
    engine = database.get_engine(f"sqlite:///{path}")
    # Quiet before this module is imported there: outside a server, its caches say so.
    spawn, quiet = multiprocessing.get_context("spawn"), ("error",)
    with ProcessPoolExecutor(1, mp_context=spawn, initializer=logger.set_log_level, initargs=quiet) as pool:
        copying, times, figures = pool.submit(_channels_limit, str(path), scope, repeat).result()
    ours = {}
    for goal, lookback in zip(("booking", "enrollment"), LOOKBACKS, strict=True):
        for model, credits in attribute(scope, goal, lookback, engine).credits.items():
            ours |= {(goal, model, channel): float(credit) for channel, credit in credits.items()}
    ours |= {("reached", channel): n for channel, n in marketing.reached_by_channel(scope, engine).items()}
    _same(ours, figures, "limite de la page canaux")
    return {"copies": copying, "limit": sorted(times)[len(times) // 2], "figures": figures}


def _channels_limit(path: str, scope: Scope, repeat: int) -> tuple[float, list[float], dict]:
    """In the reference's process: (seconds of the copies, seconds of each run, figures)."""
    copies = columnar._Copies(path)  # noqa: SLF001 - the worker's copies, exactly
    try:
        start = time.perf_counter()
        copies.refresh(dict.fromkeys(("touchpoints", "bookings", "enrollments"), 0))
        copying = time.perf_counter() - start
        copies.connection.execute(f"USE {columnar.COPIES}")
        reference = _DuckDB.over(copies.connection, scope, scope.start)
        times, figures = [], {}
        for _ in range(repeat):
            start = time.perf_counter()
            figures = reference.channels_page()
            times.append(time.perf_counter() - start)
        return copying, times, figures
    finally:
        copies.close()


def format_limit(page: float, limit: dict[str, float]) -> str:
    """The channels page cold beside its limit, in one line."""
    return (
        f"canaux : page entière à froid {page:.2f} s ; limite (référence DuckDB en SQL sur les copies "
        f"en colonnes : six modèles × deux objectifs et portée) {limit['limit']:.2f} s, copies "
        f"{limit['copies']:.1f} s non comptées ; page / limite {page / limit['limit']:.1f}×"
    )
