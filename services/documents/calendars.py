"""iCalendar export of an advisor's interviews, with only what a calendar needs."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from icalendar import Calendar, Event

from services.i18n import DEFAULT_LANGUAGE, translate, translate_plural

PRODUCT = "-//Rencontres//Planning des entretiens//FR"
UID_DOMAIN = "rencontres.pole-formation"


def schedule_ics(
    schedule: pd.DataFrame, calendar_name: str, now: datetime | None = None, language: str = DEFAULT_LANGUAGE
) -> bytes:
    """An .ics of the non-cancelled interviews of ``schedule`` (rows of ``schedule.interviews``).

    Each event carries the time, the programme, the candidate's first name and initial, the number
    of people and the video link; no e-mail, phone, birth date or postal code. Its texts are in
    ``language``.
    """
    stamp = now or datetime.now(UTC)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", calendar_name)
    for row in schedule[schedule["status"] != "cancelled"].itertuples():
        event = Event()
        event.add("uid", f"{row.ref}@{UID_DOMAIN}")
        event.add("dtstamp", stamp)
        event.add("dtstart", row.starts_at.to_pydatetime().astimezone(UTC))
        event.add("dtend", row.ends_at.to_pydatetime().astimezone(UTC))
        who = short_name(row.candidate, language)
        summary = translate("ics.interview", language, program=_text(row.program_code), who=who)
        event.add("summary", summary.replace("  ", " "))
        lines = [translate_plural("ics.attendees", int(row.attendees), language)]
        if meeting_url := _text(row.meeting_url):
            event.add("location", meeting_url)
            event.add("url", meeting_url)
            lines.append(translate("ics.room", language, url=meeting_url))
        event.add("description", "\n".join(lines))
        calendar.add_component(event)
    return calendar.to_ical()


def short_name(full_name: str | None, language: str = DEFAULT_LANGUAGE) -> str:
    """``Lucas Martin`` → ``Lucas M.``: enough for an advisor's calendar."""
    parts = (full_name or "").split()
    if not parts:
        return translate("ics.candidate", language)
    return parts[0] if len(parts) == 1 else f"{parts[0]} {parts[-1][0]}."


def _text(value: object) -> str:
    """A text field of the schedule, "" when missing (None, or NaN in a pandas text column)."""
    return value if isinstance(value, str) else ""


def _meeting_event(row: object, who: str, stamp: datetime, language: str) -> Event:
    """One job-dating meeting as a calendar event: who is met (the candidate's first name, or
    the company), the programme, the time and the video link; nothing else."""
    event = Event()
    event.add("uid", f"meeting-{row.ref}@{UID_DOMAIN}")
    event.add("dtstamp", stamp)
    event.add("dtstart", row.starts_at.to_pydatetime().astimezone(UTC))
    event.add("dtend", row.ends_at.to_pydatetime().astimezone(UTC))
    summary = ("Job dating", _text(getattr(row, who)), _text(row.program))
    event.add("summary", " · ".join(part for part in summary if part))
    if meeting_url := _text(row.meeting_url):
        event.add("location", meeting_url)
        event.add("url", meeting_url)
        event.add("description", translate("ics.room", language, url=meeting_url))
    return event


def _who(schedule: pd.DataFrame) -> str:
    return "first_name" if "first_name" in schedule else "company"


def meetings_ics(
    schedule: pd.DataFrame, calendar_name: str, now: datetime | None = None, language: str = DEFAULT_LANGUAGE
) -> bytes:
    """An .ics of a company's or a candidate's job-dating meetings (``meetings.company_schedule``
    or ``candidate_schedule``): each event says who is met (the candidate's first name, or the
    company) and the programme, with the video link; nothing else."""
    stamp = now or datetime.now(UTC)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", calendar_name)
    who = _who(schedule)
    for row in schedule.itertuples():
        calendar.add_component(_meeting_event(row, who, stamp, language))
    return calendar.to_ical()


def meeting_invitation(
    schedule: pd.DataFrame,
    ref: str,
    *,
    method: str,
    sequence: int,
    organizer: str,
    attendee: str,
    now: datetime | None = None,
    language: str = DEFAULT_LANGUAGE,
) -> bytes:
    """One meeting of a schedule as an iCalendar invitation sent by e-mail (RFC 5546):
    ``REQUEST`` (new, or changed with ``sequence`` raised) or ``CANCEL`` (status cancelled)."""
    stamp = now or datetime.now(UTC)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    row = next(row for row in schedule.itertuples() if row.ref == ref)
    event = _meeting_event(row, _who(schedule), stamp, language)
    event.add("sequence", sequence)
    event.add("organizer", f"mailto:{organizer}")
    event.add("attendee", f"mailto:{attendee}")
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    calendar.add_component(event)
    return calendar.to_ical()
