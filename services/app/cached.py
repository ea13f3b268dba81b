"""The only module of services/ that knows Streamlit: cached reads for the pages.

Every cached function takes the store's data version, so that a write (which bumps it)
makes the next read compute afresh; results are small (figures, not raw tables), except the
journey data, shared without copy (see ``journey_data``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import streamlit as st

from services import startup as _startup
from services.access import privacy, retention, roles
from services.advising import availability, schedule
from services.integrations import whereby_attendance
from services.jobdating import meetings, plan_preview
from services.metrics import attribution, jobdating, marketing, report, results
from services.store import channels, database, events
from services.store.scope import Scope

TTL = 600
#: Shown by Streamlit while a cached read computes, once it has taken more than half a second
#: (nothing shows on a cache hit). In French only: cached functions are defined once, for every
#: session whatever its language.
WAITING = "Calcul en cours…"


@st.cache_resource(show_spinner=WAITING)
def prepared_store() -> bool:
    """Migrate (and seed demo data into an empty store) once per process; True if demo data."""
    return _startup.prepare_store()


def data_version() -> int:
    """The store's current data version (not cached: it is the cache key)."""
    return database.data_version()


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def event_list(version: int) -> pd.DataFrame:
    """Every event, latest first."""
    return events.list_events()


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def default_scope(event_code: str, version: int) -> Scope:
    """The default period of an event."""
    return events.default_scope(event_code)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def site_names(version: int) -> dict[str, str]:
    """Site code → name."""
    return results.site_names()


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def program_names(version: int) -> dict[str, str]:
    """Programme code → name."""
    return events.program_names()


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def scope_report(scope: Scope, goal: str, lookback_days: int, version: int) -> dict:
    """The report object of a scope."""
    return report.build_report(scope, goal, lookback_days)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def key_figures(scope: Scope, version: int) -> dict:
    """The results page's KPI cards."""
    return results.key_figures(scope)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def pacing(event_code: str, event_start: date, scope: Scope, version: int) -> pd.DataFrame:
    """The pacing curve of an event."""
    return results.pacing(event_code, event_start, scope)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def site_figures(scope: Scope, version: int) -> pd.DataFrame:
    """The funnel and the bookings per status of each site, read once for the three below."""
    return results.site_figures(scope)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def bookings_by_site(scope: Scope, version: int) -> pd.DataFrame:
    """Bookings per site and status."""
    return results.bookings_by_site(scope, figures=site_figures(scope, version), names=site_names(version))


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def funnel_by_site(scope: Scope, version: int) -> pd.DataFrame:
    """The funnel per site."""
    return results.funnel_by_site(scope, figures=site_figures(scope, version), names=site_names(version))


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def programme_table(scope: Scope, version: int) -> pd.DataFrame:
    """The programmes table."""
    return results.programme_table(scope)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def companies_by_programme(year: int, scope: Scope, version: int) -> pd.DataFrame:
    """Companies and offers by programme, this year and the year before."""
    return results.companies_by_programme(year, scope)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def signals(scope: Scope, version: int) -> list[results.Signal]:
    """Plain-language findings (from the site figures and programmes the page has read already)."""
    return results.signals(
        scope,
        figures=site_figures(scope, version),
        programmes=programme_table(scope, version),
        names=site_names(version),
    )


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def job_dating_figures(scope: Scope, version: int) -> dict:
    """The job-dating figures of the scope (those of ``report --json``)."""
    return jobdating.job_dating_figures(scope)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def supply_and_demand(scope: Scope, version: int) -> pd.DataFrame:
    """Offers, positions and seeking candidates per programme and site, against a year earlier."""
    return jobdating.supply_and_demand(scope)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def supply_by_programme(scope: Scope, version: int) -> pd.DataFrame:
    """The same per programme, all sites together."""
    return jobdating.supply_by_programme(scope)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def job_dating_funnel(scope: Scope, by: str | None, version: int) -> pd.DataFrame:
    """The job-dating funnel, overall (one row) or per programme or site of the offers."""
    return jobdating.funnel(scope, by)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def uncovered_offers(scope: Scope, version: int) -> pd.DataFrame:
    """The offers of the period with no meeting in scope."""
    return jobdating.uncovered_offers(scope)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def uncovered_candidates(scope: Scope, viewer: roles.Viewer, version: int) -> pd.DataFrame:
    """The seeking candidates with no meeting in scope, by name (keyed on the viewer: a role that
    may not read names gets a PermissionError, never a cached list)."""
    return roles.candidates_for(jobdating.uncovered_candidates(scope), viewer)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def uncovered_counts(scope: Scope, version: int) -> pd.DataFrame:
    """Uncovered offers, positions and seeking candidates per programme and site (no name)."""
    return jobdating.uncovered_counts(scope)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def interviews(
    first_day: date,
    last_day: date,
    sites: tuple[str, ...],
    programs: tuple[str, ...],
    viewer: roles.Viewer,
    version: int,
    advisors: tuple[str | None, ...] | None = None,
) -> pd.DataFrame:
    """The interviews of these days, sites and programmes (of these advisors when given: a page
    of the schedule), with only what this viewer may read.

    Keyed on the viewer: people whose rights differ never share a cached result.
    """
    return roles.interviews_for(
        schedule.interviews(first_day, last_day, sites, programs, advisors=advisors), viewer
    )


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def interview_times(
    first_day: date, last_day: date, sites: tuple[str, ...], programs: tuple[str, ...], version: int
) -> pd.DataFrame:
    """Refs, advisors, statuses and times of these days' interviews (no personal data: the same
    for every viewer), read once for every page of advisors."""
    return schedule.interview_times(first_day, last_day, sites, programs)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def advisor_page(
    first_day: date,
    last_day: date,
    sites: tuple[str, ...],
    programs: tuple[str, ...],
    first_advisor: str | None,
    number: int,
    version: int,
) -> schedule.AdvisorPage:
    """A page of the schedule's advisors (see ``schedule.advisor_page``)."""
    return schedule.advisor_page(
        interview_times(first_day, last_day, sites, programs, version),
        advisors_of(sites, version),
        number,
        first_advisor,
    )


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def free_slots(
    day: date, sites: tuple[str, ...], advisors: tuple[str | None, ...], version: int
) -> pd.DataFrame:
    """The free slots of the day of these advisors of these sites (a page of the schedule)."""
    listed = advisors_of(sites, version)
    return availability.free_slots_of(day, listed[listed["email"].isin(advisors)])


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def attendance_suggestions(refs: tuple[str, ...], viewer: roles.Viewer, version: int) -> pd.DataFrame:
    """The call suggestions waiting for a decision, of these interviews (those the viewer may record).

    Keyed on the viewer too, like the interviews they come from.
    """
    return whereby_attendance.pending_suggestions(refs)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def advisors_of(sites: tuple[str, ...], version: int) -> pd.DataFrame:
    """The advisors of these sites."""
    return schedule.advisors_of(sites)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def advisor_load(scope: Scope, version: int, advisors: tuple[str | None, ...] | None = None) -> pd.DataFrame:
    """Interviews and hours per advisor (of these advisors when given: a page of the schedule)."""
    return availability.advisor_load(scope, advisors=advisors)


def journey_data(scope: Scope, goal: str, lookback_days: int, version: int) -> attribution.JourneyData:
    """Conversions and journeys of a goal (the non-converters' read when Markov needs them).

    Shared, not copied: st.cache_data would copy its frames on every hit (hundreds of thousands
    of touches at scale) and recompute the credits, which the object keeps once computed, model
    by model (``JourneyData.attribution``; computed under the spinner of the cached reads that
    ask for them). Readers must not modify it; nobody does.

    Only the current data version's are kept (140 MB for the bookings' at scale L): asked for a
    new version, the cache forgets the others, which no page can ask for any more.
    """
    if _journeys_version[0] != version:
        _journey_data.clear()
        _journeys_version[0] = version
    return _journey_data(scope, goal, lookback_days, version)


_journeys_version: list[int | None] = [None]


@st.cache_resource(ttl=TTL, show_spinner=WAITING, max_entries=4)
def _journey_data(scope: Scope, goal: str, lookback_days: int, version: int) -> attribution.JourneyData:
    return attribution.journey_data(scope, goal, lookback_days)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def channel_table(
    scope: Scope, model: str, goal: str, lookbacks: tuple[int, int], version: int
) -> pd.DataFrame:
    """The channel table (lookbacks: for bookings, for enrollments)."""
    bookings = journey_data(scope, "booking", lookbacks[0], version)
    enrollments = journey_data(scope, "enrollment", lookbacks[1], version)
    return marketing.channel_table(
        scope, model, bookings, enrollments, goal, reached_by_channel(scope, version)
    )


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def reached_by_channel(scope: Scope, version: int) -> dict[str, int]:
    """Distinct candidates reached by each channel in the period (the same for both goals)."""
    return marketing.reached_by_channel(scope)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def credit_intervals(scope: Scope, goal: str, lookback_days: int, model: str, version: int) -> pd.DataFrame:
    """90 % bootstrap intervals of the channels' credits."""
    return marketing.intervals(journey_data(scope, goal, lookback_days, version), model)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def top_paths(scope: Scope, goal: str, lookback_days: int, version: int) -> pd.DataFrame:
    """The most frequent channel paths before conversion."""
    return marketing.top_paths(journey_data(scope, goal, lookback_days, version))


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def weekly_conversions(scope: Scope, goal: str, lookback_days: int, model: str, version: int) -> pd.DataFrame:
    """Conversions credited to each channel, week by week."""
    return marketing.weekly_conversions(journey_data(scope, goal, lookback_days, version), model)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def source_detail(scope: Scope, goal: str, lookback_days: int, model: str, version: int) -> pd.DataFrame:
    """Newspaper sites and social networks by utm_source."""
    return marketing.source_detail(scope, journey_data(scope, goal, lookback_days, version), model)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def campaign_results(scope: Scope, model: str, lookbacks: tuple[int, int], version: int) -> pd.DataFrame:
    """Campaigns with their spend, credited conversions and costs."""
    bookings = journey_data(scope, "booking", lookbacks[0], version)
    enrollments = journey_data(scope, "enrollment", lookbacks[1], version)
    return marketing.campaign_results(scope, bookings, enrollments, model)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def email_funnel(scope: Scope, lookbacks: tuple[int, int], version: int) -> pd.DataFrame:
    """The e-mail campaigns' funnel."""
    bookings = journey_data(scope, "booking", lookbacks[0], version)
    enrollments = journey_data(scope, "enrollment", lookbacks[1], version)
    return marketing.email_funnel(scope, bookings, enrollments)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def hygiene(scope: Scope, goal: str, lookback_days: int, version: int) -> dict:
    """UTM tagging checks."""
    return marketing.hygiene(scope, journey_data(scope, goal, lookback_days, version))


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def audience(scope: Scope, version: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Who booked, by age band and department, groups under 5 hidden (the same for every role)."""
    by_age, by_department = marketing.audience(scope)
    return roles.hide_small_groups(by_age), roles.hide_small_groups(by_department)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def consenting_candidates(version: int) -> int:
    """Candidates whose marketing consent counts (a parent's too under 15)."""
    return privacy.consenting_candidates()


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def derived_groups(version: int) -> list[tuple[str, str, str, int]]:
    """Derived touchpoints by source, medium and channel (for the rules' preview)."""
    return channels.derived_groups()


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def channel_rules(version: int) -> tuple:
    """The stored channel rules."""
    return channels.load_rules()


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def suggested_pairs_shown(
    event_code: str, page: int, siret: str | None, version: int, language: str
) -> tuple[pd.DataFrame, int]:
    """A page of a job dating's suggested pairs (of all companies or one) with names and their
    reasons in ``language``, and how many pairs that list has."""
    seekers = job_dating_seekers(event_code, version)
    return plan_preview.pairs_shown(event_code, page, siret, seekers=seekers, language=language)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def job_dating_seekers(event_code: str, version: int) -> pd.DataFrame:
    """A job dating's seeking candidates with consents and names, read once for the planning
    page's consents and pairs (200,000 in a network)."""
    return plan_preview.seekers(event_code)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def offering_companies(event_code: str, version: int) -> dict[str, str]:
    """The companies with an offer open for a job dating, siret → name, by name."""
    return plan_preview.offering_companies(event_code)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def event_meetings(event_code: str, version: int) -> pd.DataFrame:
    """A job dating's meetings with candidates, companies and programmes (the planning page's
    roles all read names: keyed on the version only)."""
    return meetings.event_meetings(event_code)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def meeting_history(meeting_ref: str, version: int) -> pd.DataFrame:
    """The changes of a meeting, latest first."""
    return meetings.meeting_history(meeting_ref)


@st.cache_data(ttl=TTL, show_spinner=WAITING)
def presentation_consents(event_code: str, version: int) -> pd.DataFrame:
    """A job dating's seeking candidates with their consents to be presented to companies."""
    return plan_preview.consents(event_code, people=job_dating_seekers(event_code, version))


def purge_preview(version: int) -> retention.PurgeSummary:
    """What the retention purge would do, as of the start of the current minute: the page's
    reruns within it (a search typed below the preview) read nothing again (at scale L, 2.2 s
    each). The purge itself takes the exact instant it runs at, and counts under its lock."""
    return _purge_preview(datetime.now(UTC).replace(second=0, microsecond=0), version)


@st.cache_data(ttl=TTL, show_spinner=WAITING, max_entries=2)
def _purge_preview(minute: datetime, version: int) -> retention.PurgeSummary:
    return retention.purge_preview(minute)
