"""The builder of a job dating's schedule (issue 9, docs/jobdating.md): meetings placed in the
companies' time windows (``plan_meetings``), each company's share of the candidates (``shares``)
and the pairs chosen (``choose_pairs``). Pure: plain values in, plain values out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

import pandas as pd

DEFAULT_MEETING_MIN = 20
DEFAULT_MAX_PER_CANDIDATE = 3
#: A company meets for at most this long in a row (as many whole meetings as fit), then pauses.
BREAK_AFTER_MIN = 60
BREAK_MIN = 10


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


def overlaps(start: datetime, end: datetime, others: Iterable[tuple[datetime, datetime]]) -> bool:
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
            slot for slot in slots(window) if not overlaps(*slot, taken.get(window.siret, ()))
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
    leave_out_unplaced: bool = False,
) -> list[PlannedMeeting]:
    """A time for every pair, or ``PlanInfeasible`` listing every reason (never half a plan).
    With ``leave_out_unplaced``, when the search finds no placement of every pair, the pairs
    the greedy pass could not place are left out of the plan instead (the request's other
    problems still refuse it).

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
    with_windows = {window.siret for window in windows}
    for siret, count in sorted(requested.items()):
        available = len(company_slots.get(siret, ()))
        if siret not in with_windows:
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

    placed, greedy, failed, exhaustive = _place(pairs, company_slots, busy_candidates, per_candidate)
    if placed is None and leave_out_unplaced:
        placed = greedy
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
) -> tuple[
    list[tuple[Pair, tuple[datetime, datetime]]] | None,
    list[tuple[Pair, tuple[datetime, datetime]]],
    list[Pair],
    bool,
]:
    """Each pair's slot: a greedy pass (pairs of the companies with least slack, then of the
    candidates with most requests, first; each at the earliest slot free for both), then, if a
    pair found no slot, a depth-first search over the same order with ``SEARCH_BUDGET`` tries.

    Returns the placement of every pair (or None), the greedy pass's placement, the pairs it
    could not place, and whether the search was exhaustive (then no placement exists at all).
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

    def free(pair: Pair) -> Iterator[tuple[datetime, datetime]]:
        taken = taken_by_company[pair.siret]
        busy = fixed[pair.candidate_ref] + taken_by_candidate[pair.candidate_ref]
        return (slot for slot in company_slots[pair.siret] if slot not in taken and not overlaps(*slot, busy))

    def options(pair: Pair) -> list[tuple[datetime, datetime]]:
        return list(free(pair))

    def take(pair: Pair, slot: tuple[datetime, datetime]) -> None:
        taken_by_company[pair.siret].add(slot)
        taken_by_candidate[pair.candidate_ref].append(slot)

    def give_back(pair: Pair, slot: tuple[datetime, datetime]) -> None:
        taken_by_company[pair.siret].discard(slot)
        taken_by_candidate[pair.candidate_ref].remove(slot)

    greedy, failed = [], []
    for pair in order:
        found = next(free(pair), None)
        if found:
            take(pair, found)
            greedy.append((pair, found))
        else:
            failed.append(pair)
    if not failed:
        return greedy, greedy, [], False
    if len(order) > SEARCH_BUDGET:  # each pair takes a try at least: the search cannot succeed
        return None, greedy, failed, False
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
                return None, greedy, failed, False
            at -= 1
    if at < 0:
        return None, greedy, failed, True
    placed = list(zip(order, chosen, strict=True))
    return placed, placed, [], False


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
        looked: dict[str, int] = {}  # per company, its rows before this one offer no one (``_swap``)
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
                swap = _swap(sorted(chosen_of[person]), siret, met, rows_of, sirets, people, budgets, looked)
                if swap is not None:
                    drop(swap[0])
                    take(swap[1])
                    take(at)
    shortfalls = [
        Problem(
            "entreprise",
            siret,
            f"{given[siret]} rencontre(s) sur {count} prévues : plus de candidat disponible parmi ses "
            f"paires retenues (limite de {max_per_candidate} rencontres par candidat atteinte)",
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
    looked: dict[str, int],
) -> tuple[int, int] | None:
    """One of a candidate's chosen pairs (``taken``, positions) with a company other than
    ``short``, and that company's best other pair whose candidate still has meetings left and
    does not meet it yet (positions), if any.

    A row that offers no one never does again (budgets only go down, and the only pair a swap
    ends is that of a candidate with none left): each company's rows are read once, from where
    ``looked`` says the last reading stopped."""
    for at in taken:
        siret = sirets[at]
        if siret == short:
            continue
        rows = rows_of[siret]
        start = looked.get(siret, 0)
        for offset, other in enumerate(rows[start:]):
            instead = people[other]
            if budgets[instead] > 0 and (siret, instead) not in met:
                looked[siret] = start + offset
                return at, other
        looked[siret] = len(rows)
    return None
