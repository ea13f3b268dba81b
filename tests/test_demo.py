"""The demo data: deterministic, accepted by the importer, and a believable picture."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from services import bookings
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
