"""The directors' results: comparison with another event, pacing, sites, programmes, companies, signals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services import bookings, money, schedule
from services.bookings import BOOKINGS, ENROLLMENTS, FUNNEL_STEPS, distinct_candidates, in_scope, ratio
from services.config import LOCAL_TZ
from services.database import get_engine
from services.models import Company, Event, Offer, Program, Site
from services.scope import Scope

PROGRAMS = Program.__table__
SITES = Site.__table__
OFFERS = Offer.__table__
COMPANIES = Company.__table__
EVENTS = Event.__table__
#: Days of the pacing curve, relative to the event's first day.
PACING_DAYS = range(-30, 8)
#: A site is flagged when its no-show rate is at least this multiple of the average.
NO_SHOW_ALERT_RATIO = 1.5


def key_figures(scope: Scope, engine: Engine | None = None) -> dict[str, float | int | None]:
    """The KPI cards: bookings, show rate, family attendance, booked, enrolled, conversion,
    spend, and cost per enrollment (spend / enrolled)."""
    totals = bookings.status_totals(scope, engine)
    funnel = bookings.funnel(scope, engine, steps=("booked", "enrolled"))  # no card shows "reached"
    spend = sum(money.spend_by_channel(scope, engine).values())
    return {
        "bookings": totals["total"],
        "show_rate": bookings.show_rate(totals),
        "family_attendance": bookings.family_attendance(scope, engine),
        "booked": funnel["booked"],
        "enrolled": funnel["enrolled"],
        "conversion_to_enrollment": bookings.conversion_to_enrollment(funnel),
        "spend": spend,
        "cost_per_enrollment": ratio(spend, funnel["enrolled"]),
    }


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
    """
    query = sa.select(BOOKINGS.c.booked_at).where(
        BOOKINGS.c.event_code == event_code,
        *scope.offering_filters(BOOKINGS.c.site_code, BOOKINGS.c.program_code),
    )
    with (engine or get_engine()).connect() as connection:
        booked_at = pd.Series(connection.execute(query).scalars().all(), dtype="object")
    days = pd.Series(list(PACING_DAYS), name="day")
    if booked_at.empty:
        return pd.DataFrame({"day": days, "bookings": 0})
    local_days = pd.to_datetime(booked_at, utc=True).dt.tz_convert(LOCAL_TZ).dt.date
    relative = pd.Series([(day - event_start).days for day in local_days])
    per_day = relative.value_counts()
    before_window = int((relative < PACING_DAYS.start).sum())
    counts = days.map(per_day).fillna(0).astype(int)
    return pd.DataFrame({"day": days, "bookings": counts.cumsum() + before_window})


def bookings_by_site(scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """Bookings in scope per site and status (long form: site_code, site, status, bookings)."""
    table = bookings.booking_counts(scope, by="site_code", engine=engine).drop(columns="total")
    names = site_names(engine)
    long = table.reset_index().melt(id_vars="site_code", var_name="status", value_name="bookings")
    long["site"] = long["site_code"].map(names).fillna(long["site_code"])
    return long[["site_code", "site", "status", "bookings"]]


def funnel_by_site(scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """The funnel of each site with its step rates: booked / reached, attended / booked,
    enrolled / booked. One query for all sites; every site of the filter (or, without one, of
    the store) has a row, with zeros when it has no booking in scope."""
    names = site_names(engine)
    sites = list(scope.sites) or list(names)
    rows = []
    for site, found in bookings.funnel_by_site(scope, engine).reindex(sites, fill_value=0).iterrows():
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
    with (engine or get_engine()).connect() as connection:
        counts = pd.DataFrame(
            connection.execute(counts_query).all(),
            columns=["program_code", "site_code", "booked", "attended", "pre_registered", "enrolled"],
        )
        programs = pd.DataFrame(
            connection.execute(programs_query).all(),
            columns=["program_code", "site_code", "name", "level", "seats"],
        )
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


def signals(scope: Scope, engine: Engine | None = None) -> list[Signal]:
    """Findings the data supports: sites with a high no-show rate, offerings with seats and no
    booking, days of the event when a site had no free slot left."""
    found: list[Signal] = []
    per_site = bookings.booking_counts(scope, by="site_code", engine=engine)
    seen = per_site["attended"] + per_site["no_show"]
    average = ratio(per_site["no_show"].sum(), seen.sum())
    if average:
        names = site_names(engine)
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
    programmes = programme_table(scope, engine)
    if len(per_site):  # only meaningful when the scope has bookings at all
        idle = programmes[(programmes["seats"].fillna(0) > 0) & (programmes["booked"] == 0)]
        for row in idle.itertuples():
            found.append(
                Signal("seats_without_booking", f"{row.name} ({row.site_code})", {"seats": int(row.seats)})
            )
    return found + full_days(scope, engine)


def full_days(scope: Scope, engine: Engine | None = None) -> list[Signal]:
    """Days of the selected event, in the period, when every advisor of a site had no free slot."""
    if not scope.event:
        return []
    with (engine or get_engine()).connect() as connection:
        event = connection.execute(
            sa.select(EVENTS.c.starts_on, EVENTS.c.ends_on).where(EVENTS.c.code == scope.event)
        ).first()
    if event is None:
        return []
    names = site_names(engine)
    first, last = max(event.starts_on, scope.date_from), min(event.ends_on, scope.date_to)
    if first > last:
        return []
    advisors = schedule.advisors_of(scope.sites, engine).groupby("site_code")["email"]
    booked = schedule.busy_times(first, last, scope.sites, engine)
    found = []
    # A day without any interview leaves every advisor free: only days with some are looked at.
    for day, interviews in booked.groupby(booked["starts_at"].dt.date):
        if not schedule.opening_intervals(day):
            continue
        busy_of = schedule.busy_by_advisor(interviews)
        live = interviews[interviews["status"] != "cancelled"]
        for site, emails in advisors:
            # all() stops at the first advisor with a free slot: most sites are not full.
            if all(not schedule.free_slots(day, busy_of.get(email, [])) for email in emails):
                found.append(
                    Signal(
                        "full_day",
                        f"{names.get(site, site)} · {day:%d/%m/%Y}",
                        {"advisors": len(emails), "interviews": int((live["site_code"] == site).sum())},
                    )
                )
    return found
