"""The young people a job dating is for: candidates pre-registered or enrolled, in the site and
programme filters, who have not signed a contract yet (metrics.md, *Job dating*)."""

from __future__ import annotations

import sqlalchemy as sa

from services.store.models import Enrollment, Meeting
from services.store.scope import Scope

MEETINGS = Meeting.__table__
ENROLLMENTS = Enrollment.__table__
SEEKING_STATUSES = ("pre_registered", "enrolled")


def seeking_enrollments(scope: Scope) -> list[sa.ColumnElement[bool]]:
    """The enrollments that make their candidate a seeking candidate (in the site/programme filters)."""
    signed = sa.select(MEETINGS.c.candidate_ref).where(MEETINGS.c.outcome == "contract_signed")
    return [
        ENROLLMENTS.c.status.in_(SEEKING_STATUSES),
        ENROLLMENTS.c.candidate_ref.not_in(signed),
        *scope.offering_filters(ENROLLMENTS.c.site_code, ENROLLMENTS.c.program_code),
    ]


def seeking_candidates(scope: Scope) -> sa.Select:
    """Candidates pre-registered or enrolled (in the site/programme filters) without a signed contract."""
    return sa.select(ENROLLMENTS.c.candidate_ref).where(*seeking_enrollments(scope)).distinct()
