"""The store's tables: one per entity of the data contract, natural keys unique, references enforced.

References use the natural keys of the contract (``candidate_ref``, ``site_code``…), so a
row reads the same in the store as in the file it came from. Every instant is stored in UTC
(``UtcDateTime``) and shown in Europe/Paris time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

PROGRAM_LEVELS = ("CAP", "BAC_PRO", "BTS", "LICENCE_PRO", "INGENIEUR", "TITRE_PRO", "CQPM")
EVENT_KINDS = ("virtual", "in_person", "job_dating")
CHANNELS = ("social", "newspaper", "email", "search", "direct", "other")
BOOKING_STATUSES = ("booked", "attended", "no_show", "cancelled")
ENROLLMENT_STATUSES = ("pre_registered", "enrolled", "withdrawn")
MEETING_STATUSES = ("planned", "held", "no_show", "cancelled")
MEETING_OUTCOMES = (
    "none",
    "company_interested",
    "candidate_interested",
    "both_interested",
    "contract_signed",
)
#: Refs of candidates anonymised by the retention purge start with this; files may not use it.
ANONYMOUS_REF_PREFIX = "anon-"


class UtcDateTime(sa.types.TypeDecorator):
    """An instant: aware datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a stored instant must be timezone-aware")
        value = value.astimezone(UTC)
        # SQLite has no time zone type: it keeps the UTC wall time, read back as UTC below.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _instant(**kwargs: object) -> object:
    return Field(sa_type=UtcDateTime, **kwargs)


def _fk(target: str, **kwargs: object) -> object:
    return Field(foreign_key=target, index=True, **kwargs)


class Site(SQLModel, table=True):
    __tablename__ = "sites"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    name: str
    city: str | None = None
    department: str | None = None


class Program(SQLModel, table=True):
    """A programme offering: one programme at one site."""

    __tablename__ = "programs"
    __table_args__ = (sa.UniqueConstraint("code", "site_code", name="uq_programs_code_site"),)
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True)
    name: str
    level: str | None = None
    site_code: str = _fk("sites.code")
    seats: int | None = None


class Advisor(SQLModel, table=True):
    __tablename__ = "advisors"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True)
    name: str
    site_code: str = _fk("sites.code")


class Event(SQLModel, table=True):
    __tablename__ = "events"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    name: str
    kind: str
    starts_on: date
    ends_on: date


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    name: str
    channel: str
    event_code: str | None = _fk("events.code", default=None)
    starts_on: date | None = Field(default=None, index=True)
    ends_on: date | None = None
    spend_eur: Decimal | None = Field(default=None, sa_type=sa.Numeric(14, 2))
    sent: int | None = None
    opened: int | None = None
    clicked: int | None = None


class Candidate(SQLModel, table=True):
    """A young person who visited or booked; personal data, many are minors."""

    __tablename__ = "candidates"
    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(unique=True)
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    birth_date: date | None = None
    postal_code: str | None = None
    marketing_consent: bool = False
    #: A parent's consent to marketing too: what makes a minor under 15's consent count.
    parent_consent: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = _instant()
    #: Accepted to be presented to companies at job datings (set by an advisor, not imported).
    presentation_consent: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    #: A parent's consent to that too: needed under 15, or when the birth date is unknown.
    parent_presentation_consent: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})


class Touchpoint(SQLModel, table=True):
    """One visit to the centre's site, with where it came from.

    Missing utm values are stored as '' so that the natural key is a plain unique constraint
    on SQLite and PostgreSQL alike (NULLs never collide in a unique index).
    """

    __tablename__ = "touchpoints"
    __table_args__ = (
        sa.UniqueConstraint(
            "candidate_ref",
            "occurred_at",
            "channel",
            "utm_source",
            "utm_campaign",
            name="uq_touchpoints_key",
        ),
        sa.Index("ix_touchpoints_occurred_at", "occurred_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    candidate_ref: str = Field(foreign_key="candidates.ref")
    occurred_at: datetime = _instant()
    channel: str
    #: True when the file gave the channel; False when the channel rules derived it.
    channel_explicit: bool = False
    #: Position of the channel rule that derived the channel (None when explicit).
    channel_rule: int | None = None
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    landing_page: str | None = None


class Booking(SQLModel, table=True):
    """A 45-minute individual interview."""

    __tablename__ = "bookings"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["program_code", "site_code"],
            ["programs.code", "programs.site_code"],
            name="fk_bookings_program",
        ),
        sa.Index("ix_bookings_starts_at", "starts_at"),
        sa.Index("ix_bookings_candidate_booked_at", "candidate_ref", "booked_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(unique=True)
    candidate_ref: str = Field(foreign_key="candidates.ref")
    event_code: str | None = _fk("events.code", default=None)
    site_code: str = _fk("sites.code")
    program_code: str | None = None
    advisor_email: str | None = _fk("advisors.email", default=None)
    starts_at: datetime = _instant()
    duration_min: int = 45
    status: str
    booked_at: datetime = _instant()
    attendees: int = 1
    meeting_url: str | None = None
    #: Whereby's id of the booking's video room (``meetingUrl`` above is the candidate's link).
    room_meeting_id: str | None = None
    #: The advisor's host link of the room: shown to that advisor only, never exported.
    host_room_url: str | None = None
    #: Grows on every change: a save that read an older version is refused (no lost update).
    version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class BookingChange(SQLModel, table=True):
    """The history of changes made to a booking from the dashboard (status, attendees, advisor)."""

    __tablename__ = "booking_changes"
    id: int | None = Field(default=None, primary_key=True)
    booking_ref: str = _fk("bookings.ref")
    changed_at: datetime = _instant()
    changed_by: str
    field: str
    old_value: str | None = None
    new_value: str | None = None


class BookingNote(SQLModel, table=True):
    """A short private note on an interview, with who wrote it and when."""

    __tablename__ = "booking_notes"
    id: int | None = Field(default=None, primary_key=True)
    booking_ref: str = _fk("bookings.ref")
    written_at: datetime = _instant()
    written_by: str
    text: str


class Enrollment(SQLModel, table=True):
    __tablename__ = "enrollments"
    __table_args__ = (
        sa.UniqueConstraint("candidate_ref", "program_code", "site_code", name="uq_enrollments_key"),
        sa.ForeignKeyConstraint(
            ["program_code", "site_code"],
            ["programs.code", "programs.site_code"],
            name="fk_enrollments_program",
        ),
        sa.Index("ix_enrollments_enrolled_at", "enrolled_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    candidate_ref: str = Field(foreign_key="candidates.ref")
    program_code: str
    site_code: str = _fk("sites.code")
    enrolled_at: datetime = _instant()
    status: str = "enrolled"


class Company(SQLModel, table=True):
    __tablename__ = "companies"
    id: int | None = Field(default=None, primary_key=True)
    siret: str = Field(unique=True)
    name: str
    city: str | None = None
    sector: str | None = None


class Offer(SQLModel, table=True):
    """An apprenticeship offer sent by a company for the coming intake."""

    __tablename__ = "offers"
    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(unique=True)
    siret: str = _fk("companies.siret")
    program_code: str | None = None
    site_code: str | None = _fk("sites.code", default=None)
    positions: int = 1
    published_on: date = Field(index=True)


class Meeting(SQLModel, table=True):
    """A short job-dating video meeting between a candidate and a company about an offer."""

    __tablename__ = "meetings"
    __table_args__ = (sa.Index("ix_meetings_starts_at", "starts_at"),)
    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(unique=True)
    event_code: str = _fk("events.code")
    candidate_ref: str = _fk("candidates.ref")
    offer_ref: str = _fk("offers.ref")
    starts_at: datetime = _instant()
    duration_min: int = 20
    status: str
    outcome: str = "none"
    contract_signed_on: date | None = None
    meeting_url: str | None = None
    #: Grows on every change: a save that read an older version is refused (no lost update).
    version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class MeetingChange(SQLModel, table=True):
    """The history of changes made to a job-dating meeting from the dashboard (status, outcome,
    contract date, time)."""

    __tablename__ = "meeting_changes"
    id: int | None = Field(default=None, primary_key=True)
    meeting_ref: str = _fk("meetings.ref")
    changed_at: datetime = _instant()
    changed_by: str
    field: str
    old_value: str | None = None
    new_value: str | None = None


class CompanyWindow(SQLModel, table=True):
    """A time window when a company meets candidates at a job dating, and its meetings' length.

    A company with no window for an event gets the default ones (``services.jobdating.meeting_plan``).
    """

    __tablename__ = "company_windows"
    __table_args__ = (sa.UniqueConstraint("event_code", "siret", "starts_at", name="uq_company_windows_key"),)
    id: int | None = Field(default=None, primary_key=True)
    event_code: str = _fk("events.code")
    siret: str = _fk("companies.siret")
    starts_at: datetime = _instant()
    ends_at: datetime = _instant()
    meeting_min: int = Field(default=20, sa_column_kwargs={"server_default": "20"})


class ChannelRule(SQLModel, table=True):
    """One ordered rule deriving a touchpoint's channel from its utm columns (first match wins).

    A rule matches when any of its conditions holds; a rule with no condition matches
    everything. Lists are stored as JSON arrays of lower-case values.
    """

    __tablename__ = "channel_rules"
    id: int | None = Field(default=None, primary_key=True)
    position: int = Field(unique=True)
    channel: str
    when_untagged: bool = False
    medium_in: str = "[]"
    source_in: str = "[]"
    source_ends_with: str = "[]"


class ImportRun(SQLModel, table=True):
    """The history of imports: one row per file, accepted or rejected."""

    __tablename__ = "import_runs"
    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = _instant()
    source: str
    kind: str
    accepted: bool
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    #: JSON list of the problems found (personal values masked).
    problems: str = "[]"
    #: JSON list of warnings (unknown columns…).
    warnings: str = "[]"
    imported_by: str | None = None


class StoreState(SQLModel, table=True):
    """Single-row facts about the store; ``data_version`` grows on every write to the data."""

    __tablename__ = "store_state"
    id: int = Field(default=1, primary_key=True)
    data_version: int = 0
    demo_data: bool = False


class TableVersion(SQLModel, table=True):
    """Each table's version: a new random stamp at every committed write to it, given in the
    writer's transaction (``services.store.database``); what keeps the analytical copies fresh
    (``services.store.analytics``). A table without a row was never written (version 0)."""

    __tablename__ = "table_versions"
    name: str = Field(primary_key=True)
    version: int = Field(sa_type=sa.BigInteger)


ROLES = ("director", "advisor", "marketing", "admin")


class Account(SQLModel, table=True):
    """A staff member who signs in: a role, and for an advisor the advisor of the data."""

    __tablename__ = "accounts"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True)
    role: str
    advisor_email: str | None = _fk("advisors.email", default=None)
    #: Argon2 hash; None for an account that signs in only through single sign-on.
    password_hash: str | None = None
    disabled: bool = False
    failed_attempts: int = 0
    locked_until: datetime | None = _instant(default=None)
    created_at: datetime = _instant()


class SignInSession(SQLModel, table=True):
    """A sign-in kept by a cookie: only the token's hash is stored; sign-out ends it here."""

    __tablename__ = "sign_in_sessions"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    account_id: int = _fk("accounts.id")
    created_at: datetime = _instant()
    last_seen_at: datetime = _instant()
    ended_at: datetime | None = _instant(default=None)


class SsoGroup(SQLModel, table=True):
    """A group of the single sign-on provider (its ``groups`` claim) and the role it gives."""

    __tablename__ = "sso_groups"
    id: int | None = Field(default=None, primary_key=True)
    #: Exactly as the provider sends it in the ``groups`` claim.
    name: str = Field(unique=True)
    role: str
    created_at: datetime = _instant()


class EventTypeMapping(SQLModel, table=True):
    """A Cal.com event type and the site, programme and (optionally) event of its bookings."""

    __tablename__ = "event_type_mappings"
    id: int | None = Field(default=None, primary_key=True)
    event_type_id: int = Field(unique=True)
    site_code: str = _fk("sites.code")
    program_code: str | None = None
    #: None: the event whose dates hold the booking's start, if any.
    event_code: str | None = _fk("events.code", default=None)
    label: str | None = None


class SyncCursor(SQLModel, table=True):
    """Where the last successful sync of a source ended (e.g. Cal.com's latest ``updatedAt``)."""

    __tablename__ = "sync_cursors"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    cursor: str
    synced_at: datetime = _instant()


class WebhookDelivery(SQLModel, table=True):
    """A vendor's webhook delivery already received (services/integrations/webhooks.py): the same delivery
    again is answered without being applied twice. No personal data: the vendor, the delivery's
    id (Whereby's event id, or the SHA-256 of a Cal.com body) and its event type."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (sa.UniqueConstraint("vendor", "delivery_id"),)
    id: int | None = Field(default=None, primary_key=True)
    vendor: str
    delivery_id: str
    event: str
    received_at: datetime = _instant()


class RoomAttempt(SQLModel, table=True):
    """A video room asked for a booking, written *before* the call: after a timeout, the next
    run lists the rooms to find the one the server may have created instead of making two."""

    __tablename__ = "room_attempts"
    id: int | None = Field(default=None, primary_key=True)
    booking_ref: str = Field(foreign_key="bookings.ref", unique=True)
    attempted_at: datetime = _instant()
    #: The room's end as sent (ISO 8601 UTC): with the prefix, what finds it again.
    end_date: str
    room_name_prefix: str
    #: ``pending`` (asked, answer unknown), ``created``, ``deleted``.
    state: str = "pending"
    #: The ``roomMode`` asked (``normal``: 4 people at most, or ``group``); None for the rooms
    #: asked before revision 0010, taken as ``normal``.
    room_mode: str | None = None


class AttendanceSuggestion(SQLModel, table=True):
    """What the video call says happened in an interview, waiting for the advisor to confirm."""

    __tablename__ = "attendance_suggestions"
    id: int | None = Field(default=None, primary_key=True)
    booking_ref: str = Field(foreign_key="bookings.ref", unique=True)
    #: ``attended``, ``no_show`` or ``advisor_absent``.
    suggestion: str
    visitors: int = 0
    host_joined: bool = False
    #: More than one visitor joined: the family was there.
    family: bool = False
    fetched_at: datetime = _instant()
    #: Set when the advisor confirmed or dismissed it; nothing is written to the booking before.
    decided_at: datetime | None = _instant(default=None)
    decided_by: str | None = None
    decision: str | None = None


class MeetingSuggestion(SQLModel, table=True):
    """What the video call says happened in a job-dating meeting, waiting for an advisor."""

    __tablename__ = "meeting_suggestions"
    id: int | None = Field(default=None, primary_key=True)
    #: Deleted with its meeting (a candidate's erasure or the retention purge).
    meeting_ref: str = Field(
        sa_column=sa.Column(
            sa.String, sa.ForeignKey("meetings.ref", ondelete="CASCADE"), unique=True, nullable=False
        )
    )
    #: ``held``, ``no_show`` or ``company_absent``.
    suggestion: str
    candidate_joined: bool = False
    company_joined: bool = False
    fetched_at: datetime = _instant()
    decided_at: datetime | None = _instant(default=None)
    decided_by: str | None = None
    decision: str | None = None


class AuditEvent(SQLModel, table=True):
    """Append-only audit log: who did what, when (no personal data in ``detail``)."""

    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_at", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _instant()
    actor: str
    action: str
    target: str | None = None
    detail: str | None = None
