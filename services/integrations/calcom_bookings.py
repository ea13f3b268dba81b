"""A Cal.com booking (API v2) read into the contract's rows: its uid (one per seat of a seated
booking), its persons and their answers to the booking form, its times, advisor, video link and
UTM tags; what the dashboard changed since is kept (the status, attendees, advisor, a room).
A booking that cannot be placed is refused with its reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from services import config
from services.config import LOCAL_TZ
from services.integrations.calcom_event_types import MAPPINGS
from services.store import values
from services.store.models import (
    Advisor,
    Booking,
    BookingChange,
    Candidate,
    Event,
)

#: Prefix of the refs of candidates the sync creates (the rest is a hash of the e-mail).
CANDIDATE_PREFIX = "cal-"
#: Cal.com booking statuses and the contract's.
STATUSES = {
    "accepted": "booked",
    "pending": "booked",
    "awaiting_host": "booked",
    "cancelled": "cancelled",
    "rejected": "cancelled",
}
#: Outcomes an advisor records after the interview: the site never replaces them.
OUTCOMES = ("attended", "no_show")
#: Between a seated booking's uid and a seat's ``seatUid`` in the ref of that seat's booking.
SEAT_SEPARATOR = "."
#: Why a booking without any attendee is refused, and what to change.
HIDDEN_ATTENDEES = (
    "aucun participant visible : réservation à places dont Cal.com masque les participants à cette "
    "clé d'API ; donnez une clé d'un propriétaire ou administrateur de l'équipe du type d'événement "
    "(ou activez « afficher les participants » sur ce type d'événement), puis relancez avec --since"
)
#: Hidden booking questions read as a touchpoint (``bookingFieldsResponses``).
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "landing_page")
#: The source recorded with consents read from the booking form, unless a question gives one.
CONSENT_SOURCE = "formulaire de réservation"
BOOKING_HEADER = (
    "ref",
    "candidate_ref",
    "event_code",
    "site_code",
    "program_code",
    "advisor_email",
    "starts_at",
    "duration_min",
    "status",
    "booked_at",
    "attendees",
    "meeting_url",
)
#: Booking fields the schedule page changes (``booking_changes.field``).
_DASHBOARD_FIELDS = ("status", "attendees", "advisor_email")
BOOKINGS = Booking.__table__


class BookingRefused(Exception):
    """A booking that cannot be taken: nothing of it is written."""

    def __init__(self, uid: str, reason: str, event_type_id: int | None = None) -> None:
        super().__init__(reason)
        self.uid, self.reason, self.event_type_id = uid, reason, event_type_id


@dataclass
class BookingPlan:
    """One booking's contract rows (cells as text, as a file would give them)."""

    index: int
    uid: str
    candidate: dict[str, str] | None
    touchpoint: dict[str, str] | None
    booking: dict[str, str]
    warnings: list[str]
    #: The person's consents to be presented to companies, when the booking form asks them.
    consent: dict[str, str] | None = None


@dataclass
class BookingContext:
    """What the store knows that a page's bookings refer to, read in the page's transaction."""

    mappings: dict[int, dict]
    advisors: set[str]
    events: list[dict]
    candidates: dict[str, str]
    existing: dict[str, dict]
    changed: dict[str, set[str]]
    unknown: set[int] = field(default_factory=set)
    #: The stored candidates' creation time (ref → ISO text), which a consent row carries.
    created: dict[str, str] = field(default_factory=dict)
    #: candidates.csv column → booking question slug (``CALCOM_CONSENT_FIELDS``).
    consent_fields: dict[str, str] = field(default_factory=dict)
    #: When the bookings that the page's rescheduled ones replace were booked (uid → instant):
    #: as stored, else their ``createdAt`` in the page.
    first_booked: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def load(cls, connection: sa.Connection, bookings: list) -> BookingContext:
        """Read the mappings, advisors, events, and the candidates and bookings of the page."""
        items = [booking for booking in bookings if isinstance(booking, dict)]
        uids = sorted({booking_uid(booking) for booking in items} - {""})
        emails = sorted({email for booking in items for email in _emails(booking)})
        seated = sorted({booking_uid(booking) for booking in items if _seated(booking)} - {""})
        candidates: dict[str, str] = {}
        created: dict[str, str] = {}
        query = (
            sa.select(Candidate.email, Candidate.ref, Candidate.created_at)
            .where(Candidate.email.in_(emails))
            .order_by(Candidate.id.desc())  # the oldest candidate with an e-mail wins
        )
        for email, ref, created_at in connection.execute(query):
            candidates[email] = ref
            created[ref] = created_at.isoformat()
        # A seated booking's seats are stored as « uid.seatUid »: all of them, to see which left.
        wanted = sa.or_(
            BOOKINGS.c.ref.in_(uids),
            *(BOOKINGS.c.ref.startswith(uid + SEAT_SEPARATOR, autoescape=True) for uid in seated),
        )
        existing = {
            row["ref"]: dict(row) for row in connection.execute(sa.select(BOOKINGS).where(wanted)).mappings()
        }
        first_booked = {
            booking_uid(item): moment
            for item in items
            if (moment := instant(item.get("createdAt"))) is not None
        }
        replaced = sorted({uid for item in items if (uid := _rescheduled_from(item))})
        query = sa.select(BOOKINGS.c.ref, BOOKINGS.c.booked_at).where(BOOKINGS.c.ref.in_(replaced))
        for ref, booked_at in connection.execute(query):
            first_booked[ref] = booked_at if booked_at.tzinfo else booked_at.replace(tzinfo=UTC)
        changed: dict[str, set[str]] = {}
        changes = BookingChange.__table__
        query = sa.select(changes.c.booking_ref, changes.c.field).where(
            changes.c.booking_ref.in_(sorted(existing)), changes.c.field.in_(_DASHBOARD_FIELDS)
        )
        for ref, name in connection.execute(query):
            changed.setdefault(ref, set()).add(name)
        return cls(
            mappings={
                row["event_type_id"]: dict(row) for row in connection.execute(sa.select(MAPPINGS)).mappings()
            },
            advisors=set(connection.execute(sa.select(Advisor.email)).scalars()),
            events=[
                dict(row)
                for row in connection.execute(
                    sa.select(Event.code, Event.kind, Event.starts_on, Event.ends_on).order_by(
                        Event.starts_on, Event.code
                    )
                ).mappings()
            ],
            candidates=candidates,
            existing=existing,
            changed=changed,
            created=created,
            consent_fields=config.calcom_consent_fields(),
            first_booked=first_booked,
        )


def booking_plans(
    number: int, booking: object, context: BookingContext
) -> list[BookingPlan | BookingRefused]:
    """A booking's rows — one per person: the attendee, or each seat of a seated event — with
    the site, the store's candidate and the precedence rules applied, and the seats refused one
    by one; raises ``BookingRefused`` when the whole booking cannot be taken (malformed, event type
    without a mapping, attendees hidden)."""
    if not isinstance(booking, dict):
        raise BookingRefused(f"(n° {number} de la page)", "rendez-vous illisible (pas un objet JSON)")
    uid = booking_uid(booking)
    if not uid:
        raise BookingRefused(f"(n° {number} de la page)", "rendez-vous sans uid ni id")
    warnings: list[str] = []

    event_type_id = _event_type_id(booking)
    if event_type_id is None:
        raise BookingRefused(uid, "type d'événement absent (eventType.id)")
    mapping = context.mappings.get(event_type_id)
    if mapping is None:
        raise BookingRefused(
            uid, f"type d'événement {event_type_id} sans correspondance de site", event_type_id
        )

    starts_at = _required_instant(booking, "start", uid, "début")
    booked_at = _required_instant(booking, "createdAt", uid, "date de réservation")
    # A reschedule is a new booking made when the person moved the interview: they booked when
    # they booked the one it replaces (the conversion time, the visit that brought them).
    booked_at = min(booked_at, context.first_booked.get(_rescheduled_from(booking) or "", booked_at))
    duration = _duration(booking, starts_at, uid)

    status = STATUSES.get(str(booking.get("status") or "").strip().lower())
    if status is None:
        raise BookingRefused(uid, f"statut inconnu : {str(booking.get('status'))[:40]}")
    persons = _persons(booking, uid)
    if booking.get("absentHost") is True:
        warnings.append("le site note le conseiller absent")
    advisor = _advisor(booking, context, warnings)
    meeting_url = _meeting_url(booking, warnings)
    shared = {
        "event_code": mapping["event_code"] or _event_holding(starts_at, context.events) or "",
        "site_code": mapping["site_code"],
        "program_code": mapping["program_code"] or "",
        "advisor_email": advisor or "",
        "starts_at": starts_at.isoformat(),
        "duration_min": str(duration),
        "booked_at": booked_at.isoformat(),
        "meeting_url": meeting_url or "",
    }
    seated = any(person.seat for person in persons)
    legacy = context.existing.get(uid) if seated else None  # a seat stored under the uid alone
    planned: list[BookingPlan | BookingRefused] = []
    for person in persons:
        if not person.email:
            what = f"place {person.seat} : participant" if person.seat else "participant"
            planned.append(BookingRefused(person.ref, f"{what} sans adresse e-mail valide"))
            continue
        candidate_ref = context.candidates.get(person.email)
        candidate = None
        if candidate_ref is None:
            candidate_ref = candidate_ref_of(person.email)
            first_name, last_name = _split_name(person.name)
            candidate = {
                "ref": candidate_ref,
                "first_name": first_name,
                "last_name": last_name,
                "email": person.email,
                "created_at": booked_at.isoformat(),
            }
        ref = person.ref
        if legacy is not None and legacy["candidate_ref"] == candidate_ref:
            ref, legacy = uid, None  # the person the older sync stored keeps that booking
        row = {
            "ref": ref,
            "candidate_ref": candidate_ref,
            **shared,
            "status": "no_show" if status == "booked" and person.absent else status,
            "attendees": str(1 if person.seat else _people(booking)),
        }
        notes = list(warnings)
        stored = context.existing.get(ref)
        if stored is not None:
            _keep_dashboard_values(row, stored, context.changed.get(ref, set()), notes)
        touchpoint = _touchpoint(person.sources, candidate_ref, booked_at)
        created = (
            candidate["created_at"]
            if candidate
            else context.created.get(candidate_ref, booked_at.isoformat())
        )
        consent = _consent(
            person.sources[0], context.consent_fields, candidate_ref, created, booked_at, notes
        )
        planned.append(BookingPlan(0, ref, candidate, touchpoint, row, notes, consent))
    if seated:
        planned += _seats_left(uid, {plan.uid for plan in planned}, legacy, context)
    return planned


def _seats_left(
    uid: str, present: set[str], legacy: dict | None, context: BookingContext
) -> list[BookingPlan | BookingRefused]:
    """The stored seats of a seated booking that the site no longer lists: their person cancelled
    the seat (Cal.com removes the attendee), so they become ``cancelled`` — an outcome stays."""
    gone = [
        stored
        for ref, stored in context.existing.items()
        if ref.startswith(uid + SEAT_SEPARATOR) and ref not in present
    ]
    if legacy is not None:
        gone.append(legacy)
    plans: list[BookingPlan | BookingRefused] = []
    for stored in sorted(gone, key=lambda row: row["ref"]):
        if stored["status"] in (*OUTCOMES, "cancelled"):
            continue
        row = {name: _cell(stored[name]) for name in BOOKING_HEADER}
        row["status"] = "cancelled"
        plans.append(BookingPlan(0, stored["ref"], None, None, row, ["place libérée sur le site : annulée"]))
    return plans


def _cell(value: object) -> str:
    """A stored value as a file's cell."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return str(value)


def _keep_dashboard_values(row: dict[str, str], stored: dict, changed: set[str], warnings: list[str]) -> None:
    """Put back in ``row`` what the dashboard knows better than the site (module docstring)."""
    site_status = row["status"]
    if stored["status"] in OUTCOMES and site_status != stored["status"]:
        row["status"] = stored["status"]
        if site_status != "booked":
            warnings.append(f"le site dit « {site_status} », le statut « {stored['status']} » est gardé")
    elif "status" in changed and site_status != stored["status"]:
        row["status"] = stored["status"]
        warnings.append(
            f"statut changé dans le tableau de bord (« {stored['status']} ») gardé ; "
            f"le site dit « {site_status} »"
        )
    if "attendees" in changed:
        row["attendees"] = str(stored["attendees"])
    if "advisor_email" in changed and row["advisor_email"] != (stored["advisor_email"] or ""):
        if row["advisor_email"]:
            warnings.append("conseiller réattribué dans le tableau de bord gardé (le site en donne un autre)")
        row["advisor_email"] = stored["advisor_email"] or ""
    if stored["room_meeting_id"] or not row["meeting_url"]:
        # The rooms sync's room, or the link the site no longer sends, stays.
        row["meeting_url"] = stored["meeting_url"] or ""


def candidate_ref_of(email: str) -> str:
    """The opaque, stable ref of a candidate the sync creates: ``cal-`` and a hash of the e-mail."""
    return CANDIDATE_PREFIX + hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:16]


def booking_uid(booking: dict) -> str:
    uid = booking.get("uid")
    if isinstance(uid, str) and uid.strip():
        return uid.strip()
    number = booking.get("id")
    return str(number) if isinstance(number, int) and not isinstance(number, bool) else ""


def _rescheduled_from(booking: dict) -> str | None:
    """The uid of the booking this one replaces (``rescheduledFromUid``, Cal.com's
    ``fromReschedule``), if it is a reschedule."""
    uid = booking.get("rescheduledFromUid")
    return uid.strip() if isinstance(uid, str) and uid.strip() else None


def _event_type_id(booking: dict) -> int | None:
    event_type = booking.get("eventType")
    for value in (event_type.get("id") if isinstance(event_type, dict) else None, booking.get("eventTypeId")):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


@dataclass(frozen=True)
class _Person:
    """Someone a booking brings: the attendee of an interview, or the holder of one seat."""

    ref: str
    seat: str | None
    email: str | None
    name: object
    absent: bool
    #: Where this person's hidden booking questions (UTM tags) are, first found first.
    sources: tuple[object, ...]


def _seated(booking: dict) -> bool:
    """Whether the site lists the booking's attendees by seat (``seatUid``)."""
    attendees = booking.get("attendees")
    return isinstance(attendees, list) and any(
        isinstance(attendee, dict) and _text(attendee.get("seatUid")) for attendee in attendees
    )


def seat_ref(uid: str, seat_uid: str) -> str:
    """The contract booking of one seat of a seated Cal.com booking: ``uid.seatUid``."""
    return f"{uid}{SEAT_SEPARATOR}{seat_uid}"


def _persons(booking: dict, uid: str) -> list[_Person]:
    """The people of a booking, as the API version 2024-08-13 sends them
    (apps/api/v2/src/ee/bookings/2024-08-13/services/output.service.ts in calcom/cal.com).

    A seated event lists each seat as an attendee with its ``seatUid``, its own
    ``bookingFieldsResponses`` (without the e-mail, which the attendee carries) and
    ``metadata``; the booking has no responses of its own. Any other booking has its attendee
    first, and the booking form's answers in ``bookingFieldsResponses``, whose ``email`` and
    ``name`` stand in for an attendee without them (older Cal.com versions). No attendee and no
    e-mail in the answers is a seated event whose attendees the API hides from this key.
    """
    attendees = booking.get("attendees")
    listed = [item for item in attendees if isinstance(item, dict)] if isinstance(attendees, list) else []
    if _seated(booking):
        return [
            _Person(
                seat_ref(uid, seat) if (seat := _text(attendee.get("seatUid"))) else uid,
                seat or None,
                _email(attendee.get("email")),
                attendee.get("name") or _responses(attendee).get("name"),
                attendee.get("absent") is True,
                (_responses(attendee), attendee.get("metadata")),
            )
            for attendee in listed
        ]
    answers = _responses(booking)
    first = listed[0] if listed else {}
    email = _email(first.get("email")) or _email(answers.get("email"))
    if not listed and not email:
        raise BookingRefused(uid, HIDDEN_ATTENDEES)
    return [
        _Person(
            uid,
            None,
            email,
            first.get("name") or answers.get("name"),
            first.get("absent") is True,
            (answers, booking.get("metadata"), _responses(first)),
        )
    ]


def _responses(item: dict) -> dict:
    answers = item.get("bookingFieldsResponses")
    return answers if isinstance(answers, dict) else {}


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _email(raw: object) -> str | None:
    if not _text(raw):
        return None
    try:
        return values.read_email(raw)
    except ValueError:
        return None


def _emails(booking: dict) -> list[str]:
    """The e-mails of a booking's people (none when it is refused as a whole)."""
    try:
        return [person.email for person in _persons(booking, booking_uid(booking)) if person.email]
    except BookingRefused:
        return []


def instant(raw: object) -> datetime | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        return values.read_datetime(raw)
    except ValueError:
        return None


def _required_instant(booking: dict, name: str, uid: str, what: str) -> datetime:
    raw = booking.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise BookingRefused(uid, f"{what} absent(e) ({name})")
    moment = instant(raw)
    if moment is None:
        raise BookingRefused(uid, f"{what} illisible ({name} : {str(raw)[:40]})")
    return moment


def _duration(booking: dict, starts_at: datetime, uid: str) -> int:
    """Minutes from ``start`` to ``end`` (else the ``duration`` the site gives)."""
    if booking.get("end") not in (None, ""):
        ends_at = _required_instant(booking, "end", uid, "fin")
        minutes = round((ends_at - starts_at).total_seconds() / 60)
    else:
        minutes = booking.get("duration")
        if not isinstance(minutes, int) or isinstance(minutes, bool):
            raise BookingRefused(uid, "fin absente (end) et pas de durée (duration)")
    if minutes < 1:
        raise BookingRefused(uid, "la fin (end) n'est pas après le début (start)")
    return minutes


def _split_name(name: object) -> tuple[str, str]:
    """First word as first name, the rest as last name (« Léa Martin-Dupont »)."""
    if isinstance(name, dict):  # the booking form's name field split in two
        return _text(name.get("firstName")), _text(name.get("lastName"))
    words = name.split() if isinstance(name, str) else []
    return (words[0], " ".join(words[1:])) if words else ("", "")


def _advisor(booking: dict, context: BookingContext, warnings: list[str]) -> str | None:
    hosts = booking.get("hosts")
    host = hosts[0] if isinstance(hosts, list) and hosts and isinstance(hosts[0], dict) else {}
    # A booking whose host account is gone has the host « unknown » (output.service.ts getHost).
    email = _email(host.get("email"))
    if email is None:
        warnings.append("pas d'hôte : rendez-vous sans conseiller")
        return None
    if email not in context.advisors:
        warnings.append(f"hôte {email} inconnu des conseillers : rendez-vous sans conseiller")
        return None
    return email


def _meeting_url(booking: dict, warnings: list[str]) -> str | None:
    """``meetingUrl``, else a ``location`` that is a link; https only (the contract's rule)."""
    for raw in (booking.get("meetingUrl"), booking.get("location")):
        if not isinstance(raw, str) or "://" not in raw:
            continue
        try:
            return values.read_https_url(raw)
        except ValueError:
            warnings.append("lien visio qui n'est pas en https:// : laissé vide")
            return None
    return None


def _people(booking: dict) -> int:
    """People expected: the attendees and the guests (the family), each e-mail once."""
    emails = set()
    unnamed = 0
    for attendee in booking.get("attendees") or []:
        email = attendee.get("email") if isinstance(attendee, dict) else None
        if isinstance(email, str) and email.strip():
            emails.add(email.strip().lower())
        else:
            unnamed += 1
    for guest in booking.get("guests") or []:
        if isinstance(guest, str) and guest.strip():
            emails.add(guest.strip().lower())
    return max(1, len(emails) + unnamed)


def _event_holding(starts_at: datetime, events: list[dict]) -> str | None:
    """The event whose dates hold the start (local date); an open day before a job dating."""
    day = values.local_date(starts_at)
    holding = [event for event in events if event["starts_on"] <= day <= event["ends_on"]]
    holding.sort(key=lambda event: event["kind"] == "job_dating")
    return holding[0]["code"] if holding else None


def _consent_word(answer: object) -> str | None:
    """A booking form's answer as a candidates.csv cell: a checkbox (``boolean``) gives true or
    false, a radio or select its option's text, a multiple choice a list of one."""
    if isinstance(answer, list) and len(answer) == 1:
        answer = answer[0]
    if isinstance(answer, bool):
        return "oui" if answer else "non"
    if isinstance(answer, str):
        return answer.strip()
    return None


def _consent(
    answers: object,
    fields: dict[str, str],
    candidate_ref: str,
    created_at: str,
    booked_at: datetime,
    warnings: list[str],
) -> dict[str, str] | None:
    """The person's consents from the booking questions ``fields`` names (``CALCOM_CONSENT_FIELDS``),
    collected on the day of the booking; None when the form asked none of them. An answer that
    is not yes or no is left out, with a warning (the stored consent stays)."""
    if not fields or not isinstance(answers, dict):
        return None
    row = {"ref": candidate_ref, "created_at": created_at}
    for name in ("presentation_consent", "parent_presentation_consent"):
        slug = fields.get(name)
        word = _consent_word(answers.get(slug)) if slug else None
        if word:
            try:
                values.read_bool(word)
            except ValueError:
                warnings.append(f"réponse « {slug} » illisible comme oui ou non : consentement inchangé")
                word = None
        row[name] = word or ""
    if not (row["presentation_consent"] or row["parent_presentation_consent"]):
        return None
    source = _consent_word(answers.get(fields["consent_source"])) if "consent_source" in fields else None
    row["consent_source"] = source or CONSENT_SOURCE
    row["consent_recorded_on"] = booked_at.astimezone(LOCAL_TZ).date().isoformat()
    return row


def _touchpoint(
    sources: tuple[object, ...], candidate_ref: str, booked_at: datetime
) -> dict[str, str] | None:
    """The visit the booking came from, when the person's hidden questions carry UTM tags."""
    tags = dict.fromkeys(UTM_FIELDS, "")
    for source in sources:
        if not isinstance(source, dict):
            continue
        for name in UTM_FIELDS:
            value = source.get(name)
            if not tags[name] and isinstance(value, str):
                tags[name] = value.strip()
    if not any(tags.values()):
        return None
    return {"candidate_ref": candidate_ref, "occurred_at": booked_at.isoformat(), **tags}
