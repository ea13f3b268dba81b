"""Job-dating figures (metrics.md, *Job dating*)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.bookings import ratio
from services.database import get_engine
from services.models import MEETING_OUTCOMES, MEETING_STATUSES, Enrollment, Meeting, Offer
from services.scope import Scope

MEETINGS = Meeting.__table__
OFFERS = Offer.__table__
ENROLLMENTS = Enrollment.__table__
MUTUAL_OUTCOMES = ("both_interested", "contract_signed")


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


def seeking_candidates(scope: Scope) -> sa.Select:
    """Candidates pre-registered or enrolled (in the site/programme filters) without a signed contract."""
    signed = sa.select(MEETINGS.c.candidate_ref).where(MEETINGS.c.outcome == "contract_signed")
    return (
        sa.select(ENROLLMENTS.c.candidate_ref)
        .where(
            ENROLLMENTS.c.status.in_(("pre_registered", "enrolled")),
            ENROLLMENTS.c.candidate_ref.not_in(signed),
            *scope.offering_filters(ENROLLMENTS.c.site_code, ENROLLMENTS.c.program_code),
        )
        .distinct()
    )


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
