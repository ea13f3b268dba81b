"""The job-dating schedule builder on hand-made cases, each worked out by hand in its comment."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from services.access.consent import set_presentation_consent
from services.config import LOCAL_TZ
from services.jobdating.meeting_builder import (
    Busy,
    Pair,
    PlanInfeasible,
    PlannedMeeting,
    Problem,
    Window,
    choose_pairs,
    plan_meetings,
    shares,
    slots,
)
from services.jobdating.meeting_plan import (
    UNPLACED,
    EventPlan,
    company_windows,
    default_windows,
    plan_event,
    save_plan,
    set_company_windows,
)
from services.jobdating.pairing import PairingError, job_dating_event
from services.store import database
from services.store.models import AuditEvent, Meeting
from tests.pairing_data import S1, S2, load_job_dating


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant of May 2020, Paris time."""
    return datetime(2020, 5, day, hour, minute, tzinfo=LOCAL_TZ)


def hm(moments: list[datetime]) -> list[str]:
    return [moment.astimezone(LOCAL_TZ).strftime("%H:%M") for moment in moments]


def assert_no_clash(meetings: list[PlannedMeeting]) -> None:
    """No candidate and no company is in two meetings at once."""
    for key in ("candidate_ref", "siret"):
        by_owner: dict[str, list[PlannedMeeting]] = {}
        for meeting in meetings:
            by_owner.setdefault(getattr(meeting, key), []).append(meeting)
        for owned in by_owner.values():
            owned.sort(key=lambda meeting: meeting.starts_at)
            for first, second in zip(owned, owned[1:], strict=False):
                assert first.ends_at <= second.starts_at, (key, first, second)


# ---------------------------------------------------------------- slots and windows


def test_a_break_after_each_hour_of_meetings():
    # 20 min: blocks of 3 meetings (60 min) then 10 min of break: 9:00 9:20 9:40 | 10:10 10:30
    # 10:50 | 11:20 11:40 (ends 12:00); 12:10 would end after the window.
    assert hm([start for start, _ in slots(Window(S1, at(11, 9), at(11, 12)))]) == [
        "09:00", "09:20", "09:40", "10:10", "10:30", "10:50", "11:20", "11:40",
    ]  # fmt: skip
    # 25 min: blocks of 2 (50 min, a third would pass the hour): 9:00 9:25 | 10:00 10:25 | 11:00 11:25.
    assert hm([start for start, _ in slots(Window(S1, at(11, 9), at(11, 12), 25))]) == [
        "09:00", "09:25", "10:00", "10:25", "11:00", "11:25",
    ]  # fmt: skip
    # 45 min: a break after each meeting: 9:00 | 9:55 | 10:50 (ends 11:35); 11:45 would end at 12:30.
    assert hm([start for start, _ in slots(Window(S1, at(11, 9), at(11, 12), 45))]) == [
        "09:00",
        "09:55",
        "10:50",
    ]


def test_default_windows_are_the_event_weekdays_morning_and_afternoon():
    # Friday 8 to Monday 11 May 2020: Friday and Monday only, 9–12 and 14–17 Paris time.
    event = {"code": "X", "starts_on": date(2020, 5, 8), "ends_on": date(2020, 5, 11)}
    windows = default_windows(event, S1)
    assert [(w.starts_at, w.ends_at) for w in windows] == [
        (at(8, 9), at(8, 12)),
        (at(8, 14), at(8, 17)),
        (at(11, 9), at(11, 12)),
        (at(11, 14), at(11, 17)),
    ]
    assert {w.meeting_min for w in windows} == {20}
    assert sum(len(slots(w)) for w in windows) == 32  # 8 per half-day
    # A weekend-only event keeps its days.
    weekend = default_windows({"code": "W", "starts_on": date(2020, 5, 9), "ends_on": date(2020, 5, 9)}, S1)
    assert len(weekend) == 2


# ---------------------------------------------------------------- placement


def test_every_pair_placed_without_any_clash():
    """Companies A and B each meet X, Y and Z between 9:00 and 10:00 (3 slots each): a Latin
    square. The greedy pass (A-X 9:00, A-Y 9:20, A-Z 9:40, B-X 9:20, B-Y 9:00) leaves B-Z no slot
    (9:40 is Z's with A); the search finds a full placement."""
    windows = [Window("A", at(11, 9), at(11, 10)), Window("B", at(11, 9), at(11, 10))]
    pairs = [Pair(f"O{siret}", siret, person) for siret in "AB" for person in "XYZ"]
    meetings = plan_meetings(pairs=pairs, windows=windows)
    assert len(meetings) == 6
    assert_no_clash(meetings)
    assert {(m.offer_ref, m.candidate_ref) for m in meetings} == {
        (p.offer_ref, p.candidate_ref) for p in pairs
    }
    assert {m.starts_at for m in meetings} == {at(11, 9), at(11, 9, 20), at(11, 9, 40)}
    assert {m.duration_min for m in meetings} == {20}


def test_existing_meetings_are_never_overlapped():
    # X already meets someone 9:00–9:20; company A already meets someone 9:20–9:40 (its slot is
    # gone). So A's free slots are 9:00 and 9:40; X is free at 9:40 only.
    meetings = plan_meetings(
        pairs=[Pair("OA", "A", "X")],
        windows=[Window("A", at(11, 9), at(11, 10))],
        busy_candidates=[Busy("X", at(11, 9), at(11, 9, 20))],
        busy_companies=[Busy("A", at(11, 9, 20), at(11, 9, 40))],
    )
    assert [(m.candidate_ref, m.starts_at) for m in meetings] == [("X", at(11, 9, 40))]


def test_every_reason_is_reported_and_nothing_is_half_planned():
    """A has 3 slots (9:00–10:00) and 4 requests; B has no window; X already has 2 meetings and
    is asked 2 more (limit 3); (OA, Y) is asked twice. All four reasons in one error."""
    pairs = [
        Pair("OA", "A", "X"),
        Pair("OA", "A", "Y"),
        Pair("OA", "A", "Y"),
        Pair("OA", "A", "Z"),
        Pair("OB", "B", "X"),
    ]
    with pytest.raises(PlanInfeasible) as raised:
        plan_meetings(
            pairs=pairs,
            windows=[Window("A", at(11, 9), at(11, 10))],
            existing_meetings={"X": 2},
            max_per_candidate=3,
        )
    assert [str(problem) for problem in raised.value.problems] == [
        "paire OA/Y : demandée 2 fois",
        "entreprise A : 4 rencontres demandées pour 3 créneaux libres",
        "entreprise B : aucune plage horaire pour cette opération",
        "candidat X : 2 rencontre(s) déjà prévue(s) et 2 demandée(s) : plus que la limite de 3",
    ]


def test_overlapping_windows_are_refused():
    # A's windows 9:00–10:00 and 9:30–11:00 overlap: its slots 9:40 and 9:30 would overlap too.
    windows = [Window("A", at(11, 9), at(11, 10)), Window("A", at(11, 9, 30), at(11, 11))]
    with pytest.raises(PlanInfeasible, match="entreprise A : plages horaires qui se chevauchent"):
        plan_meetings(pairs=[Pair("OA", "A", "X")], windows=windows)
    # Back to back is fine.
    touching = [Window("A", at(11, 9), at(11, 10)), Window("A", at(11, 10), at(11, 11))]
    assert len(plan_meetings(pairs=[Pair("OA", "A", "X")], windows=touching)) == 1


def test_limit_counts_the_existing_meetings():
    # X has 2 meetings already; with the limit at 3, one more is fine, two are not.
    windows = [Window("A", at(11, 9), at(11, 12)), Window("B", at(11, 9), at(11, 12))]
    one = plan_meetings(pairs=[Pair("OA", "A", "X")], windows=windows, existing_meetings={"X": 2})
    assert len(one) == 1
    with pytest.raises(PlanInfeasible, match="candidat X"):
        plan_meetings(
            pairs=[Pair("OA", "A", "X"), Pair("OB", "B", "X")], windows=windows, existing_meetings={"X": 2}
        )


def test_a_placement_that_cannot_exist_is_reported_as_such():
    # A and B each have one slot, both 9:00–9:20; X cannot meet both.
    windows = [Window("A", at(11, 9), at(11, 9, 20)), Window("B", at(11, 9), at(11, 9, 20))]
    with pytest.raises(PlanInfeasible) as raised:
        plan_meetings(pairs=[Pair("OA", "A", "X"), Pair("OB", "B", "X")], windows=windows)
    (problem,) = raised.value.problems
    assert problem.subject == "paire" and problem.key == "OB/X"
    assert "n'existe" in problem.reason


# ---------------------------------------------------------------- shares


def test_shares_by_largest_remainder():
    # 4 meetings, weights 3:2:2 (7): quotas 12/7 = 1.71, 8/7 = 1.14, 8/7 = 1.14; floors 1, 1, 1,
    # the one left goes to the largest remainder (A, 0.71).
    assert shares(4, {"A": 3, "B": 2, "C": 2}, {"A": 9, "B": 9, "C": 9}) == {"A": 2, "B": 1, "C": 1}
    # Exact quotas.
    assert shares(10, {"A": 5, "B": 3, "C": 2}, {"A": 9, "B": 9, "C": 9}) == {"A": 5, "B": 3, "C": 2}
    # Equal remainders and weights: the smaller key.
    assert shares(1, {"B": 1, "A": 1}, {"A": 9, "B": 9}) == {"A": 1, "B": 0}
    # No positions open: no share.
    assert shares(3, {"A": 1, "B": 0}, {"A": 9, "B": 9}) == {"A": 3, "B": 0}


def test_shares_capped_and_shared_again():
    # 6 meetings, weights 4:1:1: quotas 4, 1, 1; A can take 2 only, the 2 left are shared 1:1.
    assert shares(6, {"A": 4, "B": 1, "C": 1}, {"A": 2, "B": 9, "C": 9}) == {"A": 2, "B": 2, "C": 2}
    # More meetings than all the caps: every company full.
    assert shares(10, {"A": 1, "B": 1}, {"A": 1, "B": 2}) == {"A": 1, "B": 2}


def test_pairs_chosen_by_share_and_rank():
    """A has 2 open positions, B 1; X, Y, Z may meet once each (3 meetings): shares A 2, B 1.
    In rank order: A-X (yes), A-Y (yes, A full), B-X (X has met once), A-Z (A full), B-Y (Y
    has met once), B-Z (yes)."""
    suggested = pd.DataFrame(
        [
            ("OA", "A", "X"),
            ("OA", "A", "Y"),
            ("OB", "B", "X"),
            ("OA", "A", "Z"),
            ("OB", "B", "Y"),
            ("OB", "B", "Z"),
        ],
        columns=["offer_ref", "siret", "candidate_ref"],
    )
    chosen, share, shortfalls = choose_pairs(
        suggested,
        capacity={"A": 8, "B": 8},
        open_positions={"A": 2, "B": 1},
        existing_meetings={},
        max_per_candidate=1,
    )
    assert chosen == [Pair("OA", "A", "X"), Pair("OA", "A", "Y"), Pair("OB", "B", "Z")]
    assert share == {"A": 2, "B": 1}
    assert shortfalls == []


def test_a_company_short_of_candidates_takes_one_from_another_that_can_do_without():
    """X and Y may meet once: 2 meetings, shares 2:1 → quotas 4/3, 2/3: A 1, B 1 (B's remainder
    is larger). First pass: A takes X; B's only pair is with X. A can meet Y instead: A-Y, B-X."""
    suggested = pd.DataFrame(
        [("OA", "A", "X"), ("OA", "A", "Y"), ("OB", "B", "X")],
        columns=["offer_ref", "siret", "candidate_ref"],
    )
    chosen, share, shortfalls = choose_pairs(
        suggested,
        capacity={"A": 8, "B": 8},
        open_positions={"A": 2, "B": 1},
        existing_meetings={},
        max_per_candidate=1,
    )
    assert chosen == [Pair("OA", "A", "Y"), Pair("OB", "B", "X")]
    assert share == {"A": 1, "B": 1}
    assert shortfalls == []


def test_a_company_short_of_candidates_is_reported():
    """X and Y may meet once: A and B are suggested X only, C is suggested Y. Two meetings,
    weights 2:1:1: quotas 1, 0.5, 0.5: A 1, the last to B (equal remainders and weights, B
    before C). A takes X; B's X is taken and A has no one else: B gets 0 of 1, reported."""
    suggested = pd.DataFrame(
        [("OA", "A", "X"), ("OB", "B", "X"), ("OC", "C", "Y")],
        columns=["offer_ref", "siret", "candidate_ref"],
    )
    chosen, share, shortfalls = choose_pairs(
        suggested,
        capacity={"A": 8, "B": 8, "C": 8},
        open_positions={"A": 2, "B": 1, "C": 1},
        existing_meetings={},
        max_per_candidate=1,
    )
    assert chosen == [Pair("OA", "A", "X")]
    assert share == {"A": 1, "B": 1, "C": 0}
    assert [(p.subject, p.key) for p in shortfalls] == [("entreprise", "B")]
    assert shortfalls[0].reason.startswith("0 rencontre(s) sur 1 prévues")


def test_summary_counts_the_companies_without_a_share_in_one_line():
    # B and C have open positions but a share of 0 (too few meetings for all): one line for both.
    plan = EventPlan(
        {"code": "JD"},
        [PlannedMeeting("OA", "A", "X", at(11, 9), 20), PlannedMeeting("OA", "A", "Y", at(12, 9), 20)],
        {"A": 3, "B": 0, "C": 0},
        [Problem("entreprise", "A", "2 rencontre(s) sur 3 prévues : plus de candidat suggéré disponible")],
    )
    assert plan.summary_lines() == [
        "JD : 2 rencontre(s) planifiée(s)",
        "par entreprise :",
        "  A : 2 (part 3)",
        "  2 autre(s) entreprise(s) : part nulle, trop peu de rencontres pour toutes",
        "par jour :",
        "  11 mai 2020 : 1",
        "  12 mai 2020 : 1",
        "non placé :",
        "  entreprise A : 2 rencontre(s) sur 3 prévues : plus de candidat suggéré disponible",
    ]


# ---------------------------------------------------------------- store


pytestmark_db = pytest.mark.postgresql


def _meeting_count(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(Meeting)).scalar_one()


@pytestmark_db
def test_plan_event_by_hand(engine):
    """tests/pairing_data.py; max 3. Open positions S1 2 (O1), S2 1 (O2). Default windows on
    Mon 11 and Tue 12: 32 slots each; S1 loses 9:00 on the 11th (CB's M2 on O1), S2 14:00 (M1
    on O5, held): 31 each. Meetings left: CA 3, CB 2 (M2), CD 3 (M3 cancelled), CF 3 = 11, at
    most 31 + 31. Caps by distinct suggested candidates: S1 3 (CA, CF, CD), S2 4: total
    min(11, 7) = 7; by 2:1, quotas 4.67, 2.33 → S1 5, S2 2; S1 capped at 3, the 2 left to S2:
    shares S1 3, S2 4: all seven suggested pairs.
    Placement: S2 has less slack (31 − 4) so its pairs first, candidates with 2 requests first:
    O2-CD 9:00, O2-CF 9:20, O2-CA 9:40, O2-CB 10:10 (CB is in M2 at 9:00, S2's 9:20 and 9:40
    are taken); then O1-CA 9:20 (S1's 9:00 is M2), O1-CF 9:40 (CF at 9:20), O1-CD 10:10 (9:20,
    9:40 are taken)."""
    load_job_dating(engine)
    plan = plan_event("JD", engine=engine)
    assert plan.shares == {S1: 3, S2: 4}
    assert plan.shortfalls == []
    assert [(m.offer_ref, m.candidate_ref, m.starts_at) for m in plan.meetings] == [
        ("O2", "CD", at(11, 9)),
        ("O1", "CA", at(11, 9, 20)),
        ("O2", "CF", at(11, 9, 20)),
        ("O1", "CF", at(11, 9, 40)),
        ("O2", "CA", at(11, 9, 40)),
        ("O1", "CD", at(11, 10, 10)),
        ("O2", "CB", at(11, 10, 10)),
    ]
    assert plan.summary_lines() == [
        "JD : 7 rencontre(s) planifiée(s)",
        "par entreprise :",
        f"  {S1} : 3 (part 3)",
        f"  {S2} : 4 (part 4)",
        "par jour :",
        "  11 mai 2020 : 7",
    ]
    # With at most 1 meeting each (CB has one already): CA, CD, CF left, 3 meetings, quotas 2, 1.
    small = plan_event("JD", max_per_candidate=1, engine=engine)
    assert small.shares == {S1: 2, S2: 1}
    assert [(m.offer_ref, m.candidate_ref) for m in small.meetings] == [
        ("O2", "CD"),
        ("O1", "CA"),
        ("O1", "CF"),
    ]


@pytestmark_db
def test_plan_event_leaves_out_a_pair_with_no_common_slot(engine):
    """tests/pairing_data.py with CA the only one who may be presented (the others withdraw),
    and one slot each for S1 and S2, both 11 May 9:20–9:40. CA may meet 3 times, the caps are
    1 and 1: 2 meetings, by 2:1 quotas 4/3 and 2/3 → S1 1, S2 1 (the larger remainder). In rank
    order S1 takes O1-CA, S2 takes O2-CA. Both at 9:20: the greedy pass places S1's first (no
    slack either, S1 < S2), then O2-CA finds no slot and no placement of both exists. The plan
    keeps O1-CA at 9:20 and lists O2/CA as not planned, rather than refusing everything."""
    load_job_dating(engine)
    for ref in ("CB", "CD", "CF"):
        set_presentation_consent(ref=ref, consent=False, parent_consent=False, actor="test", engine=engine)
    for siret in (S1, S2):
        set_company_windows(
            event_code="JD",
            siret=siret,
            windows=[(at(11, 9, 20), at(11, 9, 40))],
            actor="test",
            engine=engine,
        )
    plan = plan_event("JD", engine=engine)
    assert plan.shares == {S1: 1, S2: 1}
    assert [(m.offer_ref, m.candidate_ref, m.starts_at) for m in plan.meetings] == [
        ("O1", "CA", at(11, 9, 20))
    ]
    assert [str(problem) for problem in plan.shortfalls] == [f"paire O2/CA : {UNPLACED}"]


@pytestmark_db
def test_save_plan_writes_everything_or_nothing(engine):
    load_job_dating(engine)
    plan = plan_event("JD", engine=engine)
    version = database.data_version(engine)
    refs = save_plan("JD", plan.meetings, actor="conseil@x.fr", engine=engine)
    assert len(refs) == len(set(refs)) == 7 and all(ref.startswith("JD-") for ref in refs)
    assert database.data_version(engine) == version + 1
    with engine.connect() as connection:
        saved = connection.execute(
            sa.select(
                Meeting.candidate_ref, Meeting.offer_ref, Meeting.starts_at, Meeting.status, Meeting.outcome
            ).where(Meeting.ref.in_(refs))
        ).all()
        action = connection.execute(
            sa.select(AuditEvent.action, AuditEvent.target, AuditEvent.detail)
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).one()
    assert {(row.candidate_ref, row.offer_ref, row.starts_at) for row in saved} == {
        (m.candidate_ref, m.offer_ref, m.starts_at) for m in plan.meetings
    }
    assert {(row.status, row.outcome) for row in saved} == {("planned", "none")}
    assert tuple(action) == ("meeting.plan", "JD", "meetings=7")
    # The same plan again clashes with itself stored: refused whole, nothing written.
    count = _meeting_count(engine)
    with pytest.raises(PlanInfeasible) as raised:
        save_plan("JD", plan.meetings, actor="conseil@x.fr", engine=engine)
    assert "candidat CD : déjà en rencontre le 11 mai 2020 09:00" in [str(p) for p in raised.value.problems]
    assert _meeting_count(engine) == count
    assert database.data_version(engine) == version + 1


@pytestmark_db
def test_save_refuses_a_plan_with_one_clash_and_writes_none_of_it(engine):
    # CA at 11:00 is fine; CB at 9:10 overlaps CB's M2 (9:00–9:20): neither is written.
    load_job_dating(engine)
    count = _meeting_count(engine)
    meetings = [
        PlannedMeeting("O2", S2, "CA", at(11, 11), 20),
        PlannedMeeting("O2", S2, "CB", at(11, 9, 10), 20),
    ]
    with pytest.raises(PlanInfeasible, match="candidat CB : déjà en rencontre le 11 mai 2020 09:10"):
        save_plan("JD", meetings, actor="x", engine=engine)
    assert _meeting_count(engine) == count


@pytestmark_db
def test_save_refuses_candidates_without_consent_and_wrong_offers(engine):
    # CC is 14 without a parent's consent, CE's birth date is unknown without one, CG never
    # accepted; O2 is S2's offer, not S1's; O9 does not exist. Nothing is written.
    load_job_dating(engine)
    count = _meeting_count(engine)
    meetings = [
        PlannedMeeting("O2", S2, "CC", at(11, 11), 20),
        PlannedMeeting("O2", S2, "CE", at(11, 11, 20), 20),
        PlannedMeeting("O2", S2, "CG", at(11, 11, 40), 20),
        PlannedMeeting("O2", S1, "CA", at(11, 11), 20),
        PlannedMeeting("O9", S1, "CF", at(11, 11, 20), 20),
    ]
    with pytest.raises(PlanInfeasible) as raised:
        save_plan("JD", meetings, actor="x", engine=engine)
    assert [(p.subject, p.key) for p in raised.value.problems] == [
        ("paire", "O2/CA"),
        ("paire", "O9/CF"),
        ("candidat", "CC"),
        ("candidat", "CE"),
        ("candidat", "CG"),
    ]
    assert raised.value.problems[1].reason == "offre inconnue"
    assert "n'a pas accepté d'être présenté" in raised.value.problems[2].reason
    assert _meeting_count(engine) == count


@pytestmark_db
def test_company_windows_stored_or_default(engine):
    # S1 meets on the 12th from 9:00 to 10:00, 30 minutes each: 9:00, 9:30 (then a break).
    load_job_dating(engine)
    set_company_windows(
        event_code="JD", siret=S1, windows=[(at(12, 9), at(12, 10))], meeting_min=30, actor="x", engine=engine
    )
    windows = company_windows(job_dating_event("JD", engine), [S1, S2], engine)
    own = [w for w in windows if w.siret == S1]
    assert [(w.starts_at, w.ends_at, w.meeting_min) for w in own] == [(at(12, 9), at(12, 10), 30)]
    assert hm([start for start, _ in slots(own[0])]) == ["09:00", "09:30"]
    assert len([w for w in windows if w.siret == S2]) == 4  # the default: two half-days, two days
    with pytest.raises(ValueError, match="jours de l'opération"):
        set_company_windows(
            event_code="JD", siret=S1, windows=[(at(13, 9), at(13, 10))], actor="x", engine=engine
        )
    with pytest.raises(ValueError, match="se chevauchent"):
        set_company_windows(
            event_code="JD",
            siret=S1,
            windows=[(at(12, 9), at(12, 10)), (at(12, 9, 50), at(12, 11))],
            actor="x",
            engine=engine,
        )
    with pytest.raises(PairingError):
        set_company_windows(event_code="POV", siret=S1, windows=[], actor="x", engine=engine)
    # No windows: back to the default.
    set_company_windows(event_code="JD", siret=S1, windows=[], actor="x", engine=engine)
    assert len(company_windows(job_dating_event("JD", engine), [S1], engine)) == 4
    assert timedelta(minutes=20) == slots(company_windows(job_dating_event("JD", engine), [S1], engine)[0])[
        0
    ][1] - at(11, 9)
