"""The schedule of a job dating: meetings placed in the companies' time windows (issue 9,
docs/jobdating.md).

The builder (``plan_meetings``, ``shares``, ``choose_pairs``) is pure: plain values in, plain
values out. ``plan_event`` reads its inputs from the store, ``save_plan`` writes a plan, all or
nothing.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from fractions import Fraction

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.config import LOCAL_TZ
from services.jobdating.meetings import MEETING_WRITES
from services.jobdating.pairing import job_dating_event, may_be_presented, open_offers, suggested_pairs
from services.store import audit
from services.store.database import bump_data_version, get_engine, retry_write, take_turn
from services.store.models import Candidate, CompanyWindow, Meeting, Offer
from services.store.values import local_midnight

CANDIDATES = Candidate.__table__
MEETINGS = Meeting.__table__
OFFERS = Offer.__table__
WINDOWS = CompanyWindow.__table__
DEFAULT_MEETING_MIN = 20
DEFAULT_MAX_PER_CANDIDATE = 3
#: A company meets for at most this long in a row (as many whole meetings as fit), then pauses.
BREAK_AFTER_MIN = 60
BREAK_MIN = 10
#: A company's hours on each weekday of the event when it has no window of its own (Paris time).
DEFAULT_HOURS = ((time(9), time(12)), (time(14), time(17)))


@dataclass(frozen=True)
class Window:
    """A time window when a company meets candidates (aware instants)."""

    siret: str
    starts_at: datetime
    ends_at: datetime
    meeting_min: int = DEFAULT_MEETING_MIN


@dataclass(frozen=True)
class Pair:
    """A candidate to meet a company about one of its offers."""

    offer_ref: str
    siret: str
    candidate_ref: str


@dataclass(frozen=True)
class Busy:
    """A time when a candidate (or a company, by siret) already has a meeting."""

    who: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class PlannedMeeting:
    offer_ref: str
    siret: str
    candidate_ref: str
    starts_at: datetime
    duration_min: int

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_min)


@dataclass(frozen=True)
class Problem:
    """Why something cannot be planned: ``subject`` is « paire », « entreprise » or « candidat »."""

    subject: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.subject} {self.key} : {self.reason}"


class PlanInfeasible(Exception):
    """The request cannot be planned as a whole; ``problems`` lists every reason found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))


# ---------------------------------------------------------------- pure builder


def slots(window: Window) -> list[tuple[datetime, datetime]]:
    """The meeting slots of a window: back to back, with a ``BREAK_MIN`` break after each block
    of ``BREAK_AFTER_MIN // meeting_min`` meetings (at least one), the last ending by the window's end."""
    length = timedelta(minutes=window.meeting_min)
    per_block = max(1, BREAK_AFTER_MIN // window.meeting_min)
    found, start = [], window.starts_at
    while start + length <= window.ends_at:
        found.append((start, start + length))
        start += length
        if len(found) % per_block == 0:
            start += timedelta(minutes=BREAK_MIN)
    return found


def _overlaps(start: datetime, end: datetime, others: Iterable[tuple[datetime, datetime]]) -> bool:
    return any(start < other_end and other_start < end for other_start, other_end in others)


def free_slots(
    windows: Iterable[Window], busy: Iterable[Busy] = ()
) -> dict[str, list[tuple[datetime, datetime]]]:
    """Each company's slots, in time order, that no meeting it already has overlaps."""
    taken: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for item in busy:
        taken[item.who].append((item.starts_at, item.ends_at))
    found: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for window in windows:
        found[window.siret].extend(
            slot for slot in slots(window) if not _overlaps(*slot, taken.get(window.siret, ()))
        )
    return {siret: sorted(set(items)) for siret, items in found.items()}


def overlapping(windows: Iterable[Window]) -> list[str]:
    """The companies (sirets, sorted) that have two windows overlapping each other."""
    by_company: dict[str, list[Window]] = defaultdict(list)
    for window in windows:
        by_company[window.siret].append(window)
    found = []
    for siret, owned in sorted(by_company.items()):
        owned.sort(key=lambda window: window.starts_at)
        if any(second.starts_at < first.ends_at for first, second in zip(owned, owned[1:], strict=False)):
            found.append(siret)
    return found


def plan_meetings(
    *,
    pairs: Sequence[Pair],
    windows: Sequence[Window],
    busy_candidates: Sequence[Busy] = (),
    busy_companies: Sequence[Busy] = (),
    existing_meetings: Mapping[str, int] | None = None,
    max_per_candidate: int = DEFAULT_MAX_PER_CANDIDATE,
) -> list[PlannedMeeting]:
    """A time for every pair, or ``PlanInfeasible`` listing every reason (never half a plan).

    A candidate never has two meetings at once, nor one over a meeting they already have
    (``busy_candidates``), nor more than ``max_per_candidate`` counting ``existing_meetings``; a
    company meets in its free slots only. Pairs are placed greedily (candidates with the most
    requests first, then in the order given), each at the earliest slot free for both.
    """
    existing_meetings = existing_meetings or {}
    problems: list[Problem] = []
    seen = Counter((pair.offer_ref, pair.candidate_ref) for pair in pairs)
    for (offer, candidate), count in sorted(seen.items()):
        if count > 1:
            problems.append(Problem("paire", f"{offer}/{candidate}", f"demandée {count} fois"))
    problems += [
        Problem("entreprise", siret, "plages horaires qui se chevauchent") for siret in overlapping(windows)
    ]
    company_slots = free_slots(windows, busy_companies)
    requested = Counter(pair.siret for pair in pairs)
    for siret, count in sorted(requested.items()):
        available = len(company_slots.get(siret, ()))
        if siret not in {window.siret for window in windows}:
            problems.append(Problem("entreprise", siret, "aucune plage horaire pour cette opération"))
        elif count > available:
            problems.append(
                Problem("entreprise", siret, f"{count} rencontres demandées pour {available} créneaux libres")
            )
    per_candidate = Counter(pair.candidate_ref for pair in pairs)
    for candidate, count in sorted(per_candidate.items()):
        already = existing_meetings.get(candidate, 0)
        if already + count > max_per_candidate:
            problems.append(
                Problem(
                    "candidat",
                    candidate,
                    f"{already} rencontre(s) déjà prévue(s) et {count} demandée(s) : "
                    f"plus que la limite de {max_per_candidate}",
                )
            )
    if problems:
        raise PlanInfeasible(problems)

    placed, failed, exhaustive = _place(pairs, company_slots, busy_candidates, per_candidate)
    if placed is None:
        why = "aucun créneau libre de l'entreprise où le candidat est libre"
        why += (
            " (aucun placement de toute la demande n'existe)"
            if exhaustive
            else f" (aucun placement de toute la demande trouvé en {SEARCH_BUDGET} essais)"
        )
        raise PlanInfeasible(
            [Problem("paire", f"{pair.offer_ref}/{pair.candidate_ref}", why) for pair in failed]
        )
    planned = [
        PlannedMeeting(
            pair.offer_ref, pair.siret, pair.candidate_ref, start, int((end - start).total_seconds() // 60)
        )
        for pair, (start, end) in placed
    ]
    return sorted(planned, key=lambda meeting: (meeting.starts_at, meeting.siret, meeting.candidate_ref))


#: How many placements the search tries after a first greedy pass fails, before giving up.
SEARCH_BUDGET = 50_000


def _place(
    pairs: Sequence[Pair],
    company_slots: Mapping[str, list[tuple[datetime, datetime]]],
    busy_candidates: Sequence[Busy],
    per_candidate: Mapping[str, int],
) -> tuple[list[tuple[Pair, tuple[datetime, datetime]]] | None, list[Pair], bool]:
    """Each pair's slot: a greedy pass (pairs of the companies with least slack, then of the
    candidates with most requests, first; each at the earliest slot free for both), then, if a
    pair found no slot, a depth-first search over the same order with ``SEARCH_BUDGET`` tries.

    Returns the placement (or None), the pairs the greedy pass could not place, and whether the
    search was exhaustive (then no placement exists at all).
    """
    slack = Counter({siret: len(items) for siret, items in company_slots.items()})
    slack.subtract(pair.siret for pair in pairs)
    order = sorted(
        pairs, key=lambda pair: (slack[pair.siret], -per_candidate[pair.candidate_ref], pair.siret)
    )
    fixed: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for item in busy_candidates:
        fixed[item.who].append((item.starts_at, item.ends_at))
    taken_by_company: dict[str, set[tuple[datetime, datetime]]] = defaultdict(set)
    taken_by_candidate: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)

    def options(pair: Pair) -> list[tuple[datetime, datetime]]:
        taken = taken_by_company[pair.siret]
        busy = fixed[pair.candidate_ref] + taken_by_candidate[pair.candidate_ref]
        return [
            slot for slot in company_slots[pair.siret] if slot not in taken and not _overlaps(*slot, busy)
        ]

    def take(pair: Pair, slot: tuple[datetime, datetime]) -> None:
        taken_by_company[pair.siret].add(slot)
        taken_by_candidate[pair.candidate_ref].append(slot)

    def give_back(pair: Pair, slot: tuple[datetime, datetime]) -> None:
        taken_by_company[pair.siret].discard(slot)
        taken_by_candidate[pair.candidate_ref].remove(slot)

    greedy, failed = [], []
    for pair in order:
        found = options(pair)
        if found:
            take(pair, found[0])
            greedy.append((pair, found[0]))
        else:
            failed.append(pair)
    if not failed:
        return greedy, [], False
    for pair, slot in greedy:
        give_back(pair, slot)

    # Depth-first search, iterative (thousands of pairs would overflow Python's stack).
    chosen: list[tuple[datetime, datetime] | None] = [None] * len(order)
    tried: list[list[tuple[datetime, datetime]] | None] = [None] * len(order)
    at, tries = 0, 0
    while 0 <= at < len(order):
        pair = order[at]
        if chosen[at] is not None:
            give_back(pair, chosen[at])
            chosen[at] = None
        if tried[at] is None:
            tried[at] = options(pair)
        if tried[at] and tries < SEARCH_BUDGET:
            chosen[at] = tried[at].pop(0)
            take(pair, chosen[at])
            tries += 1
            at += 1
        else:
            tried[at] = None
            if tries >= SEARCH_BUDGET:
                return None, failed, False
            at -= 1
    if at < 0:
        return None, failed, True
    return list(zip(order, chosen, strict=True)), [], False


def shares(total: int, weights: Mapping[str, int], caps: Mapping[str, int]) -> dict[str, int]:
    """``total`` meetings shared by weight (open positions), largest remainders first, none
    above its cap; what a cap leaves is shared again among the others, by the same rule.

    Ties between remainders go to the larger weight, then to the smaller key.
    """
    result = dict.fromkeys(weights, 0)
    target = min(total, sum(max(0, caps.get(key, 0)) for key in weights if weights[key] > 0))
    active = [key for key in weights if weights[key] > 0 and caps.get(key, 0) > 0]
    while active and sum(result.values()) < target:
        remaining = target - sum(result.values())
        weight = sum(weights[key] for key in active)
        quotas = {key: Fraction(remaining * weights[key], weight) for key in active}
        given = {key: int(quota) for key, quota in quotas.items()}
        left = remaining - sum(given.values())
        for key in sorted(active, key=lambda key: (-(quotas[key] - given[key]), -weights[key], key))[:left]:
            given[key] += 1
        for key in active:
            result[key] += min(given[key], caps[key] - result[key])
        active = [key for key in active if result[key] < caps[key]]
    return result


def choose_pairs(
    suggested: pd.DataFrame,
    *,
    capacity: Mapping[str, int],
    open_positions: Mapping[str, int],
    existing_meetings: Mapping[str, int],
    max_per_candidate: int = DEFAULT_MAX_PER_CANDIDATE,
) -> tuple[list[Pair], dict[str, int], list[Problem]]:
    """The pairs to plan from the suggested ones (best first): each company's share, its best
    pairs whose candidate has meetings left and does not meet it yet; and the shortfalls.

    Planned meetings: the candidates' meetings left (``max_per_candidate`` minus existing), at
    most the companies' free slots; shared by open positions (``shares``), each company capped
    by its free slots and its distinct suggested candidates. A first pass takes the pairs in
    rank order; then a company short of its share may take a candidate whom another company
    took, when that company can take instead a candidate who still has meetings left.
    """
    if suggested.empty:
        return [], {}, []
    offers = suggested["offer_ref"].to_numpy(dtype=object)
    sirets = suggested["siret"].to_numpy(dtype=object)
    people = suggested["candidate_ref"].to_numpy(dtype=object)
    budgets = {ref: max(0, max_per_candidate - existing_meetings.get(ref, 0)) for ref in set(people)}
    candidates_of = suggested.groupby("siret", observed=True)["candidate_ref"].nunique().to_dict()
    caps = {siret: min(capacity.get(siret, 0), count) for siret, count in candidates_of.items()}
    share = shares(sum(budgets.values()), {siret: open_positions.get(siret, 0) for siret in caps}, caps)
    chosen: set[int] = set()  # positions in ``suggested``
    given: Counter[str] = Counter()
    met: set[tuple[str, str]] = set()  # (siret, candidate) chosen
    chosen_of: dict[str, set[int]] = defaultdict(set)  # candidate → the chosen positions

    def take(at: int) -> None:
        chosen.add(at)
        given[sirets[at]] += 1
        budgets[people[at]] -= 1
        met.add((sirets[at], people[at]))
        chosen_of[people[at]].add(at)

    def drop(at: int) -> None:
        chosen.discard(at)
        given[sirets[at]] -= 1
        budgets[people[at]] += 1
        met.discard((sirets[at], people[at]))
        chosen_of[people[at]].discard(at)

    wanted = sum(share.values())
    for at in range(len(suggested)):
        if len(chosen) == wanted:
            break
        siret, person = sirets[at], people[at]
        if given[siret] < share[siret] and budgets[person] > 0 and (siret, person) not in met:
            take(at)
    short = [siret for siret in sorted(share) if given[siret] < share[siret]]
    if short:
        rows_of = suggested.groupby("siret", observed=True).indices
        for siret in short:
            for at in rows_of[siret]:
                if given[siret] >= share[siret]:
                    break
                person = people[at]
                if (siret, person) in met:
                    continue
                if budgets[person] > 0:
                    take(at)
                    continue
                swap = _swap(sorted(chosen_of[person]), siret, met, rows_of, sirets, people, budgets)
                if swap is not None:
                    drop(swap[0])
                    take(swap[1])
                    take(at)
    shortfalls = [
        Problem(
            "entreprise",
            siret,
            f"{given[siret]} rencontre(s) sur {count} prévues : plus de candidat suggéré disponible "
            f"(limite de {max_per_candidate} rencontres par candidat atteinte)",
        )
        for siret, count in sorted(share.items())
        if given[siret] < count
    ]
    pairs = [Pair(offers[at], sirets[at], people[at]) for at in sorted(chosen)]
    return pairs, share, shortfalls


def _swap(
    taken: Sequence[int],
    short: str,
    met: set[tuple[str, str]],
    rows_of: Mapping[str, Sequence[int]],
    sirets: Sequence[str],
    people: Sequence[str],
    budgets: Mapping[str, int],
) -> tuple[int, int] | None:
    """One of a candidate's chosen pairs (``taken``, positions) with a company other than
    ``short``, and that company's best other pair whose candidate still has meetings left and
    does not meet it yet (positions), if any."""
    for at in taken:
        siret = sirets[at]
        if siret == short:
            continue
        for other in rows_of[siret]:
            instead = people[other]
            if budgets[instead] > 0 and (siret, instead) not in met:
                return at, other
    return None


# ---------------------------------------------------------------- store


@dataclass
class EventPlan:
    """A job dating's plan before it is saved, with what it could not give."""

    event: dict
    meetings: list[PlannedMeeting]
    shares: dict[str, int] = field(default_factory=dict)
    shortfalls: list[Problem] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        """A short French summary: meetings per company (against its share), per day, shortfalls."""
        per_company = Counter(meeting.siret for meeting in self.meetings)
        per_day = Counter(meeting.starts_at.astimezone(LOCAL_TZ).date() for meeting in self.meetings)
        lines = [f"{self.event['code']} : {len(self.meetings)} rencontre(s) planifiée(s)", "par entreprise :"]
        lines += [
            f"  {siret} : {per_company[siret]} (part {self.shares.get(siret, per_company[siret])})"
            for siret in sorted(set(per_company) | {siret for siret, share in self.shares.items() if share})
        ]
        left_out = sum(1 for siret, share in self.shares.items() if not share and not per_company[siret])
        if left_out:
            lines.append(
                f"  {left_out} autre(s) entreprise(s) : part nulle, trop peu de rencontres pour toutes"
            )
        lines.append("par jour :")
        lines += [f"  {day.strftime('%d/%m/%Y')} : {count}" for day, count in sorted(per_day.items())]
        if self.shortfalls:
            lines.append("non placé :")
            lines += [f"  {problem}" for problem in self.shortfalls]
        return lines


def default_windows(event: dict, siret: str) -> list[Window]:
    """9:00–12:00 and 14:00–17:00 (Paris) on each weekday of the event (every day if it has none)."""
    days = [
        event["starts_on"] + timedelta(days=n)
        for n in range((event["ends_on"] - event["starts_on"]).days + 1)
    ]
    weekdays = [day for day in days if day.weekday() < 5] or days
    return [
        Window(
            siret,
            datetime.combine(day, start, tzinfo=LOCAL_TZ),
            datetime.combine(day, end, tzinfo=LOCAL_TZ),
            DEFAULT_MEETING_MIN,
        )
        for day in weekdays
        for start, end in DEFAULT_HOURS
    ]


def company_windows(event: dict, sirets: Iterable[str], engine: Engine | None = None) -> list[Window]:
    """The companies' windows for the event: their own, or the default ones when they have none."""
    sirets = sorted(set(sirets))
    with (engine or get_engine()).connect() as connection:
        rows = connection.execute(
            sa.select(WINDOWS.c.siret, WINDOWS.c.starts_at, WINDOWS.c.ends_at, WINDOWS.c.meeting_min)
            .where(WINDOWS.c.event_code == event["code"], WINDOWS.c.siret.in_(sirets))
            .order_by(WINDOWS.c.siret, WINDOWS.c.starts_at)
        ).all()
    stored = [Window(*row) for row in rows]
    with_own = {window.siret for window in stored}
    return stored + [
        window for siret in sirets if siret not in with_own for window in default_windows(event, siret)
    ]


def set_company_windows(
    *,
    event_code: str,
    siret: str,
    windows: Sequence[tuple[datetime, datetime]],
    meeting_min: int = DEFAULT_MEETING_MIN,
    actor: str,
    engine: Engine | None = None,
) -> None:
    """Replace a company's windows for a job dating (none: back to the default ones)."""
    event = job_dating_event(event_code, engine)
    if meeting_min <= 0:
        raise ValueError("la durée d'une rencontre doit être positive")
    for start, end in windows:
        if end <= start:
            raise ValueError("une plage horaire doit finir après son début")
        local_days = {start.astimezone(LOCAL_TZ).date(), end.astimezone(LOCAL_TZ).date()}
        if min(local_days) < event["starts_on"] or max(local_days) > event["ends_on"]:
            raise ValueError("une plage horaire doit être dans les jours de l'opération")

    if overlapping([Window(siret, start, end) for start, end in windows]):
        raise ValueError("deux plages horaires se chevauchent")

    def work(connection: sa.Connection) -> None:
        connection.execute(
            WINDOWS.delete().where(WINDOWS.c.event_code == event_code, WINDOWS.c.siret == siret)
        )
        if windows:
            connection.execute(
                WINDOWS.insert(),
                [
                    {
                        "event_code": event_code,
                        "siret": siret,
                        "starts_at": start,
                        "ends_at": end,
                        "meeting_min": meeting_min,
                    }
                    for start, end in windows
                ],
            )
        audit.record(
            "company.windows",
            actor=actor,
            target=siret,
            detail=f"event={event_code} windows={len(windows)}",
            connection=connection,
        )
        bump_data_version(connection)

    retry_write(work, engine)


def stored_busy(connection: sa.Connection, event: dict) -> tuple[list[Busy], list[Busy], Counter[str]]:
    """Who is busy when, from the stored meetings that are not cancelled: those of the event, and
    those of any other job dating on the event's days (a candidate or a company cannot be in two
    meetings at once, whatever the event); and each candidate's number of meetings in this event
    (the limit is per event)."""
    first_day = local_midnight(event["starts_on"]) - timedelta(days=1)  # a meeting may run over midnight
    after_last_day = local_midnight(event["ends_on"] + timedelta(days=1))
    rows = connection.execute(
        sa.select(
            MEETINGS.c.candidate_ref,
            OFFERS.c.siret,
            MEETINGS.c.starts_at,
            MEETINGS.c.duration_min,
            MEETINGS.c.event_code,
        )
        .select_from(MEETINGS.join(OFFERS, OFFERS.c.ref == MEETINGS.c.offer_ref))
        .where(
            MEETINGS.c.status != "cancelled",
            sa.or_(
                MEETINGS.c.event_code == event["code"],
                sa.and_(MEETINGS.c.starts_at >= first_day, MEETINGS.c.starts_at < after_last_day),
            ),
        )
    ).all()
    candidates, companies = [], []
    for candidate, siret, start, minutes, _ in rows:
        end = start + timedelta(minutes=minutes)
        candidates.append(Busy(candidate, start, end))
        companies.append(Busy(siret, start, end))
    return candidates, companies, Counter(row[0] for row in rows if row[4] == event["code"])


def plan_event(
    event_code: str, *, max_per_candidate: int = DEFAULT_MAX_PER_CANDIDATE, engine: Engine | None = None
) -> EventPlan:
    """A plan for the job dating from its suggested pairs (``choose_pairs``), placed by
    ``plan_meetings``; ``PairingError`` for an unknown event or another kind, ``PlanInfeasible``."""
    engine = engine or get_engine()
    event = job_dating_event(event_code, engine)
    suggested = suggested_pairs(event_code, engine)
    offers = open_offers(event, engine)
    open_positions = offers.groupby("siret")["open_positions"].sum().astype(int).to_dict()
    windows = company_windows(event, open_positions, engine)
    with engine.connect() as connection:
        busy_candidates, busy_companies, existing = stored_busy(connection, event)
    capacity = {siret: len(items) for siret, items in free_slots(windows, busy_companies).items()}
    pairs, share, shortfalls = choose_pairs(
        suggested,
        capacity=capacity,
        open_positions=open_positions,
        existing_meetings=existing,
        max_per_candidate=max_per_candidate,
    )
    if not pairs:
        raise PlanInfeasible(
            [
                Problem(
                    "opération",
                    event_code,
                    "aucune paire à planifier (offres ouvertes, candidats consentants)",
                )
            ]
        )
    meetings = plan_meetings(
        pairs=pairs,
        windows=windows,
        busy_candidates=busy_candidates,
        busy_companies=busy_companies,
        existing_meetings=existing,
        max_per_candidate=max_per_candidate,
    )
    return EventPlan(event, meetings, share, shortfalls)


def save_plan(
    event_code: str,
    meetings: Sequence[PlannedMeeting],
    *,
    actor: str,
    max_per_candidate: int = DEFAULT_MAX_PER_CANDIDATE,
    engine: Engine | None = None,
) -> list[str]:
    """Write the meetings (``planned``, outcome ``none``) in one transaction, all or nothing;
    their refs. Checked again against the meetings stored meanwhile: ``PlanInfeasible``."""
    event = job_dating_event(event_code, engine)

    def work(connection: sa.Connection) -> list[str]:
        take_turn(connection, MEETING_WRITES)  # two plans saved at once must not both pass the checks
        busy_candidates, busy_companies, existing = stored_busy(connection, event)
        problems = _who_problems(connection, event, meetings)
        problems += _clashes(meetings, busy_candidates, busy_companies, existing, max_per_candidate)
        if problems:
            raise PlanInfeasible(problems)
        refs = [f"{event_code}-{secrets.token_hex(5)}" for _ in meetings]
        if meetings:
            connection.execute(
                MEETINGS.insert(),
                [
                    {
                        "ref": ref,
                        "event_code": event_code,
                        "candidate_ref": meeting.candidate_ref,
                        "offer_ref": meeting.offer_ref,
                        "starts_at": meeting.starts_at,
                        "duration_min": meeting.duration_min,
                        "status": "planned",
                        "outcome": "none",
                    }
                    for ref, meeting in zip(refs, meetings, strict=True)
                ],
            )
        audit.record(
            "meeting.plan",
            actor=actor,
            target=event_code,
            detail=f"meetings={len(meetings)}",
            connection=connection,
        )
        bump_data_version(connection)
        return refs

    return retry_write(work, engine)


def _who_problems(
    connection: sa.Connection, event: dict, meetings: Sequence[PlannedMeeting]
) -> list[Problem]:
    """Meetings whose offer is unknown or not the company's, or whose candidate is unknown or
    may not be presented to companies (consent read now, in the writer's transaction)."""
    offers = dict(
        connection.execute(
            sa.select(OFFERS.c.ref, OFFERS.c.siret).where(OFFERS.c.ref.in_({m.offer_ref for m in meetings}))
        ).all()
    )
    people = {
        ref: (consent, parent, born)
        for ref, consent, parent, born in connection.execute(
            sa.select(
                CANDIDATES.c.ref,
                CANDIDATES.c.presentation_consent,
                CANDIDATES.c.parent_presentation_consent,
                CANDIDATES.c.birth_date,
            ).where(CANDIDATES.c.ref.in_({m.candidate_ref for m in meetings}))
        )
    }
    problems = []
    for meeting in meetings:
        if offers.get(meeting.offer_ref) != meeting.siret:
            why = (
                "offre inconnue"
                if meeting.offer_ref not in offers
                else "l'offre n'est pas de cette entreprise"
            )
            problems.append(Problem("paire", f"{meeting.offer_ref}/{meeting.candidate_ref}", why))
    for ref in sorted({meeting.candidate_ref for meeting in meetings}):
        if ref not in people:
            problems.append(Problem("candidat", ref, "candidat inconnu"))
            continue
        consent, parent, born = people[ref]
        if not may_be_presented(
            consent=consent, parent_consent=parent, birth_date=born, day=event["starts_on"]
        ):
            problems.append(
                Problem(
                    "candidat",
                    ref,
                    "n'a pas accepté d'être présenté aux entreprises (ou pas de consentement d'un parent : "
                    "moins de 15 ans ou date de naissance inconnue)",
                )
            )
    return problems


def _clashes(
    meetings: Sequence[PlannedMeeting],
    busy_candidates: Sequence[Busy],
    busy_companies: Sequence[Busy],
    existing: Mapping[str, int],
    max_per_candidate: int,
) -> list[Problem]:
    """Every clash of the meetings with each other and with the stored ones; every candidate
    over the limit."""
    problems = []
    taken: dict[tuple[str, str], list[tuple[datetime, datetime]]] = defaultdict(list)
    for item in busy_candidates:
        taken[("candidat", item.who)].append((item.starts_at, item.ends_at))
    for item in busy_companies:
        taken[("entreprise", item.who)].append((item.starts_at, item.ends_at))
    for meeting in sorted(meetings, key=lambda meeting: meeting.starts_at):
        span = (meeting.starts_at, meeting.ends_at)
        for subject, key in (("candidat", meeting.candidate_ref), ("entreprise", meeting.siret)):
            if _overlaps(*span, taken[(subject, key)]):
                when = meeting.starts_at.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M")
                problems.append(Problem(subject, key, f"déjà en rencontre le {when}"))
            taken[(subject, key)].append(span)
    counts = Counter(meeting.candidate_ref for meeting in meetings)
    for candidate, count in sorted(counts.items()):
        if existing.get(candidate, 0) + count > max_per_candidate:
            problems.append(
                Problem("candidat", candidate, f"plus de {max_per_candidate} rencontres dans l'opération")
            )
    return problems
