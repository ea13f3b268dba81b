"""The demo data: deterministic, accepted by the importer, and a believable picture."""

from __future__ import annotations

import hashlib
import random
from datetime import date, datetime, time, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.testclient import TestClient

from services import demo, demo_generator, startup
from services.access import accounts
from services.access.accounts import REFUSED, AccountError
from services.app import web
from services.config import LOCAL_TZ
from services.demo import DEMO_ACCOUNTS
from services.demo_generator import demo_rows
from services.imports import importer, problems
from services.jobdating import pairing
from services.metrics import bookings
from services.store import audit, database
from services.store.models import Account, Booking, Candidate, Event, Meeting, Site, StoreState
from services.store.scope import Scope
from tests.conftest import SCENARIO


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
    assert _digest(demo_generator.generate_rows(300, seed=5)) == "6a87b57117516624"
    monkeypatch.setattr(demo_generator, "NETWORK_FROM", 100)  # the network profile, at a small scale
    assert _digest(demo_generator.generate_rows(300, seed=5)) == "8aa82e1a2497411e"


def test_days_to_microseconds_rounds_as_timedelta():
    draws = random.Random(1)
    days = [draws.uniform(0, 70) for _ in range(20_000)] + [0.0, 1.0, 25.0, 8.0, 1e-12, 0.999999999999]
    # Fractions whose scaled leftover is exactly half a microsecond: rounded half to even.
    days += [(whole + 0.5) / 86_400_000_000 for whole in range(64)]
    expected = [timedelta(days=value) // timedelta(microseconds=1) for value in days]
    assert demo_generator._days_to_us(np.array(days)).tolist() == expected


def test_vectorised_instants_are_the_per_row_ones():
    draws = random.Random(2)
    start = datetime(2019, 1, 1, tzinfo=LOCAL_TZ)
    moments = [start + timedelta(days=draws.uniform(0, 730)) for _ in range(5_000)]
    # Around the changes of offset: the gap (fold=0 reads winter time) and the repeated hour.
    for day, clock in ((date(2020, 3, 29), time(2, 30)), (date(2020, 10, 25), time(2, 30))):
        moments += [
            datetime.combine(day, clock, tzinfo=LOCAL_TZ) + timedelta(minutes=m) for m in range(-90, 90)
        ]
    wall = demo_generator.wall_microseconds(moments)
    assert demo_generator.sqlite_instants(wall) == [demo._sqlite_instant(moment) for moment in moments]
    assert demo_generator.server_instants(wall) == [demo._server_instant(moment) for moment in moments]
    assert [repr(m) for m in demo_generator._local_datetimes(wall)] == [repr(m) for m in moments]


# ---------------------------------------------------------------- the end of the demo (issue 16, item 10)


def _sign_in_page() -> str:
    client = TestClient(Starlette(routes=web.create_routes(lambda: False)), base_url="http://testserver")
    return client.get(web.SIGN_IN_PATH).text


def _demo_accounts_closed(engine) -> None:
    """The demo's accounts are disabled, sign in no more, and the sign-in page lists none."""
    assert not database.holds_demo_data(engine)
    for account in DEMO_ACCOUNTS:
        with pytest.raises(AccountError, match=REFUSED):
            accounts.authenticate(account.email, account.password, engine=engine)
    listed = accounts.list_accounts(engine).set_index("email")
    assert all(listed.loc[account.email, "disabled"] for account in DEMO_ACCOUNTS)
    page = _sign_in_page()
    assert "Comptes de démonstration" not in page and f"@{accounts.DEMO_DOMAIN}" not in page


@pytest.mark.postgresql
def test_a_real_file_imported_into_the_demo_ends_the_demo_and_closes_its_accounts(demo_store):
    admin = next(account for account in DEMO_ACCOUNTS if account.role == "admin")
    token = accounts.open_session(accounts.authenticate(admin.email, admin.password))
    assert "Comptes de démonstration" in _sign_in_page()

    result = importer.import_path(SCENARIO / "candidates.csv", imported_by="cli")[0]
    assert result.accepted and result.inserted > 0

    _demo_accounts_closed(demo_store)
    assert accounts.session_account(token) is None  # the admin's open session ended too
    events = audit.recent_events()
    ended = events[events["action"] == "demo.end"]
    assert ended[["actor", "detail"]].values.tolist() == [["cli", "import candidates"]]
    disabled = events[(events["action"] == "account.disable") & (events["detail"] == "demo.end")]
    assert sorted(disabled["target"]) == sorted(account.email for account in DEMO_ACCOUNTS)
    # An admin cannot open a demo account again: its password is on every copy of the code.
    with pytest.raises(AccountError, match="démonstration"):
        accounts.enable_account(email=admin.email, actor="admin@cfai-lorraine.fr")
    # Even enabled behind the services' back, it does not sign in outside the demo.
    with demo_store.begin() as connection:
        connection.execute(sa.update(Account.__table__).values(disabled=False))
    with pytest.raises(AccountError, match=REFUSED):
        accounts.authenticate(admin.email, admin.password)


def test_an_account_added_by_hand_ends_the_demo(demo_store):
    accounts.add_account(
        email="prenom.nom@cfai-lorraine.fr",
        role="admin",
        password="une phrase assez longue",
        actor="cli:root",
    )
    _demo_accounts_closed(demo_store)
    assert accounts.authenticate("prenom.nom@cfai-lorraine.fr", "une phrase assez longue").role == "admin"


def test_a_sync_recorded_by_the_importer_ends_the_demo(demo_store):
    # Cal.com's sync writes its rows and records them through importer.record_result, in its
    # transaction: the same end as an import.
    synced = problems.ImportResult(source="cal.com", kind="bookings", accepted=True, inserted=1)
    with database.write_transaction(demo_store) as connection:
        importer.record_result(connection, synced, "sync:calcom")
    _demo_accounts_closed(demo_store)


def test_what_stores_nothing_new_leaves_the_demo_open(demo_store):
    # A refused file, and a file whose rows are all in the store already, store nothing.
    refused = importer.import_bytes(b"code,name,city\nNEW\n", source="sites.csv", imported_by="cli")
    unchanged = importer.import_path(SCENARIO / "sites.csv", imported_by="cli")[0]  # MAX, YUT as the demo's
    assert not refused.accepted and unchanged.accepted and unchanged.inserted == unchanged.updated == 0
    assert database.holds_demo_data(demo_store)
    director = next(account for account in DEMO_ACCOUNTS if account.role == "director")
    assert accounts.authenticate(director.email, director.password).role == "director"
    assert "Comptes de démonstration" in _sign_in_page()


def test_a_store_that_held_more_than_the_demo_before_ends_it_at_start(demo_store, monkeypatch):
    # A store where a real file was imported before imports ended the demo: the flag is set and
    # the demo's accounts are open. The app's start ends the demo.
    importer.import_path(SCENARIO / "candidates.csv", imported_by="admin@cfai-lorraine.fr")
    with demo_store.begin() as connection:
        connection.execute(sa.update(StoreState.__table__).values(demo_data=True))
        connection.execute(sa.update(Account.__table__).values(disabled=False))
    monkeypatch.setenv("DEMO_DATA", "1")
    assert startup.prepare_store(demo_store) is False
    _demo_accounts_closed(demo_store)
    # A demo store with nothing else stays a demo at start.
    with demo_store.begin() as connection:
        connection.execute(sa.delete(importer.ImportRun.__table__).where(sa.column("imported_by") != "seed"))
        connection.execute(sa.update(StoreState.__table__).values(demo_data=True))
    assert startup.prepare_store(demo_store) is True
