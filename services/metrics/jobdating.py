"""Job-dating figures (metrics.md, *Job dating*): the report's figures and the directors' page."""

from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.config import LOCAL_TZ
from services.jobdating.seekers import seeking_candidates, seeking_enrollments
from services.metrics.bookings import ratio
from services.metrics.results import site_names
from services.store.database import get_engine
from services.store.events import program_names
from services.store.models import (
    MEETING_OUTCOMES,
    MEETING_STATUSES,
    Candidate,
    Company,
    Enrollment,
    Meeting,
    Offer,
)
from services.store.scope import Scope

MEETINGS = Meeting.__table__
OFFERS = Offer.__table__
ENROLLMENTS = Enrollment.__table__
COMPANIES = Company.__table__
CANDIDATES = Candidate.__table__
MUTUAL_OUTCOMES = ("both_interested", "contract_signed")
#: The steps of the job-dating funnel, in order (metrics.md, *Entonnoir du job dating*).
FUNNEL_STEPS = ("planned", "held", "mutual_interest", "contracts")
#: What a breakdown of the funnel groups by: the meeting's offer's programme or site.
FUNNEL_GROUPS = ("program_code", "site_code")


def meetings_in_scope(scope: Scope) -> list[sa.ColumnElement[bool]]:
    """Meeting start date in the period, of the event when set; site and programme of its offer."""
    conditions = [scope.within(MEETINGS.c.starts_at)]
    if scope.event:
        conditions.append(MEETINGS.c.event_code == scope.event)
    if scope.narrowed_to_offerings:
        offer_matches = sa.select(OFFERS.c.ref).where(
            *scope.offering_filters(OFFERS.c.site_code, OFFERS.c.program_code)
        )
        conditions.append(MEETINGS.c.offer_ref.in_(offer_matches))
    return conditions


def _offers_in_period(scope: Scope) -> list[sa.ColumnElement[bool]]:
    return [
        scope.on_dates(OFFERS.c.published_on),
        *scope.offering_filters(OFFERS.c.site_code, OFFERS.c.program_code),
    ]


def job_dating_figures(scope: Scope, engine: Engine | None = None) -> dict:
    """Every job-dating figure of the scope, as ``report --json`` prints it."""
    in_scope = meetings_in_scope(scope)
    counts_query = (
        sa.select(MEETINGS.c.status, MEETINGS.c.outcome, sa.func.count())
        .where(*in_scope)
        .group_by(MEETINGS.c.status, MEETINGS.c.outcome)
    )
    met = sa.select(MEETINGS.c.candidate_ref).where(*in_scope)
    seeking = seeking_candidates(scope).subquery()
    with (engine or get_engine()).connect() as connection:
        counts = connection.execute(counts_query).all()
        positions = connection.execute(
            sa.select(sa.func.coalesce(sa.func.sum(OFFERS.c.positions), 0)).where(*_offers_in_period(scope))
        ).scalar_one()
        seeking_count = connection.execute(sa.select(sa.func.count()).select_from(seeking)).scalar_one()
        contracts = connection.execute(
            sa.select(sa.func.count(sa.distinct(MEETINGS.c.candidate_ref))).where(
                *in_scope, MEETINGS.c.outcome == "contract_signed"
            )
        ).scalar_one()
        uncovered_offers = connection.execute(
            sa.select(sa.func.count()).where(
                *_offers_in_period(scope),
                OFFERS.c.ref.not_in(sa.select(MEETINGS.c.offer_ref).where(*in_scope)),
            )
        ).scalar_one()
        uncovered_candidates = connection.execute(
            sa.select(sa.func.count()).select_from(seeking).where(seeking.c.candidate_ref.not_in(met))
        ).scalar_one()
    by_status = dict.fromkeys(MEETING_STATUSES, 0)
    by_outcome = dict.fromkeys(MEETING_OUTCOMES, 0)
    held_mutual = 0
    for status, outcome, count in counts:
        by_status[status] += count
        by_outcome[outcome] += count
        if status == "held" and outcome in MUTUAL_OUTCOMES:
            held_mutual += count
    return {
        "positions": int(positions),
        "seeking_candidates": seeking_count,
        "meetings": {"total": sum(by_status.values()), "by_status": by_status, "by_outcome": by_outcome},
        "meeting_show_rate": ratio(by_status["held"], by_status["held"] + by_status["no_show"]),
        "mutual_interest_rate": ratio(held_mutual, by_status["held"]),
        "contracts_signed": contracts,
        "uncovered_offers": uncovered_offers,
        "uncovered_candidates": uncovered_candidates,
    }


# -- the directors' page ------------------------------------------------------------------


def previous_year(scope: Scope) -> Scope:
    """The same period one year earlier, with the same site and programme filters (no event)."""

    def earlier(day: date) -> date:
        return day.replace(year=day.year - 1, day=28 if (day.month, day.day) == (2, 29) else day.day)

    return Scope(earlier(scope.date_from), earlier(scope.date_to), None, scope.sites, scope.programs)


def _names(table: pd.DataFrame) -> pd.DataFrame:
    """The table with the programme's and the site's names after their codes."""
    programmes, sites = program_names(), site_names()
    named = table.copy()
    named.insert(named.columns.get_loc("program_code") + 1, "program", named["program_code"].map(programmes))
    named.insert(named.columns.get_loc("site_code") + 1, "site", named["site_code"].map(sites))
    return named


def _offer_supply(connection: sa.Connection, scope: Scope, keys: tuple[str, ...]) -> pd.DataFrame:
    columns = [OFFERS.c[key] for key in keys]
    rows = connection.execute(
        sa.select(*columns, sa.func.count(), sa.func.coalesce(sa.func.sum(OFFERS.c.positions), 0))
        .where(*_offers_in_period(scope))
        .group_by(*columns)
    ).all()
    return pd.DataFrame(rows, columns=[*keys, "offers", "positions"])


def _supply_and_demand(scope: Scope, keys: tuple[str, ...], engine: Engine | None) -> pd.DataFrame:
    seeking_columns = [ENROLLMENTS.c[key] for key in keys]
    with (engine or get_engine()).connect() as connection:
        offers = _offer_supply(connection, scope, keys)
        previous = _offer_supply(connection, previous_year(scope), keys)
        seeking = pd.DataFrame(
            connection.execute(
                sa.select(*seeking_columns, sa.func.count(sa.distinct(ENROLLMENTS.c.candidate_ref)))
                .where(*seeking_enrollments(scope))
                .group_by(*seeking_columns)
            ).all(),
            columns=[*keys, "seeking"],
        )
    frames = [frame.fillna({key: "—" for key in keys}).set_index(list(keys)) for frame in (offers, seeking)]
    previous = previous.fillna({key: "—" for key in keys}).set_index(list(keys))
    table = (
        frames[0]
        .join(frames[1], how="outer")
        .join(previous.add_suffix("_previous"), how="outer")
        .fillna(0)
        .astype(int)
    )
    table["gap"] = table["seeking"] - table["positions"]
    return table.reset_index().sort_values(list(keys)).reset_index(drop=True)


def supply_and_demand(scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """Per programme and site: offers and positions published in the period, the same one year
    earlier, seeking candidates (by the programme and site of their seeking enrollment) and the
    gap (seeking − positions). Rows for every programme and site with offers or seekers now, or
    offers a year earlier."""
    return _names(_supply_and_demand(scope, ("program_code", "site_code"), engine))


def supply_by_programme(scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """The same per programme, all sites together (a candidate counted once per programme)."""
    table = _supply_and_demand(scope, ("program_code",), engine)
    table.insert(1, "program", table["program_code"].map(program_names()))
    return table


def imbalances(by_programme: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The programmes where seeking candidates outnumber positions (largest gap first), and those
    where positions outnumber seeking candidates (largest surplus first)."""
    short = by_programme[by_programme["gap"] > 0]
    short = short.sort_values(["gap", "program_code"], ascending=[False, True])
    surplus = by_programme[by_programme["gap"] < 0].sort_values(["gap", "program_code"])
    return short.reset_index(drop=True), surplus.reset_index(drop=True)


def _meetings_frame(scope: Scope, engine: Engine | None) -> pd.DataFrame:
    """The meetings in scope with their offer's programme and site, and their local date."""
    query = (
        sa.select(
            MEETINGS.c.candidate_ref,
            MEETINGS.c.starts_at,
            MEETINGS.c.status,
            MEETINGS.c.outcome,
            MEETINGS.c.contract_signed_on,
            OFFERS.c.program_code,
            OFFERS.c.site_code,
        )
        .select_from(MEETINGS.join(OFFERS, OFFERS.c.ref == MEETINGS.c.offer_ref))
        .where(*meetings_in_scope(scope))
    )
    with (engine or get_engine()).connect() as connection:
        frame = pd.DataFrame(
            connection.execute(query).all(),
            columns=[
                "candidate_ref",
                "starts_at",
                "status",
                "outcome",
                "contract_signed_on",
                "program_code",
                "site_code",
            ],
        )
    frame[["program_code", "site_code"]] = frame[["program_code", "site_code"]].fillna("—")
    frame["day"] = pd.to_datetime(frame["starts_at"], utc=True).dt.tz_convert(LOCAL_TZ).dt.date
    return frame


def _funnel_row(group: pd.DataFrame, first_held: pd.Series) -> dict:
    held = group["status"] == "held"
    no_show = int((group["status"] == "no_show").sum())
    mutual = int((held & group["outcome"].isin(MUTUAL_OUTCOMES)).sum())
    signed = group[group["outcome"] == "contract_signed"]
    # A candidate's contract: the first date among their signed meetings of the group; from their
    # first meeting held in scope (whatever its offer).
    dates = signed.dropna(subset=["contract_signed_on"]).groupby("candidate_ref")["contract_signed_on"].min()
    days = [
        (signed_on - first_held[candidate]).days
        for candidate, signed_on in dates.items()
        if candidate in first_held
    ]
    return {
        "planned": int((group["status"] != "cancelled").sum()),
        "held": int(held.sum()),
        "mutual_interest": mutual,
        "contracts": int(signed["candidate_ref"].nunique()),
        "no_show": no_show,
        "show_rate": ratio(int(held.sum()), int(held.sum()) + no_show),
        "mutual_interest_rate": ratio(mutual, int(held.sum())),
        "days_to_contract": float(pd.Series(days).median()) if days else None,
        "contracts_dated": len(days),
    }


def funnel(scope: Scope, by: str | None = None, engine: Engine | None = None) -> pd.DataFrame:
    """The job-dating funnel of the scope (one row), or per programme or site of the meetings'
    offers (``by``: ``program_code`` or ``site_code``; groups with a meeting in scope only).

    planned: meetings in scope not cancelled; held; mutual_interest: held with outcome
    both_interested or contract_signed; contracts: distinct candidates with a meeting in scope
    whose outcome is contract_signed. show_rate = held / (held + no_show); days_to_contract: the
    median, over the candidates with a contract date, of days from their first meeting held in
    scope to their contract (contracts_dated: how many candidates that median is over).
    """
    if by is not None and by not in FUNNEL_GROUPS:
        raise ValueError(f"regroupement inconnu : {by}")
    meetings = _meetings_frame(scope, engine)
    held = meetings[meetings["status"] == "held"]
    first_held = held.groupby("candidate_ref")["day"].min()
    if by is None:
        return pd.DataFrame([_funnel_row(meetings, first_held)])
    rows = [{by: key, **_funnel_row(group, first_held)} for key, group in meetings.groupby(by, sort=True)]
    columns = [by, *_funnel_row(meetings.iloc[:0], first_held)]
    table = pd.DataFrame(rows, columns=columns)
    names = program_names() if by == "program_code" else site_names()
    table.insert(1, "program" if by == "program_code" else "site", table[by].map(names))
    return table


def uncovered_offers(scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """The offers published in the period with no meeting in scope: company, offer, programme,
    site, positions, publication date."""
    query = (
        sa.select(
            COMPANIES.c.name,
            OFFERS.c.ref,
            OFFERS.c.program_code,
            OFFERS.c.site_code,
            OFFERS.c.positions,
            OFFERS.c.published_on,
        )
        .select_from(OFFERS.join(COMPANIES, COMPANIES.c.siret == OFFERS.c.siret))
        .where(
            *_offers_in_period(scope),
            OFFERS.c.ref.not_in(sa.select(MEETINGS.c.offer_ref).where(*meetings_in_scope(scope))),
        )
        .order_by(OFFERS.c.program_code, OFFERS.c.site_code, COMPANIES.c.name, OFFERS.c.ref)
    )
    with (engine or get_engine()).connect() as connection:
        table = pd.DataFrame(
            connection.execute(query).all(),
            columns=["company", "offer_ref", "program_code", "site_code", "positions", "published_on"],
        )
    return _names(table)


def uncovered_candidates(scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """The seeking candidates with no meeting in scope, by name, with the programme and site of
    each enrollment that makes them seeking (personal data: for roles that may see names)."""
    met = sa.select(MEETINGS.c.candidate_ref).where(*meetings_in_scope(scope))
    query = (
        sa.select(
            CANDIDATES.c.last_name,
            CANDIDATES.c.first_name,
            ENROLLMENTS.c.program_code,
            ENROLLMENTS.c.site_code,
            ENROLLMENTS.c.status,
        )
        .select_from(ENROLLMENTS.join(CANDIDATES, CANDIDATES.c.ref == ENROLLMENTS.c.candidate_ref))
        .where(*seeking_enrollments(scope), ENROLLMENTS.c.candidate_ref.not_in(met))
        .order_by(
            ENROLLMENTS.c.program_code,
            ENROLLMENTS.c.site_code,
            CANDIDATES.c.last_name,
            CANDIDATES.c.first_name,
            ENROLLMENTS.c.candidate_ref,
        )
    )
    with (engine or get_engine()).connect() as connection:
        table = pd.DataFrame(
            connection.execute(query).all(),
            columns=["last_name", "first_name", "program_code", "site_code", "enrollment_status"],
        )
    return _names(table)


def uncovered_counts(scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """Per programme and site: offers and positions with no meeting in scope, seeking candidates
    with none (no name: what marketing sees)."""
    met = sa.select(MEETINGS.c.candidate_ref).where(*meetings_in_scope(scope))
    offers_query = (
        sa.select(
            OFFERS.c.program_code,
            OFFERS.c.site_code,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(OFFERS.c.positions), 0),
        )
        .where(
            *_offers_in_period(scope),
            OFFERS.c.ref.not_in(sa.select(MEETINGS.c.offer_ref).where(*meetings_in_scope(scope))),
        )
        .group_by(OFFERS.c.program_code, OFFERS.c.site_code)
    )
    candidates_query = (
        sa.select(
            ENROLLMENTS.c.program_code,
            ENROLLMENTS.c.site_code,
            sa.func.count(sa.distinct(ENROLLMENTS.c.candidate_ref)),
        )
        .where(*seeking_enrollments(scope), ENROLLMENTS.c.candidate_ref.not_in(met))
        .group_by(ENROLLMENTS.c.program_code, ENROLLMENTS.c.site_code)
    )
    keys = ["program_code", "site_code"]
    with (engine or get_engine()).connect() as connection:
        offers = pd.DataFrame(
            connection.execute(offers_query).all(), columns=[*keys, "uncovered_offers", "uncovered_positions"]
        )
        candidates = pd.DataFrame(
            connection.execute(candidates_query).all(), columns=[*keys, "uncovered_candidates"]
        )
    offers = offers.fillna({key: "—" for key in keys}).set_index(keys)
    table = offers.join(candidates.set_index(keys), how="outer").fillna(0).astype(int)
    return _names(table.reset_index().sort_values(keys).reset_index(drop=True))
