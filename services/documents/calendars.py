"""iCalendar export of an advisor's interviews, with only what a calendar needs."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from icalendar import Calendar, Event

PRODUCT = "-//Rencontres//Planning des entretiens//FR"
UID_DOMAIN = "rencontres.pole-formation"


def schedule_ics(schedule: pd.DataFrame, calendar_name: str, now: datetime | None = None) -> bytes:
    """An .ics of the non-cancelled interviews of ``schedule`` (rows of ``schedule.interviews``).

    Each event carries the time, the programme, the candidate's first name and initial, the number
    of people and the video link; no e-mail, phone, birth date or postal code.
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
        who = short_name(row.candidate)
        event.add("summary", f"Entretien {_text(row.program_code)} · {who}".replace("  ", " "))
        lines = [f"Personnes attendues : {row.attendees}"]
        if meeting_url := _text(row.meeting_url):
            event.add("location", meeting_url)
            event.add("url", meeting_url)
            lines.append(f"Salle visio : {meeting_url}")
        event.add("description", "\n".join(lines))
        calendar.add_component(event)
    return calendar.to_ical()


def short_name(full_name: str | None) -> str:
    """``Lucas Martin`` → ``Lucas M.``: enough for an advisor's calendar."""
    parts = (full_name or "").split()
    if not parts:
        return "candidat"
    return parts[0] if len(parts) == 1 else f"{parts[0]} {parts[-1][0]}."


def _text(value: object) -> str:
    """A text field of the schedule, "" when missing (None, or NaN in a pandas text column)."""
    return value if isinstance(value, str) else ""


def meetings_ics(schedule: pd.DataFrame, calendar_name: str, now: datetime | None = None) -> bytes:
    """An .ics of a company's or a candidate's job-dating meetings (``meetings.company_schedule``
    or ``candidate_schedule``): each event says who is met (the candidate's first name, or the
    company) and the programme, with the video link; nothing else."""
    stamp = now or datetime.now(UTC)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", calendar_name)
    who = "first_name" if "first_name" in schedule else "company"
    for row in schedule.itertuples():
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
            event.add("description", f"Salle visio : {meeting_url}")
        calendar.add_component(event)
    return calendar.to_ical()
