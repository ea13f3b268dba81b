"""The marketing view: channels, models side by side, how sure, sources, campaigns, e-mail, hygiene."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.access.privacy import age_on
from services.access.roles import SMALL_GROUP
from services.config import LOCAL_TZ
from services.metrics import money
from services.metrics.attribution import (
    DIRECT,
    MODELS,
    JourneyData,
    journey_numbers,
    markov_paths,
    removal_credits,
    touch_credits,
    unique_rows,
)
from services.metrics.bookings import BOOKINGS, in_scope, ratio
from services.store import analytics, channels
from services.store.database import get_engine
from services.store.models import CHANNELS, Campaign, Candidate, Touchpoint
from services.store.scope import Scope

TOUCHPOINTS = Touchpoint.__table__
CAMPAIGNS = Campaign.__table__
CANDIDATES = Candidate.__table__
#: Default lookback per goal: enrollments come weeks after the first contacts.
DEFAULT_LOOKBACK = {"booking": 30, "enrollment": 90}
#: Below this many conversions with the channel in their journey, its figures are not reliable.
MIN_CONVERSIONS = 30
BOOTSTRAP_SAMPLES = 200
MARKOV_SAMPLES = 200
INTERVAL = (5.0, 95.0)
#: Channels whose utm_source is worth a detail (each newspaper site, each network).
DETAILED_CHANNELS = ("newspaper", "social")


def reached_by_channel(scope: Scope, engine: Engine | None = None) -> dict[str, int]:
    """Distinct candidates with a touchpoint of each channel in the period."""
    reached = sa.func.count(sa.distinct(TOUCHPOINTS.c.candidate_ref)).label("reached")
    query = (
        sa.select(TOUCHPOINTS.c.channel, reached)
        .where(scope.within(TOUCHPOINTS.c.occurred_at))
        .group_by(TOUCHPOINTS.c.channel)
    )
    frame = analytics.read_frame(query, engine)
    return {str(channel): int(count) for channel, count in frame.itertuples(index=False)}


def channel_table(
    scope: Scope,
    model: str,
    bookings: JourneyData,
    enrollments: JourneyData,
    goal: str,
    reached: dict[str, int],
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Per channel: reached (``reached_by_channel``), conversions credited under ``model`` for
    ``goal``, share, spend, and cost per booking and per enrollment under the same model."""
    credited = {
        "booking": bookings.attribution.credits[model],
        "enrollment": enrollments.attribution.credits[model],
    }
    spend = money.spend_by_channel(scope, engine)
    total = sum(credited[goal].values())
    rows = []
    for channel in CHANNELS:
        row = {
            "channel": channel,
            "reached": reached.get(channel, 0),
            "credit": credited[goal].get(channel, 0.0),
            "share": ratio(credited[goal].get(channel, 0.0), total),
            "spend": spend.get(channel, 0.0),
            "cost_per_booking": ratio(spend.get(channel, 0.0), credited["booking"].get(channel, 0.0)),
            "cost_per_enrollment": ratio(spend.get(channel, 0.0), credited["enrollment"].get(channel, 0.0)),
        }
        if row["reached"] or row["credit"] or row["spend"]:
            rows.append(row)
    return pd.DataFrame(
        rows,
        columns=["channel", "reached", "credit", "share", "spend", "cost_per_booking", "cost_per_enrollment"],
    )


def models_side_by_side(data: JourneyData) -> pd.DataFrame:
    """Each channel's credit under the six models (long form: model, channel, credit)."""
    credits = data.attribution.credits
    return pd.DataFrame(
        [(model, channel, value) for model in MODELS for channel, value in credits[model].items()],
        columns=["model", "channel", "credit"],
    )


def opener_and_closer(data: JourneyData) -> tuple[str, str] | None:
    """The channel that most opens journeys (first touch ≫ last touch) and the one that most closes
    them (last touch ≫ first touch); None when the two models agree.

    Direct is left out: last touch skips it by definition, so it always seems to "open".
    """
    credits = data.attribution.credits
    gap = {
        c: credits["first_touch"].get(c, 0.0) - credits["last_touch"].get(c, 0.0)
        for c in (set(credits["first_touch"]) | set(credits["last_touch"])) - {DIRECT}
    }
    if not gap or max(gap.values()) < 0.5 or min(gap.values()) > -0.5:
        return None
    return max(gap, key=gap.get), min(gap, key=gap.get)


def conversions_per_channel(data: JourneyData) -> dict[str, int]:
    """How many conversions have each channel in their journey (empty journeys count for direct)."""
    channels, order, bounds = data.touches_by_channel
    # A journey's touches are contiguous, so within a channel its journeys' numbers never
    # decrease: each channel's count is its first touch and each change of number after it.
    journeys = journey_numbers(data.journey)[order]
    new = np.r_[True, journeys[1:] != journeys[:-1]] if len(journeys) else np.zeros(0, dtype=bool)
    new[bounds[:-1][bounds[:-1] < len(new)]] = True
    per_channel = np.add.reduceat(new, bounds[:-1]) if len(journeys) else []
    counts = dict(zip(channels, per_channel, strict=True))
    if data.empty_journeys:
        counts[DIRECT] = counts.get(DIRECT, 0) + data.empty_journeys
    return {channel: int(count) for channel, count in counts.items()}


def credit_matrix(data: JourneyData, model: str) -> pd.DataFrame:
    """One row per conversion, one column per channel: its credit under a rule-based model."""
    rows = pd.Index(data.converted["candidate_ref"], name="candidate_ref")
    journey = data.journey
    # Summed by cell position (a groupby on candidate ref and channel, then reindex and isin on
    # the refs, took 2 s at scale L).
    # A journey's touches are contiguous (journeys()), so its refs are matched once, not per touch.
    journey_of_touch = journey_numbers(journey)
    journey_rows = rows.get_indexer(journey.loc[journey["step"] == 0, "candidate_ref"])
    row = journey_rows[journey_of_touch]
    column, channels = pd.factorize(journey["channel"], sort=True)
    shares = touch_credits(journey, model).to_numpy() if len(journey) else np.zeros(0)
    cells = np.bincount(row * len(channels) + column, weights=shares, minlength=len(rows) * len(channels))
    matrix = pd.DataFrame(
        cells.reshape(len(rows), len(channels)), index=rows, columns=pd.Index(channels, name="channel")
    )
    empty = np.ones(len(rows), dtype=bool)  # conversions without a touch (rows.isin: 1.6 s at L)
    empty[journey_rows] = False
    if empty.any():
        matrix[DIRECT] = matrix.get(DIRECT, 0.0) + np.where(empty, 1.0, 0.0)
    return matrix


def intervals(data: JourneyData, model: str, seed: int = 2020) -> pd.DataFrame:
    """A 90 % bootstrap interval of each channel's credit (conversions resampled, seeded).

    Rule-based models resample conversions; Markov resamples the converting journeys and the
    non-converters' paths and solves the chain again each time.
    """
    point = data.attribution.credits[model]
    rng = np.random.default_rng(seed)
    if model == "markov":
        samples = _markov_samples(data, rng)
    else:
        matrix = credit_matrix(data, model)
        n = len(matrix)
        if n == 0:
            return pd.DataFrame(columns=["channel", "credit", "low", "high"])
        # Each sample sums n conversions drawn with replacement: how many times each is drawn
        # times its credits, a matrix product (gathering the drawn rows took 5 times longer at
        # scale L). Conversions with the same credits (the same path, for every model but time
        # decay) are one row of the product, and how many times each row is drawn follows the
        # multinomial law of n draws among the rows weighted by their conversions: drawn
        # directly, at scale L 1,316 counts per sample instead of 344,139 indices (linear, the 200
        # samples: 4.3 s → 0.3 s under load). Where most conversions have credits of their own
        # (time decay), the conversions themselves are drawn: a multinomial count over as many
        # rows costs more than drawing their indices (6 times more at scale M).
        values = matrix.to_numpy()
        credits, row_of = unique_rows(values)
        if len(credits) <= n // 2:
            weights = np.bincount(row_of, minlength=len(credits)) / n
            counts = rng.multinomial(n, weights, size=BOOTSTRAP_SAMPLES)
        else:
            credits = values
            counts = (np.bincount(rng.integers(0, n, size=n), minlength=n) for _ in range(BOOTSTRAP_SAMPLES))
        drawn = [row.astype(float) @ credits for row in counts]
        samples = pd.DataFrame(drawn, columns=matrix.columns)
    low, high = np.percentile(samples.to_numpy(), INTERVAL, axis=0) if len(samples) else ([], [])
    table = pd.DataFrame({"channel": samples.columns, "low": low, "high": high})
    table["credit"] = table["channel"].map(point).fillna(0.0)
    # The interval always holds the figure it is about (a percentile can miss it by rounding).
    table["low"] = np.minimum(table["low"], table["credit"])
    table["high"] = np.maximum(table["high"], table["credit"])
    return table[["channel", "credit", "low", "high"]]


def _markov_samples(data: JourneyData, rng: np.random.Generator) -> pd.DataFrame:
    """Markov credits of resampled data: conversions drawn with replacement (a drawn empty journey
    adds 1 to direct), and the non-converters' paths drawn with replacement among themselves."""
    paths = markov_paths(data.journey, data.non_converters)
    # Each conversion's path (the journeys' order, as in markov_paths), -1 for an empty journey.
    journey_refs = pd.Index(data.journey.loc[data.journey["step"] == 0, "candidate_ref"])
    rows_of_conversions = journey_refs.get_indexer(data.converted["candidate_ref"])
    n_conversions, n_others = len(rows_of_conversions), len(paths.rows) - paths.converting
    samples = []
    for _ in range(MARKOV_SAMPLES):
        picked = rng.integers(0, n_conversions, size=n_conversions) if n_conversions else []
        drawn = rows_of_conversions[picked] if n_conversions else []
        drawn = np.asarray(drawn, dtype=np.int64)
        with_journey = drawn[drawn >= 0]
        others = paths.converting + rng.integers(0, n_others, size=n_others) if n_others else []
        weights = np.bincount(np.r_[with_journey, others].astype(np.int64), minlength=len(paths.rows))
        credits = removal_credits(paths, weights) or {}
        if len(drawn) > len(with_journey):
            credits[DIRECT] = credits.get(DIRECT, 0.0) + len(drawn) - len(with_journey)
        samples.append(credits)
    return pd.DataFrame(samples).fillna(0.0)


#: The path of a conversion without any known visit (the page names it in its language).
NO_CONTACT = "(aucun contact)"


def top_paths(data: JourneyData, limit: int = 10) -> pd.DataFrame:
    """The most frequent channel paths before conversion (``social → email``), with counts."""
    paths = data.journey.groupby("candidate_ref", sort=False)["channel"].agg(" → ".join)
    if data.empty_journeys:
        paths = pd.concat([paths, pd.Series([NO_CONTACT] * data.empty_journeys)])
    counts = paths.value_counts().head(limit)
    return pd.DataFrame({"path": counts.index, "conversions": counts.to_numpy()})


def days_to_conversion(data: JourneyData) -> pd.Series:
    """Days (fractional) from each conversion's first touch to the conversion."""
    if data.journey.empty:
        return pd.Series(dtype=float)
    first = data.journey.groupby("candidate_ref")[["occurred_at", "converted_at"]].min()
    return ((first["converted_at"] - first["occurred_at"]).dt.total_seconds() / 86_400).rename("days")


def weekly_conversions(data: JourneyData, model: str) -> pd.DataFrame:
    """Conversions credited per week (Monday, local date) and channel under a rule-based model
    (linear for Markov, whose credits are not per conversion)."""
    matrix = credit_matrix(data, "linear" if model == "markov" else model)
    if matrix.empty:
        return pd.DataFrame(columns=["week", "channel", "credit"])
    when = data.converted.set_index("candidate_ref")["converted_at"].reindex(matrix.index)
    local = when.dt.tz_convert("Europe/Paris").dt.tz_localize(None).dt.normalize()
    weeks = (local - pd.to_timedelta(local.dt.day_of_week, unit="D")).dt.date.to_numpy()
    long = matrix.assign(week=weeks).melt(id_vars="week", var_name="channel", value_name="credit")
    return long.groupby(["week", "channel"], as_index=False)["credit"].sum()


def _touch_counts(scope: Scope, engine: Engine | None) -> pd.DataFrame:
    """Touchpoints of the period counted by their tags and how their channel was set: a few
    thousand rows where the touches themselves are hundreds of thousands at scale."""
    tags = [
        TOUCHPOINTS.c.channel,
        TOUCHPOINTS.c.utm_source,
        TOUCHPOINTS.c.utm_medium,
        TOUCHPOINTS.c.utm_campaign,
        TOUCHPOINTS.c.channel_explicit,
        TOUCHPOINTS.c.channel_rule,
    ]
    query = (
        sa.select(*tags, sa.func.count().label("touchpoints"))
        .where(scope.within(TOUCHPOINTS.c.occurred_at))
        .group_by(*tags)
    )
    return analytics.read_frame(query, engine)


def _normal(values: pd.Series) -> pd.Series:
    return values.fillna("").str.strip().str.lower()


def source_detail(scope: Scope, data: JourneyData, model: str, engine: Engine | None = None) -> pd.DataFrame:
    """Newspaper sites and social networks by utm_source (trimmed, lower-cased): touchpoints and
    candidates in the period, and conversions credited to their touches (linear for Markov)."""
    seen = _seen_by_source(scope, engine).set_index(["channel", "source"])
    credited = pd.Series(dtype=float)
    if not data.journey.empty:
        # The detailed channels' touches only: at scale L, normalising and grouping every touch's
        # source took a third of a second, for rows the table leaves out.
        detailed = data.journey["channel"].isin(DETAILED_CHANNELS).to_numpy()
        touches = data.journey.loc[detailed, ["channel", "utm_source"]]
        shares = _shares(data, model)[detailed]
        credited = shares.groupby([touches["channel"], _normal(touches["utm_source"])]).sum()
    seen["credit"] = credited.reindex(seen.index).fillna(0.0) if len(seen) else []
    return (
        seen.reset_index().sort_values(["channel", "credit"], ascending=[True, False]).reset_index(drop=True)
    )


def _seen_by_source(scope: Scope, engine: Engine | None) -> pd.DataFrame:
    """Touchpoints and distinct candidates in the period by detailed channel and normalised
    utm_source, counted in the database (at scale L, 2.5 s → 1.5 s against reading the touches):
    the few distinct raw sources are read first and normalised here (``_normal``: a database's
    lower() depends on its locale), then given to the count as a table of values."""
    in_period = [scope.within(TOUCHPOINTS.c.occurred_at), TOUCHPOINTS.c.channel.in_(DETAILED_CHANNELS)]
    raw = sa.func.coalesce(TOUCHPOINTS.c.utm_source, "")
    sources = analytics.read_frame(sa.select(raw.label("raw")).where(*in_period).distinct(), engine)["raw"]
    columns = ["channel", "source", "touchpoints", "reached"]
    if sources.empty:
        return pd.DataFrame(columns=columns)
    normal = sa.values(sa.column("raw", sa.String), sa.column("source", sa.String), name="normal").data(
        list(zip(sources, _normal(sources), strict=True))
    )
    query = (
        sa.select(
            TOUCHPOINTS.c.channel,
            normal.c.source,
            sa.func.count().label("touchpoints"),
            sa.func.count(sa.distinct(TOUCHPOINTS.c.candidate_ref)).label("reached"),
        )
        .join_from(TOUCHPOINTS, normal, raw == normal.c.raw)
        .where(*in_period)
        .group_by(TOUCHPOINTS.c.channel, normal.c.source)
    )
    return analytics.read_frame(query, engine)[columns]


def _shares(data: JourneyData, model: str) -> pd.Series:
    """Each journey touch's share of its conversion (linear for Markov, which has no per-touch credit)."""
    return touch_credits(data.journey, "linear" if model == "markov" else model)


def campaign_results(
    scope: Scope, bookings: JourneyData, enrollments: JourneyData, model: str, engine: Engine | None = None
) -> pd.DataFrame:
    """Campaigns starting in the period: spend, bookings and enrollments credited to touches tagged
    with the campaign's code (utm_campaign, case and spaces ignored), cost per conversion."""
    query = sa.select(CAMPAIGNS.c.code, CAMPAIGNS.c.name, CAMPAIGNS.c.channel, CAMPAIGNS.c.spend_eur).where(
        scope.on_dates(CAMPAIGNS.c.starts_on),
        *([CAMPAIGNS.c.event_code == scope.event] if scope.event else []),
    )
    with (engine or get_engine()).connect() as connection:
        table = pd.DataFrame(connection.execute(query).all(), columns=["code", "name", "channel", "spend"])
    table["spend"] = table["spend"].astype(float).fillna(0.0)
    for goal, data in (("bookings", bookings), ("enrollments", enrollments)):
        table[goal] = _normal(table["code"]).map(_credit_by_campaign(data, model)).fillna(0.0)
    table["cost_per_booking"] = [ratio(s, b) for s, b in zip(table["spend"], table["bookings"], strict=True)]
    table["cost_per_enrollment"] = [
        ratio(s, e) for s, e in zip(table["spend"], table["enrollments"], strict=True)
    ]
    return table


def _credit_by_campaign(data: JourneyData, model: str) -> pd.Series:
    """Credits of the journey touches, by normalised utm_campaign."""
    if data.journey.empty:
        return pd.Series(dtype=float)
    return _shares(data, model).groupby(_normal(data.journey["utm_campaign"])).sum()


def email_funnel(
    scope: Scope, bookings: JourneyData, enrollments: JourneyData, engine: Engine | None = None
) -> pd.DataFrame:
    """Per e-mail campaign: sent → opened → clicked → booked → enrolled, with rates.

    booked / enrolled: conversions (in the period) whose journey holds a touch tagged with the
    campaign; each rate is a step over the one before it, and over sent for opened."""
    table = money.email_campaigns(scope, engine)
    for goal, data in (("booked", bookings), ("enrolled", enrollments)):
        table[goal] = _normal(table["code"]).map(_conversions_by_campaign(data)).fillna(0).astype(int)
    table["click_to_open"] = [
        money.rate(c, o) for c, o in zip(table["clicked"], table["opened"], strict=True)
    ]
    table["click_to_booking"] = [
        money.rate(b, c) for b, c in zip(table["booked"], table["clicked"], strict=True)
    ]
    table["booking_to_enrollment"] = [
        ratio(e, b) for e, b in zip(table["enrolled"], table["booked"], strict=True)
    ]
    return table


def _conversions_by_campaign(data: JourneyData) -> pd.Series:
    """Conversions whose journey holds a touch of each (normalised) utm_campaign."""
    if data.journey.empty:
        return pd.Series(dtype=int)
    return data.journey.groupby(_normal(data.journey["utm_campaign"]))["candidate_ref"].nunique()


def hygiene(scope: Scope, data: JourneyData, engine: Engine | None = None) -> dict[str, object]:
    """What marketing can fix in its tagging.

    - ``untagged_share``: conversions whose journey is empty or only direct;
    - ``variants``: utm_source / utm_medium values that differ only by case or spaces;
    - ``unknown_campaigns``: utm_campaign values of the period's touchpoints that match no campaign code;
    - ``rules``: touchpoints of the period by how their channel was set (explicit, or rule n).
    """
    untagged = data.empty_journeys
    if not data.journey.empty:
        some_tagged = (data.journey["channel"] != DIRECT).groupby(journey_numbers(data.journey)).any()
        untagged += int((~some_tagged).sum())
    touches = _touch_counts(scope, engine)
    variants = []
    for column in ("utm_source", "utm_medium"):
        raw = touches[touches[column] != ""].groupby(column)["touchpoints"].sum()
        grouped = raw.groupby(_normal(raw.index.to_series()).to_numpy())
        for normal, counts in grouped:
            if len(counts) > 1:
                variants.append(
                    {
                        "column": column,
                        "value": normal,
                        "variants": " | ".join(repr(v) for v in counts.index),
                        "touchpoints": int(counts.sum()),
                    }
                )
    with (engine or get_engine()).connect() as connection:
        codes = set(
            _normal(pd.Series(connection.execute(sa.select(CAMPAIGNS.c.code)).scalars().all(), dtype=str))
        )
        rules = channels.load_rules(connection)
    tagged = touches[touches["utm_campaign"].str.strip() != ""]
    unknown = tagged[~_normal(tagged["utm_campaign"]).isin(codes)]
    unknown_table = unknown.groupby("utm_campaign")["touchpoints"].sum().reset_index()
    labels = {rule.position: f"{rule.position}. {_describe(rule)}" for rule in rules}
    by_rule = touches["channel_rule"].map(lambda position: labels.get(position, "—"))
    how = by_rule.where(~touches["channel_explicit"].astype(bool), "explicit")
    rule_usage = touches.assign(rule=how).groupby(["rule", "channel"])["touchpoints"].sum().reset_index()
    return {
        "untagged_share": ratio(untagged, len(data.converted)),
        "variants": pd.DataFrame(variants, columns=["column", "value", "variants", "touchpoints"]),
        "unknown_campaigns": unknown_table,
        "rules": rule_usage,
    }


def _describe(rule: channels.Rule) -> str:
    parts = []
    if rule.when_untagged:
        parts.append("sans utm_source ni utm_medium")
    if rule.medium_in:
        parts.append("utm_medium ∈ {" + ", ".join(rule.medium_in) + "}")
    if rule.source_in:
        parts.append("utm_source ∈ {" + ", ".join(rule.source_in) + "}")
    if rule.source_ends_with:
        parts.append("utm_source finit par {" + ", ".join(rule.source_ends_with) + "}")
    return f"{' ou '.join(parts) or 'tout le reste'} → {rule.channel}"


def build_link(landing_page: str, source: str, medium: str, campaign: str) -> str:
    """The landing page with its utm tags (existing query parameters kept, utm ones replaced)."""
    parts = urlsplit(landing_page.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("page d'arrivée : adresse http(s) complète attendue")
    query = {
        k: v for k, v in parse_qs(parts.query, keep_blank_values=True).items() if not k.startswith("utm_")
    }
    tags = {"utm_source": source.strip(), "utm_medium": medium.strip(), "utm_campaign": campaign.strip()}
    query.update({k: [v] for k, v in tags.items() if v})
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


def channel_of_link(url: str, rules: tuple[channels.Rule, ...]) -> tuple[str, int | None]:
    """The channel the rules derive from a tagged link, and the rule that matched."""
    query = parse_qs(urlsplit(url).query)
    return channels.derive_channel(rules, query.get("utm_source", [""])[0], query.get("utm_medium", [""])[0])


#: Age bands at booking for the audience breakdown: (label key, from age, to age excluded).
AGE_BANDS = (
    ("under_15", None, 15),
    ("15_17", 15, 18),
    ("18_20", 18, 21),
    ("21_25", 21, 26),
    ("26_plus", 26, None),
)
UNKNOWN = "unknown"
#: The departments of fewer than 5 candidates, and unknown postal codes, as one group: a department
#: left out of the list would say it has none (docs/privacy.md, *Petits effectifs*).
OTHER = "other"


def department_of(postal_code: str | None) -> str:
    """The French department of a postal code: 2 digits, 3 overseas (97x, 98x); unknown otherwise."""
    code = postal_code.strip() if isinstance(postal_code, str) else ""
    if len(code) != 5 or not (code.isascii() and code.isdigit()):
        return UNKNOWN
    return code[:3] if code.startswith(("97", "98")) else code[:2]


def age_band(age: int | None) -> str:
    """The band of an age at booking (unknown without a birth date)."""
    if age is None or pd.isna(age):
        return UNKNOWN
    return next(
        label
        for label, low, high in AGE_BANDS
        if (low is None or age >= low) and (high is None or age < high)
    )


def audience_scope(scope: Scope) -> Scope:
    """The scope of the audience breakdown: the period widened to whole calendar months (filters
    kept), so that two periods a few days apart cannot be subtracted to single out a few people."""
    after_last_month = (scope.date_to.replace(day=1) + timedelta(days=31)).replace(day=1)
    return replace(
        scope, date_from=scope.date_from.replace(day=1), date_to=after_last_month - timedelta(days=1)
    )


def audience(scope: Scope, engine: Engine | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidates who booked in the scope (the funnel's *booked*), by age band at their first
    booking in the scope and by department (from the postal code; departments of fewer than 5
    candidates and unknown codes are one group, ``OTHER``, always there).

    Raw counts (columns ``group``, ``candidates``): the page hides small groups
    (services.access.roles.hide_small_groups) before anyone sees them, on ``audience_scope``.
    """
    first = (
        sa.select(
            BOOKINGS.c.candidate_ref,
            sa.func.min(BOOKINGS.c.starts_at).label("starts_at"),
        )
        .where(*in_scope(scope), BOOKINGS.c.status != "cancelled")
        .group_by(BOOKINGS.c.candidate_ref)
        .subquery()
    )
    query = sa.select(first.c.starts_at, CANDIDATES.c.birth_date, CANDIDATES.c.postal_code).join(
        CANDIDATES, CANDIDATES.c.ref == first.c.candidate_ref
    )
    with (engine or get_engine()).connect() as connection:
        rows = pd.DataFrame(
            connection.execute(query).all(), columns=["starts_at", "birth_date", "postal_code"]
        )
    starts = pd.to_datetime(rows["starts_at"], utc=True).dt.tz_convert(LOCAL_TZ).dt.date
    ages = [age_on(born, day) for born, day in zip(rows["birth_date"], starts, strict=True)]
    bands = pd.Series([age_band(age) for age in ages], dtype=object)
    order = [label for label, _, _ in AGE_BANDS] + [UNKNOWN]
    by_age = bands.value_counts().reindex(order, fill_value=0)
    by_department = pd.Series(
        [department_of(code) for code in rows["postal_code"]], dtype=object
    ).value_counts()
    listed = by_department[(by_department >= SMALL_GROUP) & (by_department.index != UNKNOWN)]
    other = pd.Series({OTHER: int(by_department.sum() - listed.sum())})
    by_department = pd.concat([listed, other])
    return (
        pd.DataFrame({"group": by_age.index, "candidates": by_age.to_numpy()}),
        pd.DataFrame({"group": by_department.index, "candidates": by_department.to_numpy()}),
    )
