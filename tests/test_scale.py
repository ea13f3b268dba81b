"""The scales of issue 8: the bulk seed writes what the importer would, and the benchmark runs."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services import demo, demo_generator
from services.access import accounts
from services.access.accounts import AccountError
from services.metrics import attribution, bookings
from services.store import database
from services.store.contract import IMPORT_ORDER, SPECS
from services.store.models import Account, ImportRun, StoreState
from services.store.scope import Scope

ROOT = Path(__file__).resolve().parent.parent


def _store(tmp_path: Path, name: str, migrated_template: Path) -> Engine:
    path = tmp_path / name
    path.write_bytes(migrated_template.read_bytes())
    return database.get_engine(f"sqlite:///{path}")


def _contents(engine: Engine, kind: str) -> list[tuple]:
    """Every row of a contract table, without its surrogate id, in a stable order."""
    table = SPECS[kind].table
    columns = [column for column in table.c if column.name != "id"]
    with engine.connect() as connection:
        return sorted(connection.execute(sa.select(*columns)).all(), key=repr)


@pytest.mark.parametrize("network", [False, True], ids=["demo", "network"])
def test_bulk_seed_writes_what_the_importer_writes(
    tmp_path: Path, migrated_template: Path, network: bool, monkeypatch: pytest.MonkeyPatch
):
    if network:  # the network's profile (more sites, longer journeys) at a small scale
        monkeypatch.setattr(demo_generator, "NETWORK_FROM", 100)
    through_importer = _store(tmp_path, "importer.db", migrated_template)
    in_bulk = _store(tmp_path, "bulk.db", migrated_template)
    assert all(r.accepted for r in demo.seed_demo(400, seed=11, engine=through_importer, bulk=False))
    assert all(r.accepted for r in demo.seed_demo(400, seed=11, engine=in_bulk, bulk=True))
    for kind in IMPORT_ORDER:
        assert _contents(in_bulk, kind) == _contents(through_importer, kind), kind
    april = Scope(date(2020, 3, 1), date(2020, 4, 30), event="POV-2020-04")
    assert bookings.funnel(april, in_bulk) == bookings.funnel(april, through_importer)
    assert bookings.status_totals(april, in_bulk) == bookings.status_totals(april, through_importer)
    assert (
        attribution.attribute(april, engine=in_bulk).credits
        == attribution.attribute(april, engine=through_importer).credits
    )
    assert database.holds_demo_data(in_bulk) and database.data_version(in_bulk) > 0


def test_network_scale_counts_follow_the_number_of_candidates():
    # 40,000 candidates: 14 sites (one per 2,857), about five touches and 0.4 bookings each.
    rows = demo_generator.generate_rows(40_000, seed=3)
    assert len(rows["candidates"]) == 40_000
    assert len(rows["sites"]) == 14
    assert 4.5 < len(rows["touchpoints"]) / 40_000 < 5.5
    assert 0.3 < len(rows["bookings"]) / 40_000 < 0.5
    assert len({row["email"] for row in rows["advisors"]}) == len(rows["advisors"])


def test_bench_runs_on_a_tiny_scale(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--candidates", "400", "--repeat", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "DuckDB" in done.stdout


def _schema(engine: Engine) -> list[tuple]:
    """Every table, index, trigger and view of a SQLite store as its SQL (constraints included)."""
    with engine.connect() as connection:
        return sorted(connection.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_master").all())


def test_a_bulk_seeded_store_has_the_schema_of_a_migrated_one(tmp_path: Path, migrated_template: Path):
    # The bulk seed builds the indexes after the load (docs/performance.md): the store must end
    # with every index, constraint and trigger a migration gives, their SQL unchanged.
    seeded = _store(tmp_path, "seeded.db", migrated_template)
    demo.seed_demo(300, engine=seeded, bulk=True)
    migrated = database.get_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    database.migrate(migrated)
    expected = _schema(migrated)
    assert any(kind == "index" and name.startswith("ix_touchpoints") for kind, name, _, _ in expected)
    assert _schema(seeded) == expected
    with seeded.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


@pytest.mark.postgresql
def test_the_bulk_seed_writes_on_every_engine(engine: Engine):
    """The bulk path binds each column as the engine's driver takes it (dates and decimals as
    such on PostgreSQL, text on SQLite): it writes the same counts the generator gives."""
    rows = demo_generator.generate_rows(300)
    demo.seed_demo(300, engine=engine, bulk=True)
    with engine.connect() as connection:
        for kind in ("candidates", "touchpoints", "bookings", "campaigns"):
            count = connection.execute(sa.select(sa.func.count()).select_from(SPECS[kind].table)).scalar_one()
            assert count == len(rows[kind]), kind


def _nothing_written(engine: Engine) -> bool:
    """No row in any contract table, no import recorded, no account, the store not marked demo."""
    with engine.connect() as connection:
        tables = [SPECS[kind].table for kind in IMPORT_ORDER] + [ImportRun.__table__, Account.__table__]
        counts = [connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in tables]
        demo_data = connection.execute(sa.select(StoreState.__table__.c.demo_data)).scalar()
    return not any(counts) and not demo_data


def _with_a_duplicate_booking(build):
    def built(self):
        generated = build(self)
        generated.rows["bookings"].append(generated.rows["bookings"][0])  # the same ref twice
        return generated

    return built


def test_a_bulk_load_that_fails_raises_and_leaves_nothing_written(
    tmp_path: Path, migrated_template: Path, monkeypatch
):
    # The bulk seed loads its tables in one transaction: a booking written twice breaks the
    # unique ref after the sites, candidates and touchpoints were loaded; the seed raises the
    # driver's error, naming the table, and none of those rows stays (one transaction per
    # table kept them, and the store, no longer empty, could not be seeded again).
    seeded = _store(tmp_path, "seeded.db", migrated_template)
    monkeypatch.setattr(demo.Builder, "build", _with_a_duplicate_booking(demo.Builder.build))
    with pytest.raises(sa.exc.IntegrityError, match="bookings.ref") as raised:
        demo.seed_demo(300, engine=seeded, bulk=True)
    assert "écriture en masse de la table bookings" in "".join(raised.value.__notes__)
    assert _nothing_written(seeded)
    monkeypatch.undo()
    demo.seed_demo(300, engine=seeded, bulk=True)  # the empty store can be seeded again
    assert database.holds_demo_data(seeded)


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "importer"])
def test_a_password_failing_in_the_hashing_thread_stops_the_seed_before_any_write(
    tmp_path: Path, migrated_template: Path, monkeypatch, bulk: bool
):
    # The demo accounts' passwords are hashed in another thread while the rows are drawn: its
    # error is the seed's, raised before any row or account is written.
    seeded = _store(tmp_path, "seeded.db", migrated_template)

    def refused(password: str, *, email: str):
        raise AccountError(f"mot de passe refusé pour {email}")

    monkeypatch.setattr(accounts, "hashed_password", refused)
    with pytest.raises(AccountError, match="mot de passe refusé pour direction@"):
        demo.seed_demo(60, engine=seeded, bulk=bulk)
    assert _nothing_written(seeded)
