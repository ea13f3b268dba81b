"""Candidates' consent to be presented to companies at job datings (docs/jobdating.md): who may be
presented, and recording it, whoever records it (the planning page, for one candidate or a
selection; an import of candidates.csv; the Cal.com sync). A consent withdrawn cancels, in the
same transaction, the planned meetings to come for which the candidate may no longer be
presented, with their history: a company's schedule never names someone who withdrew.

It sits under the importer and the job-dating package, which both call it (the importer inside
its write transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.access.privacy import age_on
from services.store import audit
from services.store.database import bump_data_version, retry_write
from services.store.models import Candidate, Event, Meeting, MeetingChange
from services.store.versioned import write_versioned

CANDIDATES = Candidate.__table__
EVENTS = Event.__table__
MEETINGS = Meeting.__table__
MEETING_CHANGES = MeetingChange.__table__
#: Under this age on the event's first day, a parent's consent is needed as well.
PARENT_CONSENT_UNDER = 15
#: Why a meeting change is refused after someone else's: the meetings' own saves, and a meeting
#: cancelled here that someone changed meanwhile (not expected: the writer's transaction holds it).
CHANGED = "cette rencontre vient d'être modifiée par quelqu'un d'autre"


class UnknownCandidates(ValueError):
    """Refs that name no stored candidate (message in French, refs only)."""


def may_be_presented(*, consent: bool, parent_consent: bool, birth_date: date | None, day: date) -> bool:
    """Whether a candidate may be suggested to companies at an event starting on ``day``.

    Their own consent always; under 15 on ``day``, a parent's as well. An unknown birth date may
    hide a child under 15: a parent's consent is needed then too (the safe side).
    """
    if not consent:
        return False
    age = age_on(birth_date, day)
    return bool(parent_consent) or (age is not None and age >= PARENT_CONSENT_UNDER)


@dataclass(frozen=True)
class ConsentChange:
    """A candidate's consents before and after a write."""

    ref: str
    was_consent: bool
    was_parent: bool
    consent: bool
    parent_consent: bool

    @property
    def changed(self) -> bool:
        return (self.was_consent, self.was_parent) != (self.consent, self.parent_consent)


def follow_consent_changes(
    connection: sa.Connection,
    changes: Sequence[ConsentChange],
    *,
    actor: str,
    via: str,
    now: datetime | None = None,
) -> list[str]:
    """What follows consents already written, in the writer's transaction: each one audited
    (``candidate.presentation_consent``, the ref, never a name; ``via`` says who wrote it), and
    the planned meetings to come of a candidate who may no longer be presented cancelled with
    their history. Returns the refs of the meetings cancelled. The caller bumps the data version."""
    now = now or datetime.now(UTC)
    cancelled_all: list[str] = []
    for change in changes:
        cancelled = []
        if not (change.consent and change.parent_consent):  # something may have been withdrawn
            born = connection.execute(
                sa.select(CANDIDATES.c.birth_date).where(CANDIDATES.c.ref == change.ref)
            ).scalar()
            upcoming = connection.execute(
                sa.select(MEETINGS, EVENTS.c.starts_on.label("first_day"))
                .join(EVENTS, EVENTS.c.code == MEETINGS.c.event_code)
                .where(
                    MEETINGS.c.candidate_ref == change.ref,
                    MEETINGS.c.status == "planned",
                    MEETINGS.c.starts_at > now,
                )
                .order_by(MEETINGS.c.starts_at)
            ).mappings()
            for meeting in list(upcoming):
                if may_be_presented(
                    consent=change.consent,
                    parent_consent=change.parent_consent,
                    birth_date=born,
                    day=meeting["first_day"],
                ):
                    continue
                current = {name: meeting[name] for name in MEETINGS.c.keys()}
                write_versioned(
                    connection,
                    MEETINGS,
                    MEETING_CHANGES,
                    current,
                    {"status": "cancelled"},
                    author=actor,
                    now=now,
                    changed=CHANGED,
                )
                cancelled.append(meeting["ref"])
        audit.record(
            "candidate.presentation_consent",
            actor=actor,
            target=change.ref,
            detail=(
                f"consent={int(change.consent)} parent={int(change.parent_consent)} "
                f"cancelled={len(cancelled)} via={via}"
            ),
            connection=connection,
        )
        cancelled_all += cancelled
    return cancelled_all


#: Candidates read at once after a write (well under any driver's limit of parameters).
_CHUNK = 500


def follow_written_consents(
    connection: sa.Connection,
    before: dict[str, tuple[bool | None, bool | None]],
    *,
    actor: str,
    via: str,
    now: datetime | None = None,
) -> list[str]:
    """``follow_consent_changes`` after a writer (an import, a sync) stored new consents:
    ``before`` holds each candidate's consents before the write (None: that one was not
    written, so it is as stored now)."""
    refs = list(before)
    changes = []
    for start in range(0, len(refs), _CHUNK):
        for ref, given, parent in connection.execute(
            sa.select(
                CANDIDATES.c.ref, CANDIDATES.c.presentation_consent, CANDIDATES.c.parent_presentation_consent
            ).where(CANDIDATES.c.ref.in_(refs[start : start + _CHUNK]))
        ):
            was_given, was_parent = before[ref]
            given, parent = bool(given), bool(parent)
            changes.append(
                ConsentChange(
                    ref,
                    given if was_given is None else was_given,
                    parent if was_parent is None else was_parent,
                    given,
                    parent,
                )
            )
    return follow_consent_changes(
        connection, sorted(changes, key=lambda c: c.ref), actor=actor, via=via, now=now
    )


def record_consents(
    *,
    refs: Sequence[str],
    consent: bool | None,
    parent_consent: bool | None,
    actor: str,
    recorded_on: date | None = None,
    source: str | None = None,
    now: datetime | None = None,
    engine: Engine | None = None,
) -> list[str]:
    """Record the consents of a selection of candidates at once (None: left as stored), with
    when and where they were collected (None: left as stored), all or nothing; each change is
    audited and a withdrawal cancels the meetings to come. Returns the meetings cancelled."""
    wanted = list(dict.fromkeys(refs))
    source = (source or "").strip() or None

    def work(connection: sa.Connection) -> list[str]:
        stored = {
            ref: (bool(given), bool(parent))
            for ref, given, parent in connection.execute(
                sa.select(
                    CANDIDATES.c.ref,
                    CANDIDATES.c.presentation_consent,
                    CANDIDATES.c.parent_presentation_consent,
                ).where(CANDIDATES.c.ref.in_(wanted))
            )
        }
        unknown = [ref for ref in wanted if ref not in stored]
        if unknown:
            raise UnknownCandidates(f"candidat(s) inconnu(s) : {', '.join(unknown)}")
        changes = [
            ConsentChange(
                ref,
                *stored[ref],
                stored[ref][0] if consent is None else bool(consent),
                stored[ref][1] if parent_consent is None else bool(parent_consent),
            )
            for ref in wanted
        ]
        values = {
            "presentation_consent": sa.bindparam("consent"),
            "parent_presentation_consent": sa.bindparam("parent"),
        }
        if recorded_on is not None:
            values["consent_recorded_on"] = recorded_on
        if source is not None:
            values["consent_source"] = source
        if changes:
            connection.execute(
                CANDIDATES.update().where(CANDIDATES.c.ref == sa.bindparam("_ref")).values(**values),
                [{"_ref": c.ref, "consent": c.consent, "parent": c.parent_consent} for c in changes],
            )
        cancelled = follow_consent_changes(connection, changes, actor=actor, via="dashboard", now=now)
        bump_data_version(connection)
        return cancelled

    return retry_write(work, engine)


def set_presentation_consent(
    *,
    ref: str,
    consent: bool,
    parent_consent: bool,
    actor: str,
    now: datetime | None = None,
    engine: Engine | None = None,
) -> list[str]:
    """Record one candidate's consent (and a parent's): ``record_consents`` for one."""
    return record_consents(
        refs=[ref], consent=consent, parent_consent=parent_consent, actor=actor, now=now, engine=engine
    )
