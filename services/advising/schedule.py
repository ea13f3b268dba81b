"""The advisors' schedules: the interviews of a day or a week (as each viewer may see them), their
conflicts, the advisors' pages, and the lists and tables the schedule page shows and exports.

Availability (free slots, load) is in ``availability``, outcomes and reassignments in ``outcomes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.access.privacy import age_on
from services.advising.availability import of_advisors, with_local_times
from services.store import analytics
from services.store.database import get_engine
from services.store.models import Advisor, Booking, Candidate, Program, Touchpoint
from services.store.scope import Scope

BOOKINGS = Booking.__table__
ADVISORS = Advisor.__table__
CANDIDATES = Candidate.__table__
PROGRAMS = Program.__table__
TOUCHPOINTS = Touchpoint.__table__


def interviews(
    first_day: date,
    last_day: date,
    sites: tuple[str, ...] = (),
    programs: tuple[str, ...] = (),
    engine: Engine | None = None,
    *,
    advisors: tuple[str | None, ...] | None = None,
) -> pd.DataFrame:
    """Interviews starting on these local days at these sites and for these programmes (all when
    none), in time order; only those of ``advisors`` when given (``None`` among them: the
    interviews without an advisor).

    One row per booking with the advisor, the candidate (name, birth date), programme, people,
    status, video links (the host link is its advisor's only: access.interviews_for hides it),
    version, and for the candidate: earlier bookings and channel of origin.
    """
    scope = Scope(first_day, last_day, sites=sites, programs=programs)
    # Read like the other heavy reads (analytics.read_frame): in DuckDB for a SQLite file, where
    # at 200,000 candidates (9,000 interviews a day) the whole day takes 0.06 s against 0.2 s in
    # SQLite itself. On PostgreSQL the scalar subqueries below run only for the period's
    # bookings (found by the starts_at index), each as one index seek: the candidate's first
    # touchpoint is the first entry of uq_touchpoints_key (candidate_ref, occurred_at, channel,
    # …), the earlier bookings come from ix_bookings_candidate_booked_at; joins on grouped
    # subqueries or window functions over the day's candidates were measured slower there
    # (they read every touchpoint of those candidates, then sort).
    first_touch = (
        sa.select(TOUCHPOINTS.c.channel)
        .where(TOUCHPOINTS.c.candidate_ref == BOOKINGS.c.candidate_ref)
        .order_by(TOUCHPOINTS.c.occurred_at, TOUCHPOINTS.c.channel)
        .limit(1)
        .scalar_subquery()
    )
    earlier = BOOKINGS.alias("earlier")
    earlier_count = (
        sa.select(sa.func.count())
        .where(
            earlier.c.candidate_ref == BOOKINGS.c.candidate_ref, earlier.c.starts_at < BOOKINGS.c.starts_at
        )
        .scalar_subquery()
    )
    program_name = (
        sa.select(PROGRAMS.c.name)
        .where(PROGRAMS.c.code == BOOKINGS.c.program_code, PROGRAMS.c.site_code == BOOKINGS.c.site_code)
        .scalar_subquery()
    )
    query = (
        sa.select(
            BOOKINGS.c.ref,
            BOOKINGS.c.starts_at,
            BOOKINGS.c.duration_min,
            BOOKINGS.c.site_code,
            BOOKINGS.c.advisor_email,
            ADVISORS.c.name.label("advisor"),
            BOOKINGS.c.candidate_ref,
            CANDIDATES.c.first_name,
            CANDIDATES.c.last_name,
            CANDIDATES.c.birth_date,
            CANDIDATES.c.email,
            CANDIDATES.c.phone,
            BOOKINGS.c.program_code,
            program_name.label("program"),
            BOOKINGS.c.attendees,
            BOOKINGS.c.status,
            BOOKINGS.c.meeting_url,
            BOOKINGS.c.host_room_url,
            BOOKINGS.c.version,
            earlier_count.label("earlier_bookings"),
            first_touch.label("origin_channel"),
        )
        .join(CANDIDATES, CANDIDATES.c.ref == BOOKINGS.c.candidate_ref)
        .outerjoin(ADVISORS, ADVISORS.c.email == BOOKINGS.c.advisor_email)
        .where(
            scope.within(BOOKINGS.c.starts_at),
            *scope.offering_filters(BOOKINGS.c.site_code, BOOKINGS.c.program_code),
        )
        .order_by(BOOKINGS.c.starts_at, BOOKINGS.c.advisor_email, BOOKINGS.c.ref)
    )
    if advisors is not None:
        # A page of advisors: the per-interview lookups above then run for its interviews only.
        query = query.where(of_advisors(BOOKINGS.c.advisor_email, advisors))
    frame = analytics.read_frame(query, engine, instants=["starts_at"])
    columns = [
        "ref",
        "starts_at",
        "ends_at",
        "duration_min",
        "site_code",
        "advisor_email",
        "advisor",
        "advisor_label",
        "candidate_ref",
        "candidate",
        "age",
        "minor",
        "email",
        "phone",
        "program_code",
        "program",
        "attendees",
        "status",
        "meeting_url",
        "host_room_url",
        "version",
        "earlier_bookings",
        "origin_channel",
        "overlap",
    ]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = with_local_times(frame)
    frame["candidate"] = (frame["first_name"].fillna("") + " " + frame["last_name"].fillna("")).str.strip()
    frame["age"] = [
        age_on(born, day) for born, day in zip(frame["birth_date"], frame["starts_at"].dt.date, strict=True)
    ]
    frame["age"] = frame["age"].astype("Int64")
    # Unknown birth date: unknown, not "adult".
    frame["minor"] = (frame["age"] < 18).astype(object).where(frame["age"].notna(), None)
    frame["advisor_label"] = advisor_labels(frame)
    frame["overlap"] = frame["ref"].isin(overlapping(frame))
    return frame[columns]


def advisor_labels(schedule: pd.DataFrame) -> pd.Series:
    """One label per advisor: ``name · site``, with the e-mail added where two would read the same."""
    label = schedule["advisor"].fillna("—") + " · " + schedule["site_code"]
    emails_per_label = schedule.groupby(label)["advisor_email"].transform("nunique")
    return label.where(emails_per_label <= 1, label + " (" + schedule["advisor_email"].fillna("") + ")")


def overlapping(schedule: pd.DataFrame) -> set[str]:
    """Refs of non-cancelled interviews that overlap another one of the same advisor.

    Intervals are half-open: an interview ending at 10:45 and one starting at 10:45 touch, they
    do not overlap.
    """
    live = schedule[(schedule["status"] != "cancelled") & schedule["advisor_email"].notna()]
    # One pass over the rows sorted by advisor then start (not one small frame per advisor: a
    # day at scale has thousands of advisors). The interview reaching furthest so far overlaps
    # any later one that starts before it ends.
    live = live.sort_values(["advisor_email", "starts_at"], kind="stable")
    # Instants as UTC nanoseconds: plain integers compare much faster than timestamps.
    starts, ends = (
        live[name].to_numpy("datetime64[ns]").view("int64").tolist() for name in ("starts_at", "ends_at")
    )
    found: set[str] = set()
    advisor, latest_end, latest_ref = None, None, None
    emails, refs = live["advisor_email"].tolist(), live["ref"].tolist()
    for email, ref, start, end in zip(emails, refs, starts, ends, strict=True):
        if email != advisor:
            advisor, latest_end, latest_ref = email, None, None
        if latest_end is not None and start < latest_end:
            found.update({ref, latest_ref})
        if latest_end is None or end > latest_end:
            latest_end, latest_ref = end, ref
    return found


#: Advisors on one page of the schedule. A timeline of more rows cannot be read (a network has
#: thousands of advisors), and the page builds its figure, list and tables for these only.
ADVISORS_PER_PAGE = 25


@dataclass(frozen=True)
class AdvisorPage:
    """One page of the schedule's advisors: who is on it, where it lies among all, what it holds.

    Positions count from 1 (``first`` and ``last`` are 0 without any advisor). ``advisors`` are
    e-mails in page order, ``None`` standing for the interviews without an advisor (first page
    only); ``bounds`` the first and last advisor (label) of every page;
    ``overlaps_elsewhere`` the advisors of other pages with overlapping interviews and their page.
    """

    number: int
    pages: int
    size: int
    first: int
    last: int
    total: int
    busy: int
    advisors: tuple[str | None, ...]
    bounds: tuple[tuple[str, str], ...]
    interviews: int
    interview_total: int
    overlaps_elsewhere: tuple[tuple[str, int], ...]

    @property
    def whole(self) -> bool:
        """Whether this page shows every interview of the selection."""
        return self.interviews == self.interview_total

    def span(self, number: int) -> tuple[int, int]:
        """The positions of the first and last advisors of page ``number``."""
        return min((number - 1) * self.size + 1, self.total), min(number * self.size, self.total)


def interview_times(
    first_day: date,
    last_day: date,
    sites: tuple[str, ...] = (),
    programs: tuple[str, ...] = (),
    engine: Engine | None = None,
) -> pd.DataFrame:
    """The interviews ``interviews`` returns for the same arguments, with only what paging them
    by advisor and finding overlaps need: ref, advisor_email, advisor (name), site_code, status,
    starts_at, ends_at. No candidate data and none of the per-interview lookups: the page reads
    these for the whole selection (93,000 interviews a day at the largest scale measured) and
    the full rows for one page of advisors only."""
    scope = Scope(first_day, last_day, sites=sites, programs=programs)
    query = (
        sa.select(
            BOOKINGS.c.ref,
            BOOKINGS.c.advisor_email,
            ADVISORS.c.name.label("advisor"),
            BOOKINGS.c.site_code,
            BOOKINGS.c.status,
            BOOKINGS.c.starts_at,
            BOOKINGS.c.duration_min,
        )
        # No join to the candidates as ``interviews`` has: the store's foreign keys guarantee
        # every booking its candidate, so both count the same interviews.
        .outerjoin(ADVISORS, ADVISORS.c.email == BOOKINGS.c.advisor_email)
        .where(
            scope.within(BOOKINGS.c.starts_at),
            *scope.offering_filters(BOOKINGS.c.site_code, BOOKINGS.c.program_code),
        )
    )
    return with_local_times(analytics.read_frame(query, engine, instants=["starts_at"]))


def advisor_page(
    times: pd.DataFrame,
    advisors: pd.DataFrame,
    number: int = 1,
    first_advisor: str | None = None,
    size: int = ADVISORS_PER_PAGE,
) -> AdvisorPage:
    """Page ``number`` (brought within the pages there are) of the advisors of a selection.

    ``times`` are the selection's interviews (``interview_times``), ``advisors`` the advisors of
    its sites (email, name, site_code). Every advisor has a place, with interviews or not (the
    free slots of those without are the most useful), in this order: ``first_advisor``, the
    advisors with interviews, then those without, each group by label (``name · site``), so that
    the interviews fill the first pages. The interviews without an advisor come on the first
    page, after ``first_advisor``, over its ``size``.
    """
    # Membership through Python sets: pandas' isin on text converts every value it is given one
    # by one (a second for a day of the largest network measured).
    known = set(advisors["email"])
    booked = times["advisor_email"].tolist()
    busy = {email for email in booked if isinstance(email, str)}
    people = pd.concat(
        [
            advisors.rename(columns={"email": "advisor_email", "name": "advisor"})[
                ["advisor_email", "advisor", "site_code"]
            ],
            # Interviews of an advisor who is not one of these sites' (an import may say so).
            times.loc[
                [email in busy and email not in known for email in booked],
                ["advisor_email", "advisor", "site_code"],
            ],
        ],
        ignore_index=True,
    ).drop_duplicates("advisor_email")
    people["label"] = advisor_labels(people)
    people["group"] = [
        0 if email == first_advisor else 1 if email in busy else 2 for email in people["advisor_email"]
    ]
    people = people.sort_values(["group", "label", "advisor_email"], kind="stable")
    emails: list[str] = people["advisor_email"].tolist()
    labels: list[str] = people["label"].tolist()

    count = len(emails)
    pages = max(1, -(-count // size))
    number = min(max(int(number), 1), pages)
    start = (number - 1) * size
    shown: tuple[str | None, ...] = tuple(emails[start : start + size])
    members = set(shown)
    on_page = pd.Series([email in members for email in booked], index=times.index, dtype=bool)
    unassigned = times["advisor_email"].isna()
    if number == 1 and unassigned.any():
        # On the first page, after the chosen advisor, over the page's size: they need someone.
        at = int((people["group"] == 0).any())
        shown = (*shown[:at], None, *shown[at:])
        on_page |= unassigned
    # Overlaps are an advisor's own, found over the whole selection: those of other pages are
    # named with their page, so that nobody misses one for not paging through every advisor.
    position = {email: index for index, email in enumerate(emails)}
    overlaps = overlapping(times)
    overlapping_advisors = {
        email for email, ref in zip(booked, times["ref"].tolist(), strict=True) if ref in overlaps
    }
    elsewhere = sorted(
        (position[email] // size + 1, labels[position[email]])
        for email in overlapping_advisors
        if position[email] // size + 1 != number
    )
    return AdvisorPage(
        number=number,
        pages=pages,
        size=size,
        first=min(start + 1, count),
        last=min(start + size, count),
        total=count,
        busy=len(busy),
        advisors=shown,
        bounds=tuple((labels[i], labels[min(i + size, count) - 1]) for i in range(0, count, size)),
        interviews=int(on_page.sum()),
        interview_total=len(times),
        overlaps_elsewhere=tuple((label, page) for page, label in elsewhere),
    )


def view_detail(first_day: date, last_day: date, page: AdvisorPage) -> str:
    """What the audit log says was seen: the period, and which advisors (their e-mails, staff
    identifiers: a position in the page order would not say who, the order changing with the
    chosen advisor and the data) when the page does not show all its interviews
    (``2020-04-15..2020-04-15 conseillers a@cfai.fr, b@cfai.fr``)."""
    period = f"{first_day}..{last_day}"
    if page.whole:
        return period
    return f"{period} conseillers " + ", ".join(email or "(sans conseiller)" for email in page.advisors)


def advisors_of(sites: tuple[str, ...] = (), engine: Engine | None = None) -> pd.DataFrame:
    """Advisors (email, name, site_code) of these sites (all when none), by name."""
    query = sa.select(ADVISORS.c.email, ADVISORS.c.name, ADVISORS.c.site_code).order_by(ADVISORS.c.name)
    if sites:
        query = query.where(ADVISORS.c.site_code.in_(sites))
    with (engine or get_engine()).connect() as connection:
        return pd.DataFrame(connection.execute(query).all(), columns=["email", "name", "site_code"])


def day_list(schedule: pd.DataFrame, first_advisor: str | None = None) -> pd.DataFrame:
    """The interviews as the list shows and exports them, the given advisor's first."""
    ordered = schedule.assign(_mine=schedule["advisor_email"] != first_advisor).sort_values(
        ["_mine", "starts_at", "advisor"], kind="stable"
    )
    return pd.DataFrame(
        {
            "ref": ordered["ref"],
            "day": ordered["starts_at"].dt.strftime("%d/%m/%Y"),
            "time": ordered["starts_at"].dt.strftime("%H:%M"),
            "advisor": ordered["advisor"],
            "candidate": ordered["candidate"],
            "age": ordered["age"],
            "minor": ordered["minor"],
            "email": ordered["email"],
            "phone": ordered["phone"],
            "program": ordered["program"].fillna(ordered["program_code"]),
            "people": ordered["attendees"],
            "status": ordered["status"],
            "link": ordered["meeting_url"],
            "earlier_bookings": ordered["earlier_bookings"],
            "origin_channel": ordered["origin_channel"],
        }
    ).reset_index(drop=True)


def listing_table(
    schedule: pd.DataFrame,
    *,
    first_advisor: str | None,
    status_names: dict[str, str],
    minor_label: str,
    with_day: bool,
) -> pd.DataFrame:
    """The list as the page shows and exports it: ``day_list`` with its statuses named, "minor"
    spelt out ("?" when the birth date is unknown), ages as text, without the ref, and without
    the day unless ``with_day`` (a week)."""
    listing = day_list(schedule, first_advisor=first_advisor)
    shown = listing.assign(
        status=listing["status"].map(status_names),
        minor=[
            m if isinstance(m, str) else "?" if pd.isna(m) else minor_label if m else ""
            for m in listing["minor"]
        ],
        # Ages another advisor's candidates do not show read "—": the column is text for all.
        age=[a if isinstance(a, str) else "" if pd.isna(a) else str(int(a)) for a in listing["age"]],
    ).drop(columns="ref")
    return shown if with_day else shown.drop(columns="day")
