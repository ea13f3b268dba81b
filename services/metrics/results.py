"""The directors' results: comparison with another event, pacing, sites, programmes, companies, signals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.advising import availability
from services.config import LOCAL_TZ
from services.metrics import bookings, money
from services.metrics.bookings import (
    BOOKINGS,
    ENROLLMENTS,
    FUNNEL_STEPS,
    distinct_candidates,
    in_scope,
    ratio,
)
from services.store import analytics
from services.store.database import get_engine
from services.store.models import BOOKING_STATUSES, Advisor, Company, Event, Offer, Program, Site
from services.store.scope import Scope
from services.store.values import local_midnight

PROGRAMS = Program.__table__
SITES = Site.__table__
OFFERS = Offer.__table__
COMPANIES = Company.__table__
EVENTS = Event.__table__
ADVISORS = Advisor.__table__
#: Days of the pacing curve, relative to the event's first day.
PACING_DAYS = range(-30, 8)
#: A site is flagged when its no-show rate is at least this multiple of the average.
NO_SHOW_ALERT_RATIO = 1.5


def key_figures(scope: Scope, engine: Engine | None = None) -> dict[str, float | int | None]:
    """The KPI cards: bookings, show rate, family attendance, booked, enrolled, conversion,
    spend, and cost per enrollment (spend / enrolled).

    Every booking figure comes from one pass over the bookings in scope (``bookings.summary``,
    only the funnel's steps "booked" and "enrolled": no card shows "reached", the costly one).
    """
    booked = bookings.summary(scope, steps=("booked", "enrolled"), engine=engine)
    totals, funnel = booked.totals, booked.funnel
    spend = sum(money.spend_by_channel(scope, engine).values())
    return {
        "bookings": totals["total"],
        "show_rate": bookings.show_rate(totals),
        "family_attendance": booked.family_attendance,
        "booked": funnel["booked"],
        "enrolled": funnel["enrolled"],
        "conversion_to_enrollment": bookings.conversion_to_enrollment(funnel),
        "spend": spend,
        "cost_per_enrollment": ratio(spend, funnel["enrolled"]),
    }


def _position(value: sa.ColumnElement, bounds: list[datetime], low: int, high: int) -> sa.ColumnElement[int]:
    """How many of the increasing ``bounds`` are at or before ``value``, known to be between
    ``low`` and ``high``: a binary search written as nested CASEs, about log2(len(bounds))
    comparisons a row (one comparison per bound would be 38 for the pacing curve)."""
    if low == high:
        return sa.literal_column(str(low), sa.Integer)
    middle = (low + high) // 2
    return sa.case(
        (value < bounds[middle], _position(value, bounds, low, middle)),
        else_=_position(value, bounds, middle + 1, high),
    )


def _count_by_position(
    value: sa.ColumnElement,
    bounds: list[datetime],
    *conditions: sa.ColumnElement[bool],
    engine: Engine | None = None,
) -> list[int]:
    """The rows meeting ``conditions`` with ``value`` before the last bound, counted by how many
    bounds are at or before ``value`` (list index): ``[n0, n1, …]``, one count per bound.

    The database counts; it sends at most one small row per bound. A heavy read
    (``analytics.read_frame``): at scale L, an event's 700,000 bookings took 0.5 s to count in
    SQLite, for each of the two curves of the results page.
    """
    position = _position(value, bounds, 0, len(bounds) - 1).label("position")
    rows = sa.select(position).where(*conditions, value < bounds[-1]).subquery()
    query = sa.select(rows.c.position, sa.func.count().label("rows")).group_by(rows.c.position)
    counts = [0] * len(bounds)
    for index, count in analytics.read_frame(query, engine).itertuples(index=False):
        counts[int(index)] = int(count)
    return counts


def comparison_event(events: pd.DataFrame, event_code: str) -> str | None:
    """The default comparison: the latest earlier open-day event of the other kind (virtual ↔ in person)."""
    chosen = events.set_index("code").loc[event_code]
    earlier = events[
        (events["starts_on"] < chosen["starts_on"])
        & (events["kind"] != chosen["kind"])
        & (events["kind"] != "job_dating")
    ]
    return None if earlier.empty else str(earlier.sort_values("starts_on").iloc[-1]["code"])


def comparison_scope(compared: Scope, scope: Scope) -> Scope:
    """The comparison event's own period and event, with the site and programme filters of ``scope``."""
    return Scope(compared.date_from, compared.date_to, compared.event, scope.sites, scope.programs)


def pacing(event_code: str, event_start: date, scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """Cumulative bookings of an event by day relative to its first day (−30 … +7), by booking date.

    Site and programme filters of ``scope`` apply; its period does not (the curve has its own days).
    The database counts the bookings made before the end of each local day of the curve (the
    first day's count takes every earlier booking): 38 numbers, not the event's bookings.
    """
    day_ends = [local_midnight(event_start + timedelta(days=day + 1)) for day in PACING_DAYS]
    per_day = _count_by_position(
        BOOKINGS.c.booked_at,
        day_ends,
        BOOKINGS.c.event_code == event_code,
        *scope.offering_filters(BOOKINGS.c.site_code, BOOKINGS.c.program_code),
        engine=engine,
    )
    return pd.DataFrame({"day": list(PACING_DAYS), "bookings": pd.Series(per_day).cumsum().astype(int)})


#: The bookings per status in ``site_figures`` (the funnel's steps keep their own names there).
STATUS_COLUMNS = {status: f"bookings_{status}" for status in BOOKING_STATUSES}


def site_figures(scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """Per site with bookings in scope (index ``site_code``, by code), from one query: the site's
    funnel (the funnel of the scope narrowed to the site: candidates reached, booked, attended,
    enrolled; its ``reached`` counts only the candidates with a booking in scope there:
    metrics.md, *Entonnoir par site*) and its bookings per status
    (``bookings_booked``, ``bookings_attended``…, see ``STATUS_COLUMNS``). The bookings per
    site, the funnel per site and the no-show findings all read it: the bookings in scope are
    read once for the three.

    "Enrolled somewhere" is asked of the list of enrolled candidates, read once (an index built
    once on SQLite, a hashed list on PostgreSQL), rather than of ``enrollments`` once per booking
    (``funnel_query``'s correlated EXISTS): the same candidates, 0.4 s less at L.
    """
    status = BOOKINGS.c.status
    not_cancelled = status != "cancelled"
    enrolled = sa.select(ENROLLMENTS.c.candidate_ref).where(ENROLLMENTS.c.status == "enrolled")
    steps = {
        "reached": distinct_candidates(),
        "booked": distinct_candidates(not_cancelled),
        "attended": distinct_candidates(status == "attended"),
        "enrolled": distinct_candidates(not_cancelled, BOOKINGS.c.candidate_ref.in_(enrolled)),
    }
    query = (
        sa.select(
            BOOKINGS.c.site_code,
            *(steps[step].label(step) for step in FUNNEL_STEPS),
            *(bookings.count_where(status == name).label(column) for name, column in STATUS_COLUMNS.items()),
        )
        .where(*in_scope(scope))
        .group_by(BOOKINGS.c.site_code)
    )
    return analytics.read_frame(query, engine).set_index("site_code").sort_index().astype(int)


def _per_status(figures: pd.DataFrame) -> pd.DataFrame:
    """The bookings per site and status of ``site_figures``: a column per status."""
    table = figures[list(STATUS_COLUMNS.values())]
    return table.rename(columns={column: status for status, column in STATUS_COLUMNS.items()})


def bookings_by_site(
    scope: Scope,
    engine: Engine | None = None,
    *,
    figures: pd.DataFrame | None = None,
    names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Bookings in scope per site and status (long form: site_code, site, status, bookings).

    ``figures`` (``site_figures`` of the scope) and ``names`` (``site_names``) are read when not given.
    """
    figures = site_figures(scope, engine) if figures is None else figures
    names = site_names(engine) if names is None else names
    table = _per_status(figures)
    long = table.reset_index().melt(id_vars="site_code", var_name="status", value_name="bookings")
    long["site"] = long["site_code"].map(names).fillna(long["site_code"])
    return long[["site_code", "site", "status", "bookings"]]


def funnel_by_site(
    scope: Scope,
    engine: Engine | None = None,
    *,
    figures: pd.DataFrame | None = None,
    names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The funnel of each site with its step rates: booked / reached, attended / booked,
    enrolled / booked. One query for all sites; every site of the filter (or, without one, of
    the store) has a row, with zeros when it has no booking in scope.

    ``figures`` (``site_figures`` of the scope) and ``names`` (``site_names``) are read when not given.
    """
    figures = site_figures(scope, engine) if figures is None else figures
    names = site_names(engine) if names is None else names
    sites = list(scope.sites) or list(names)
    rows = []
    for site, found in figures[list(FUNNEL_STEPS)].reindex(sites, fill_value=0).iterrows():
        counts = {step: int(found[step]) for step in FUNNEL_STEPS}
        rows.append(
            {
                "site_code": site,
                "site": names.get(site, site),
                **counts,
                "booking_rate": ratio(counts["booked"], counts["reached"]),
                "attendance_rate": ratio(counts["attended"], counts["booked"]),
                "conversion_to_enrollment": bookings.conversion_to_enrollment(counts),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "site_code",
            "site",
            *FUNNEL_STEPS,
            "booking_rate",
            "attendance_rate",
            "conversion_to_enrollment",
        ],
    )


def site_names(engine: Engine | None = None) -> dict[str, str]:
    """Site code → name, by code."""
    with (engine or get_engine()).connect() as connection:
        return dict(connection.execute(sa.select(SITES.c.code, SITES.c.name).order_by(SITES.c.code)).all())


def programme_table(scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """Per programme offering: seats, candidates booked and attended in scope, and among the booked
    candidates those pre-registered or enrolled in that offering; fill rate = enrolled / seats."""
    not_cancelled = BOOKINGS.c.status != "cancelled"
    offering = [BOOKINGS.c.program_code, BOOKINGS.c.site_code]
    # The booked candidate's enrollment in that offering, if any (at most one: uq_enrollments_key),
    # read once per booking for both statuses.
    enrolled_here = sa.and_(
        ENROLLMENTS.c.candidate_ref == BOOKINGS.c.candidate_ref,
        ENROLLMENTS.c.program_code == BOOKINGS.c.program_code,
        ENROLLMENTS.c.site_code == BOOKINGS.c.site_code,
    )
    enrollment = ENROLLMENTS.c.status  # NULL without one
    counts_query = (
        sa.select(
            *offering,
            distinct_candidates(not_cancelled).label("booked"),
            distinct_candidates(BOOKINGS.c.status == "attended").label("attended"),
            distinct_candidates(not_cancelled, enrollment == "pre_registered").label("pre_registered"),
            distinct_candidates(not_cancelled, enrollment == "enrolled").label("enrolled"),
        )
        .select_from(BOOKINGS.outerjoin(ENROLLMENTS, enrolled_here))
        .where(*in_scope(scope), BOOKINGS.c.program_code.is_not(None))
        .group_by(*offering)
    )
    programs_query = sa.select(
        PROGRAMS.c.code.label("program_code"),
        PROGRAMS.c.site_code,
        PROGRAMS.c.name,
        PROGRAMS.c.level,
        PROGRAMS.c.seats,
    ).where(*scope.offering_filters(PROGRAMS.c.site_code, PROGRAMS.c.code))
    counts = analytics.read_frame(counts_query, engine)
    programs = analytics.read_frame(programs_query, engine)
    table = programs.merge(counts, on=["program_code", "site_code"], how="left")
    for column in ("booked", "attended", "pre_registered", "enrolled"):
        table[column] = table[column].fillna(0).astype(int)
    table["fill_rate"] = [
        ratio(e, s) if s else None for e, s in zip(table["enrolled"], table["seats"], strict=True)
    ]
    return table.sort_values(["site_code", "program_code"]).reset_index(drop=True)


def companies_by_programme(year: int, scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """Companies, offers and positions published in ``year`` and the year before, by programme."""

    def per_year(connection: sa.Connection, published_year: int) -> pd.DataFrame:
        query = (
            sa.select(
                OFFERS.c.program_code,
                sa.func.count(sa.distinct(OFFERS.c.siret)),
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(OFFERS.c.positions), 0),
            )
            .where(
                OFFERS.c.published_on.between(date(published_year, 1, 1), date(published_year, 12, 31)),
                *scope.offering_filters(OFFERS.c.site_code, OFFERS.c.program_code),
            )
            .group_by(OFFERS.c.program_code)
        )
        return pd.DataFrame(
            connection.execute(query).all(), columns=["program_code", "companies", "offers", "positions"]
        ).set_index("program_code")

    with (engine or get_engine()).connect() as connection:
        this_year, last_year = per_year(connection, year), per_year(connection, year - 1)
    table = this_year.join(last_year, how="outer", suffixes=("", "_previous")).fillna(0).astype(int)
    table.index = table.index.fillna("—")
    return table.reset_index().sort_values("program_code").reset_index(drop=True)


@dataclass(frozen=True)
class Signal:
    """A plain-language finding and the figures behind it."""

    kind: str
    subject: str
    figures: dict[str, float | int]
    #: The day the finding is about, if any (written in the reader's language by the page).
    day: date | None = None


def signals(
    scope: Scope,
    engine: Engine | None = None,
    *,
    figures: pd.DataFrame | None = None,
    programmes: pd.DataFrame | None = None,
    names: dict[str, str] | None = None,
) -> list[Signal]:
    """Findings the data supports: sites with a high no-show rate, offerings with seats and no
    booking, days of the event when a site had no free slot left.

    ``figures`` (``site_figures``), ``programmes`` (``programme_table``) and ``names``
    (``site_names``) of the scope are read when not given: the page passes those it has.
    """
    found: list[Signal] = []
    per_site = _per_status(site_figures(scope, engine) if figures is None else figures)
    names = site_names(engine) if names is None else names
    seen = per_site["attended"] + per_site["no_show"]
    average = ratio(per_site["no_show"].sum(), seen.sum())
    if average:
        for site, row in per_site.iterrows():
            rate = ratio(row["no_show"], row["attended"] + row["no_show"])
            if rate is not None and rate >= NO_SHOW_ALERT_RATIO * average:
                found.append(
                    Signal(
                        "high_no_show",
                        names.get(site, site),
                        {
                            "no_show_rate": float(rate),
                            "average": float(average),
                            "no_show": int(row["no_show"]),
                        },
                    )
                )
    if len(per_site):  # only meaningful when the scope has bookings at all
        programmes = programme_table(scope, engine) if programmes is None else programmes
        idle = programmes[(programmes["seats"].fillna(0) > 0) & (programmes["booked"] == 0)]
        for row in idle.itertuples():
            found.append(
                Signal("seats_without_booking", f"{row.name} ({row.site_code})", {"seats": int(row.seats)})
            )
    return found + full_days(scope, engine, names=names)


def full_days(
    scope: Scope, engine: Engine | None = None, *, names: dict[str, str] | None = None
) -> list[Signal]:
    """Days of the selected event, in the period, when every advisor of a site had no free slot
    (``availability.free_slots``: the 45-minute slots of the opening hours that no interview not
    cancelled of the advisor touches, wherever it is, as on the advisors' page: metrics.md,
    *Créneaux libres*).

    Advisors are checked in turns: the first advisor of every site on every open day, then the
    next advisor only where those checked so far had no free slot. Most sites stop at the first
    (at M, one advisor-day in 26 has nine interviews or more), so a turn reads the interviews of
    the advisors it checks (one query, by advisor), never those of the whole event (92,000 a day
    at L): 0.33 s → 0.03 s at M, about 3 s → 0.25 s at L.
    """
    if not scope.event:
        return []
    engine = engine or get_engine()
    with engine.connect() as connection:
        event = connection.execute(
            sa.select(EVENTS.c.starts_on, EVENTS.c.ends_on).where(EVENTS.c.code == scope.event)
        ).first()
        if event is None:
            return []
        first, last = max(event.starts_on, scope.date_from), min(event.ends_on, scope.date_to)
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        slots = {day: len(availability.free_slots(day, [])) for day in days}
        days = [day for day in days if slots[day]]  # none at the weekend
        if not days:
            return []
        staff = sa.select(ADVISORS.c.site_code, ADVISORS.c.email).order_by(
            ADVISORS.c.site_code, ADVISORS.c.email
        )
        if scope.sites:
            staff = staff.where(ADVISORS.c.site_code.in_(scope.sites))
        advisors: dict[str, list[str]] = {}
        for site, email in connection.execute(staff):
            advisors.setdefault(site, []).append(email)
        # (day, site) → how many of the site's advisors had no free slot that day, so far.
        pending = {(day, site): 0 for day in days for site in advisors}
        full = []
        while pending:
            turn = {key: advisors[key[1]][checked] for key, checked in pending.items()}
            busy = _busy_by_advisor_and_day(connection, sorted(set(turn.values())), days)
            still = {}
            for (day, site), email in turn.items():
                if _has_free_slot(day, busy.get((email, day), []), slots[day]):
                    continue  # the site is not full that day
                if pending[(day, site)] + 1 == len(advisors[site]):
                    full.append((day, site))
                else:
                    still[(day, site)] = pending[(day, site)] + 1
            pending = still
        found = []
        for day, site in sorted(full):
            interviews = sa.select(sa.func.count()).where(
                *_live_interviews(day, day, scope.sites), BOOKINGS.c.site_code == site
            )
            if names is None:
                names = site_names(engine)
            found.append(
                Signal(
                    "full_day",
                    names.get(site, site),
                    {
                        "advisors": len(advisors[site]),
                        "interviews": int(connection.execute(interviews).scalar_one()),
                    },
                    day,
                )
            )
    return found


def _live_interviews(first_day: date, last_day: date, sites: tuple[str, ...]) -> list[sa.ColumnElement[bool]]:
    """Interviews not cancelled starting on these local days, at these sites (all when none)."""
    return [
        Scope(first_day, last_day).within(BOOKINGS.c.starts_at),
        BOOKINGS.c.status != "cancelled",
        *([BOOKINGS.c.site_code.in_(sites)] if sites else []),
    ]


def _has_free_slot(day: date, busy: list[tuple[datetime, datetime]], slots: int) -> bool:
    """Whether an advisor busy at these intervals has a free slot on ``day`` (``slots`` slots).

    An interval of d minutes touches at most ⌈d / 45⌉ + 1 slots: an advisor with too few
    interviews to touch them all has a free one, without computing them (most advisors).
    """
    if sum(-(-(end - start) // availability.SLOT) + 1 for start, end in busy) < slots:
        return True
    return bool(availability.free_slots(day, busy))


#: Advisors whose interviews one query reads at most (bound parameters stay few).
ADVISORS_PER_QUERY = 500


def _busy_by_advisor_and_day(
    connection: sa.Connection, emails: list[str], days: list[date]
) -> dict[tuple[str, date], list[tuple[datetime, datetime]]]:
    """The busy intervals of these advisors on these local days: their interviews not
    cancelled, at any site, by (advisor, local day). Read by advisor
    (``ix_bookings_advisor_email``): the interviews of these advisors only."""
    busy: dict[tuple[str, date], list[tuple[datetime, datetime]]] = {}
    for start in range(0, len(emails), ADVISORS_PER_QUERY):
        query = sa.select(BOOKINGS.c.advisor_email, BOOKINGS.c.starts_at, BOOKINGS.c.duration_min).where(
            *_live_interviews(days[0], days[-1], ()),
            BOOKINGS.c.advisor_email.in_(emails[start : start + ADVISORS_PER_QUERY]),
        )
        for email, starts_at, minutes in connection.execute(query):
            day = starts_at.astimezone(LOCAL_TZ).date()
            busy.setdefault((email, day), []).append((starts_at, starts_at + timedelta(minutes=minutes)))
    return busy
