"""The demo data: deterministic, accepted by the importer, and a believable picture."""

from __future__ import annotations

import hashlib
import random
from datetime import date, datetime, time, timedelta

import numpy as np
import sqlalchemy as sa

from services import bookings, demo, pairing
from services.config import LOCAL_TZ
from services.demo import demo_rows
from services.models import Booking, Candidate, Event, Meeting, Site
from services.scope import Scope


def test_same_seed_same_rows_other_seed_other_rows():
    assert demo_rows(200, seed=7) == demo_rows(200, seed=7)
    assert demo_rows(200, seed=7)["touchpoints"] != demo_rows(200, seed=8)["touchpoints"]


def test_demo_picture(demo_store):
    with demo_store.connect() as connection:

        def values(column: sa.Column) -> set:
            return set(connection.execute(sa.select(column).distinct()).scalars())

        assert len(values(Site.__table__.c.code)) == 7
        assert values(Event.__table__.c.kind) == {"in_person", "virtual", "job_dating"}
        assert values(Booking.__table__.c.status) == {"booked", "attended", "no_show", "cancelled"}
        assert values(Meeting.__table__.c.status) == {"planned", "held", "no_show", "cancelled"}
        assert len(values(Meeting.__table__.c.outcome)) == 5
        births = connection.execute(sa.select(Candidate.__table__.c.birth_date)).scalars().all()
    minors = [born for born in births if born > date(2002, 4, 14)]  # under 18 on 14/04/2020
    assert len(minors) > len(births) / 3
    april = Scope(date(2020, 4, 14), date(2020, 4, 17), event="POV-2020-04")
    assert bookings.family_attendance(april, demo_store) > 0.3
    # Most seeking candidates accepted to be presented to companies (demo.CONSENTING), not all:
    # the job dating can be planned, and the consent rules have someone to leave out.
    with demo_store.connect() as connection:
        consents = connection.execute(
            sa.select(Candidate.__table__.c.presentation_consent, sa.func.count()).group_by(
                Candidate.__table__.c.presentation_consent
            )
        ).all()
    assert {bool(consent) for consent, _ in consents} == {True, False}
    # Everyone the demo's job dating presented to a company had consented (a parent too).
    with demo_store.connect() as connection:
        presented = connection.execute(
            sa.select(
                Candidate.__table__.c.presentation_consent, Candidate.__table__.c.parent_presentation_consent
            )
            .where(Candidate.__table__.c.ref.in_(sa.select(Meeting.__table__.c.candidate_ref)))
            .distinct()
        ).all()
    assert {(bool(own), bool(parent)) for own, parent in presented} == {(True, True)}
    assert not pairing.suggested_pairs("JD-2020-05", demo_store).empty


def _digest(rows: dict) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


def test_the_generated_rows_are_those_of_the_first_generator(monkeypatch):
    # Digests of generate_rows as the first generator (plain random.Random calls, one datetime
    # per touch) gave them: the faster one must draw the same numbers in the same order.
    assert _digest(demo.generate_rows(300, seed=5)) == "6a87b57117516624"
    monkeypatch.setattr(demo, "NETWORK_FROM", 100)  # the network profile, at a small scale
    assert _digest(demo.generate_rows(300, seed=5)) == "8aa82e1a2497411e"


def test_days_to_microseconds_rounds_as_timedelta():
    draws = random.Random(1)
    days = [draws.uniform(0, 70) for _ in range(20_000)] + [0.0, 1.0, 25.0, 8.0, 1e-12, 0.999999999999]
    # Fractions whose scaled leftover is exactly half a microsecond: rounded half to even.
    days += [(whole + 0.5) / 86_400_000_000 for whole in range(64)]
    expected = [timedelta(days=value) // timedelta(microseconds=1) for value in days]
    assert demo._days_to_us(np.array(days)).tolist() == expected


def test_vectorised_instants_are_the_per_row_ones():
    draws = random.Random(2)
    start = datetime(2019, 1, 1, tzinfo=LOCAL_TZ)
    moments = [start + timedelta(days=draws.uniform(0, 730)) for _ in range(5_000)]
    # Around the changes of offset: the gap (fold=0 reads winter time) and the repeated hour.
    for day, clock in ((date(2020, 3, 29), time(2, 30)), (date(2020, 10, 25), time(2, 30))):
        moments += [
            datetime.combine(day, clock, tzinfo=LOCAL_TZ) + timedelta(minutes=m) for m in range(-90, 90)
        ]
    wall = demo._wall_us(moments)
    assert demo._sqlite_instants(wall) == [demo._sqlite_instant(moment) for moment in moments]
    assert demo._server_instants(wall) == [demo._server_instant(moment) for moment in moments]
    assert [repr(m) for m in demo._local_datetimes(wall)] == [repr(m) for m in moments]
