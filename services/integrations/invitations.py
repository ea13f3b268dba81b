"""A job dating's schedules sent by e-mail (issue 22, docs/jobdating.md): each company its
meetings (time, the candidate's first name and programme, the video link, nothing else of the
candidate), each candidate theirs (a minor's parent too, when an address is known), in French,
with an ``.ics`` invitation per meeting; and a reminder the day before.

Sent once: the send log (``mail_sends``) keeps, for each address, the meeting set each message
carried. A run compares each party's meetings of now with the last set sent: nothing when they
are the same, an update (the changed meetings' ``SEQUENCE`` raised) or a cancellation
(``METHOD:CANCEL``) to those concerned only. A message that fails is logged as failed and tried
again by the next run; it never stops the others.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import partial

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services import config
from services.access.consent import may_be_presented
from services.access.privacy import age_on
from services.config import LOCAL_TZ
from services.documents.calendars import UID_DOMAIN, meeting_invitation
from services.i18n import format_day, format_time
from services.integrations.mail import Mailer, MailError, MessageRefused, configured_mailer
from services.jobdating.meetings import candidate_schedule, company_schedule, event_meetings
from services.jobdating.pairing import job_dating_event
from services.logs import redact
from services.store import audit
from services.store.database import get_engine, retry_write
from services.store.models import Candidate, Company, MailSend

MAIL_SENDS = MailSend.__table__
CANDIDATES = Candidate.__table__
COMPANIES = Company.__table__
#: Under this age on the event's first day, a parent gets the candidate's schedule too.
ADULT_AGE = 18
#: Kinds of message that carry a schedule (the reminders are apart).
SCHEDULE_KINDS = ("schedule", "update", "cancel")
SIGNATURE = "Le pôle formation\n(message envoyé automatiquement ; pour toute question, répondez-y)"


@dataclass
class Outgoing:
    """One message to one address, ready to send, with the meeting set the log will keep."""

    event_code: str
    role: str
    siret: str | None
    candidate_ref: str | None
    recipient: str
    kind: str
    subject: str
    body: str
    #: (file name, METHOD, how to build its iCalendar bytes) per meeting: built as the message
    #: is (a network's run has thousands of invitations, a preview shows one message).
    invitations: list[tuple[str, str, Callable[[], bytes]]] = field(default_factory=list)
    meetings: dict[str, dict] = field(default_factory=dict)
    day: date | None = None

    @property
    def party(self) -> str:
        """Whose schedule, as a report names it (a SIRET or a ref, never a name)."""
        if self.role == "company":
            return f"entreprise {self.siret}"
        return f"{'parent de ' if self.role == 'parent' else 'candidat '}{self.candidate_ref}"

    def email(self, sender: str, now: datetime | None = None) -> EmailMessage:
        """The message as sent: plain text in French, one ``text/calendar`` part per meeting."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.recipient
        message["Subject"] = self.subject
        message["Date"] = format_datetime(now or datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain=UID_DOMAIN)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(self.body)
        for name, method, build in self.invitations:
            message.add_attachment(
                build(), maintype="text", subtype="calendar", filename=name, params={"method": method}
            )
        return message


@dataclass
class Mailing:
    """What a run would send for an event, the parties it cannot reach (no address), and the
    meetings left out of the companies' mail because their candidate may not be presented."""

    event: dict
    messages: list[Outgoing]
    without_address: list[str]
    withheld: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        """Counts per kind, then the parties without an address (French)."""
        counts = pd.Series([message.kind for message in self.messages], dtype=object).value_counts()
        names = {
            "schedule": "planning(s)",
            "update": "mise(s) à jour",
            "cancel": "annulation(s)",
            "reminder": "rappel(s)",
        }
        lines = [f"{len(self.messages)} message(s) à envoyer"]
        lines += [f"  {counts[kind]} {names[kind]}" for kind in names if kind in counts]
        if self.without_address:
            lines.append(f"sans adresse e-mail (rien envoyé) : {', '.join(self.without_address)}")
        if self.withheld:
            lines.append(
                "rencontres tues aux entreprises (candidat sans accord pour être présenté) : "
                + ", ".join(self.withheld)
            )
        return lines


@dataclass
class SendReport:
    """What a run sent and what failed, by recipient."""

    sent: list[Outgoing] = field(default_factory=list)
    failed: list[tuple[Outgoing, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        lines = [f"{len(self.sent)} message(s) envoyé(s), {len(self.failed)} échec(s)"]
        # For a terminal or a cron log: the party, never an address (a minor's, a parent's), not
        # even in the server's own words.
        lines += [redact(f"échec : {message.party} : {reason}") for message, reason in self.failed]
        return lines


# ---------------------------------------------------------------- what to send


def _when(starts_at: pd.Timestamp, ends_at: pd.Timestamp) -> str:
    start, end = starts_at.tz_convert(LOCAL_TZ), ends_at.tz_convert(LOCAL_TZ)
    day = start.date()
    return f"{format_day(day)}, {format_time(start)} – {format_time(end)}"


def _digest(row: object, who: str) -> str:
    text = "|".join(
        str(value)
        for value in (
            row.starts_at.isoformat(),
            row.ends_at.isoformat(),
            getattr(row, who),
            row.program,
            row.meeting_url,
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _line(row: object, who: str) -> str:
    parts = [_text(getattr(row, who)), _text(row.program)]
    line = f"- {_when(row.starts_at, row.ends_at)} : {', '.join(part for part in parts if part)}"
    if url := _text(row.meeting_url):
        line += f"\n  salle visio : {url}"
    return line


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _cancelled_line(details: dict) -> str:
    starts, ends = pd.Timestamp(details["starts_at"]), pd.Timestamp(details["ends_at"])
    return f"- {_when(starts, ends)} (annulée)"


def _greeting(role: str, first_name: str) -> str:
    if role == "candidate" and first_name:
        return f"Bonjour {first_name},"
    return "Bonjour,"


def _intro(role: str, kind: str, event_name: str, first_name: str) -> str:
    whose = f"des rencontres de {first_name or 'votre enfant'}" if role == "parent" else "de vos rencontres"
    if kind == "schedule":
        return f"Voici le planning {whose} au job dating « {event_name} » :"
    if kind == "update":
        return f"Le planning {whose} au job dating « {event_name} » a changé. Le voici à jour :"
    return f"Les rencontres prévues au job dating « {event_name} » sont annulées :"


def _one_line(text: str) -> str:
    """A name on one line, as an e-mail header needs it (a cell of a file may hold line breaks)."""
    return " ".join(text.split())


def _subject(kind: str, event_name: str, role: str, first_name: str) -> str:
    event_name, first_name = _one_line(event_name), _one_line(first_name)
    whose = f" de {first_name}" if role == "parent" and first_name else ""
    return {
        "schedule": f"Job dating « {event_name} » : planning des rencontres{whose}",
        "update": f"Job dating « {event_name} » : planning modifié{whose}",
        "cancel": f"Job dating « {event_name} » : rencontres annulées{whose}",
    }[kind]


def _last_sent(connection: sa.Connection, event_code: str) -> dict[tuple, dict]:
    """The meeting set of the last schedule sent to each (role, siret, ref, address)."""
    rows = connection.execute(
        sa.select(
            MAIL_SENDS.c.role,
            MAIL_SENDS.c.siret,
            MAIL_SENDS.c.candidate_ref,
            MAIL_SENDS.c.recipient,
            MAIL_SENDS.c.meetings,
        )
        .where(
            MAIL_SENDS.c.event_code == event_code,
            MAIL_SENDS.c.status.in_(DELIVERED),
            MAIL_SENDS.c.kind.in_(SCHEDULE_KINDS),
        )
        .order_by(MAIL_SENDS.c.id)
    ).all()
    return {(role, siret, ref, to): json.loads(meetings) for role, siret, ref, to, meetings in rows}


@dataclass(frozen=True)
class _Party:
    role: str
    siret: str | None
    candidate_ref: str | None
    recipient: str | None
    first_name: str
    schedule: pd.DataFrame
    who: str


def _parties(
    event: dict, meetings: pd.DataFrame, connection: sa.Connection
) -> tuple[list[_Party], list[str]]:
    """Every company and candidate of the event's meetings (cancelled ones too: they may need
    a cancellation), with the address their schedule goes to (None when unknown); and the
    meetings no company hears of because their candidate may not be presented (no consent, or
    no parent's under 15: ``consent.may_be_presented``), whatever wrote them (a file too)."""
    sirets = sorted(set(meetings["siret"]))
    refs = sorted(set(meetings["candidate_ref"]))
    emails = dict(
        connection.execute(
            sa.select(COMPANIES.c.siret, COMPANIES.c.email).where(COMPANIES.c.siret.in_(sirets))
        ).all()
    )
    people = {
        row.ref: row
        for row in connection.execute(
            sa.select(
                CANDIDATES.c.ref,
                CANDIDATES.c.first_name,
                CANDIDATES.c.email,
                CANDIDATES.c.parent_email,
                CANDIDATES.c.birth_date,
                CANDIDATES.c.presentation_consent,
                CANDIDATES.c.parent_presentation_consent,
            ).where(CANDIDATES.c.ref.in_(refs))
        )
    }
    presented = meetings["candidate_ref"].map(
        lambda ref: may_be_presented(
            consent=bool(people[ref].presentation_consent),
            parent_consent=bool(people[ref].parent_presentation_consent),
            birth_date=people[ref].birth_date,
            day=event["starts_on"],
        )
    )
    withheld = sorted(meetings.loc[~presented & (meetings["status"] != "cancelled"), "ref"])
    # Each party's meetings found once (a network's job dating has thousands of parties).
    of_company = dict(list(meetings[presented].groupby("siret")))
    of_candidate = dict(list(meetings.groupby("candidate_ref")))
    none = meetings.iloc[:0]
    parties = [
        _Party(
            "company",
            siret,
            None,
            emails.get(siret),
            "",
            company_schedule(of_company.get(siret, none), siret),
            "first_name",
        )
        for siret in sirets
    ]
    for ref in refs:
        person = people[ref]
        schedule = candidate_schedule(of_candidate[ref], ref)
        first = person.first_name or ""
        parties.append(_Party("candidate", None, ref, person.email, first, schedule, "company"))
        age = age_on(person.birth_date, event["starts_on"])
        if age is not None and age < ADULT_AGE and person.parent_email:
            parties.append(_Party("parent", None, ref, person.parent_email, first, schedule, "company"))
    return parties, withheld


def _schedule_message(
    event: dict, party: _Party, sent: dict | None, sender: str, now: datetime
) -> Outgoing | None:
    """The message a party's address needs now, or None when it has the schedule of now."""
    rows = list(party.schedule.itertuples())
    current = {row.ref: _digest(row, party.who) for row in rows}
    previous = sent or {}
    changed = [ref for ref, digest in current.items() if previous.get(ref, {}).get("digest") != digest]
    removed = [ref for ref, details in previous.items() if ref not in current and details.get("digest")]
    if not changed and not removed:
        return None
    if sent is None:
        kind = "schedule"
    else:
        kind = "update" if current else "cancel"
    meetings: dict[str, dict] = {}
    invitations = []

    def invite(name: str, schedule: pd.DataFrame, ref: str, method: str, sequence: int) -> None:
        """An invitation to attach, built when the message is written."""
        build = partial(
            meeting_invitation,
            schedule,
            ref,
            method=method,
            sequence=sequence,
            organizer=sender,
            attendee=party.recipient,
            now=now,
        )
        invitations.append((name, method, build))

    for row in rows:
        old = previous.get(row.ref)
        sequence = old["sequence"] + (row.ref in changed) if old else 0
        meetings[row.ref] = {
            "digest": current[row.ref],
            "sequence": sequence,
            "starts_at": row.starts_at.isoformat(),
            "ends_at": row.ends_at.isoformat(),
        }
        if row.ref in changed:
            invite(f"rencontre-{row.ref}.ics", party.schedule, row.ref, "REQUEST", sequence)
    cancelled_lines = []
    for ref in removed:
        details = previous[ref]
        sequence = details["sequence"] + 1
        # The meeting as it was sent (it may be gone from the store): only its time.
        gone = pd.DataFrame(
            [
                {
                    "ref": ref,
                    "starts_at": pd.Timestamp(details["starts_at"]),
                    "ends_at": pd.Timestamp(details["ends_at"]),
                    party.who: "",
                    "program": "",
                    "meeting_url": "",
                }
            ]
        )
        invite(f"rencontre-{ref}-annulee.ics", gone, ref, "CANCEL", sequence)
        meetings[ref] = {
            "digest": None,
            "sequence": sequence,
            "starts_at": details["starts_at"],
            "ends_at": details["ends_at"],
        }
        cancelled_lines.append(_cancelled_line(details))
    # Meetings cancelled before (digest None) stay known with their sequence.
    for ref, details in previous.items():
        meetings.setdefault(ref, details)
    name = event["name"]
    body = [_greeting(party.role, party.first_name), "", _intro(party.role, kind, name, party.first_name), ""]
    if kind == "cancel":
        body += cancelled_lines
    else:
        body += [_line(row, party.who) for row in rows]
        if cancelled_lines:
            body += ["", "Rencontres annulées :", *cancelled_lines]
    body += [
        "",
        "Chaque rencontre est en pièce jointe (fichier .ics) : ouvrez-la pour l'ajouter à votre agenda.",
        "",
        SIGNATURE,
    ]
    return Outgoing(
        event_code=event["code"],
        role=party.role,
        siret=party.siret,
        candidate_ref=party.candidate_ref,
        recipient=party.recipient,
        kind=kind,
        subject=_subject(kind, name, party.role, party.first_name),
        body="\n".join(body) + "\n",
        invitations=invitations,
        meetings=meetings,
    )


def _label(party: _Party) -> str:
    if party.role == "company":
        return f"entreprise {party.siret}"
    return f"{'parent de ' if party.role == 'parent' else 'candidat '}{party.candidate_ref}"


def schedules_to_send(
    event_code: str, *, sender: str, now: datetime | None = None, engine: Engine | None = None
) -> Mailing:
    """Every message the event's schedules need now: first schedules, updates, cancellations
    (``PairingError`` for an event that is not a job dating)."""
    engine = engine or get_engine()
    now = now or datetime.now(UTC)
    event = job_dating_event(event_code, engine)
    meetings = event_meetings(event_code, engine)
    with engine.connect() as connection:
        sent = _last_sent(connection, event_code)
        parties, withheld = _parties(event, meetings, connection) if not meetings.empty else ([], [])
    messages, without = [], []
    reached = set()
    for party in parties:
        if not party.recipient:
            if not party.schedule.empty and party.role != "parent":
                without.append(_label(party))
            continue
        key = (party.role, party.siret, party.candidate_ref, party.recipient)
        reached.add(key)
        if message := _schedule_message(event, party, sent.get(key), sender, now):
            messages.append(message)
    # An address that had a schedule and is no longer the party's (or whose party is gone).
    empty = pd.DataFrame(
        columns=["ref", "starts_at", "ends_at", "first_name", "company", "program", "meeting_url"]
    )
    for key, previous in sent.items():
        if key not in reached:
            role, siret, ref, recipient = key
            party = _Party(
                role, siret, ref, recipient, "", empty, "first_name" if role == "company" else "company"
            )
            if message := _schedule_message(event, party, previous, sender, now):
                messages.append(message)
    return Mailing(event, messages, without, withheld)


def reminders_to_send(event_code: str, day: date, *, sender: str, engine: Engine | None = None) -> Mailing:
    """The reminders due on ``day``: to each address with a planned meeting the next day, once."""
    engine = engine or get_engine()
    event = job_dating_event(event_code, engine)
    meetings = event_meetings(event_code, engine)
    tomorrow = day + timedelta(days=1)
    if not meetings.empty:
        meetings = meetings[
            (meetings["status"] == "planned")
            & (meetings["starts_at"].dt.tz_convert(LOCAL_TZ).dt.date == tomorrow)
        ]
    with engine.connect() as connection:
        done = {
            tuple(row)
            for row in connection.execute(
                sa.select(
                    MAIL_SENDS.c.role, MAIL_SENDS.c.siret, MAIL_SENDS.c.candidate_ref, MAIL_SENDS.c.recipient
                ).where(
                    MAIL_SENDS.c.event_code == event_code,
                    MAIL_SENDS.c.kind == "reminder",
                    MAIL_SENDS.c.day == tomorrow,
                    MAIL_SENDS.c.status.in_(DELIVERED),
                )
            )
        }
        parties, withheld = _parties(event, meetings, connection) if not meetings.empty else ([], [])
    messages, without = [], []
    for party in parties:
        if party.schedule.empty:
            continue
        if not party.recipient:
            if party.role != "parent":
                without.append(_label(party))
            continue
        if (party.role, party.siret, party.candidate_ref, party.recipient) in done:
            continue
        rows = list(party.schedule.itertuples())
        whose = f"de {party.first_name or 'votre enfant'} " if party.role == "parent" else ""
        body = [
            _greeting(party.role, party.first_name),
            "",
            f"Rappel : les rencontres {whose}au job dating « {event['name']} » ont lieu demain, "
            f"{format_day(tomorrow)} :",
            "",
            *[_line(row, party.who) for row in rows],
            "",
            "Connectez-vous quelques minutes avant l'heure avec le lien de la salle visio.",
            "",
            SIGNATURE,
        ]
        messages.append(
            Outgoing(
                event_code=event["code"],
                role=party.role,
                siret=party.siret,
                candidate_ref=party.candidate_ref,
                recipient=party.recipient,
                kind="reminder",
                subject=f"Rappel : job dating « {_one_line(event['name'])} » demain",
                body="\n".join(body) + "\n",
                meetings={row.ref: {"starts_at": row.starts_at.isoformat()} for row in rows},
                day=tomorrow,
            )
        )
    return Mailing(event, messages, without, withheld)


# ---------------------------------------------------------------- sending


#: A message whose sending is under way or whose outcome is unknown (the log could not be
#: written after the server took it): counted as sent, so that nothing goes twice.
DELIVERED = ("sent", "pending")


def _claim(engine: Engine, message: Outgoing, now: datetime) -> int:
    """The message's row of the send log, written ``pending`` before it leaves (committed,
    tried again while the store is busy): its id."""

    def insert(connection: sa.Connection) -> int:
        return connection.execute(
            MAIL_SENDS.insert().values(
                event_code=message.event_code,
                role=message.role,
                siret=message.siret,
                candidate_ref=message.candidate_ref,
                recipient=message.recipient,
                kind=message.kind,
                day=message.day,
                meetings=json.dumps(message.meetings, sort_keys=True),
                sent_at=now,
                status="pending",
                attempts=0,
            )
        ).inserted_primary_key[0]

    return retry_write(insert, engine)


def _settle(engine: Engine, row_id: int, **values: object) -> None:
    """The outcome of a claimed message: ``sent`` with its Message-ID, or ``failed`` with why."""
    retry_write(
        lambda connection: connection.execute(
            MAIL_SENDS.update().where(MAIL_SENDS.c.id == row_id).values(**values)
        ),
        engine,
    )


def send_mailing(
    mailing: Mailing,
    mailer: Mailer,
    *,
    sender: str,
    actor: str,
    pause: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    engine: Engine | None = None,
) -> SendReport:
    """Send each message (``pause`` seconds between two). Each is logged ``pending`` before it
    leaves, then ``sent`` with its Message-ID or ``failed`` with the reason (tried again by the
    next run); a message that cannot even be written as an e-mail fails alone. The run is in
    the audit log whatever stops it."""
    engine = engine or get_engine()
    report = SendReport()
    try:
        for number, message in enumerate(mailing.messages):
            if number and pause:
                sleep(pause)
            now = datetime.now(UTC)
            try:  # written (its invitations built) before it is logged as leaving
                email, unwritable = message.email(sender, now), None
            except ValueError as error:  # a header the e-mail format refuses
                email, unwritable = None, f"message impossible à écrire : {error}"
            row_id = _claim(engine, message, now)
            if unwritable:
                _settle(engine, row_id, status="failed", error=unwritable, attempts=0)
                report.failed.append((message, unwritable))
                continue
            try:
                attempts = mailer.send(email)
            except MessageRefused as error:
                _settle(engine, row_id, status="failed", error=str(error), attempts=mailer.attempts)
                report.failed.append((message, str(error)))
                continue
            except MailError as error:  # the server cannot be used: this one is not sent, the run stops
                _settle(engine, row_id, status="failed", error=str(error), attempts=mailer.attempts)
                raise
            _settle(engine, row_id, status="sent", message_id=email["Message-ID"], attempts=attempts)
            report.sent.append(message)
    finally:
        kinds = sorted({message.kind for message in mailing.messages})
        audit.record(
            "mail.send",
            actor=actor,
            target=mailing.event["code"],
            detail=f"kinds={','.join(kinds) or '-'} sent={len(report.sent)} failed={len(report.failed)}",
            engine=engine,
        )
    return report


def deliver(
    mailing: Mailing, *, actor: str, sleep: Callable[[float], None] = time.sleep, engine: Engine | None = None
) -> SendReport:
    """Send a mailing through the configured server, throttled by ``SMTP_PAUSE_MS``:
    ``MailNotConfigured`` without ``SMTP_URL``, ``MailError`` when the server cannot be used."""
    mailer, sender = configured_mailer(sleep)
    with mailer:
        return send_mailing(
            mailing,
            mailer,
            sender=sender,
            actor=actor,
            pause=config.smtp_pause_ms() / 1000,
            sleep=sleep,
            engine=engine,
        )
