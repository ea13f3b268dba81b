"""Table versions are never forgotten: every write gives a new version to every table it changed,
in its own transaction (services/store/database.py), which keeps the analytical copies fresh.

Two checks, independent of how the versions are found (the tables named by the statements):
the content of every table before and after each write path, and SQLite triggers that record,
inside each transaction, the tables its rows changed in; at its commit, each of them must have
got a new version in the same transaction.

Loaded as a plugin, this module puts the triggers' check on every SQLite store of the whole
suite (``python -m pytest -p tests.test_table_versions``): a test whose transactions change a
table without a new version fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from services import demo
from services.access import accounts, retention, rights
from services.advising import outcomes
from services.imports.importer import IMPORT_ORDER, import_bytes, import_path
from services.integrations import calcom_event_types
from services.store import audit, channels, database
from tests.conftest import SCENARIO

# ---------------------------------------------------------------- the triggers' check

_CHANGED = "_versions_guard_changed"
_BUMPED = "_versions_guard_bumped"


class VersionGuard:
    """On every connection of a SQLite engine, TEMP triggers (the store's file is untouched)
    record the tables whose rows a transaction changes and those it gave a new version; its
    commit must find the first among the second. What is missing is kept in ``missing``."""

    def __init__(self) -> None:
        self.missing: list[set[str]] = []

    def install(self, engine: Engine) -> None:
        sa.event.listen(engine, "checkout", self._on_checkout)
        # After services.store.database's own commit hook, which gives the versions.
        sa.event.listen(engine, "commit", self._on_commit)

    def _on_checkout(self, dbapi_connection, record, _proxy) -> None:  # noqa: ANN001
        # Outside any transaction: triggers made inside one would go with its rollback.
        tables = [
            name
            for (name,) in dbapi_connection.execute(
                "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
            )
        ]
        if record.info.get("guarded") == tables:
            return
        dbapi_connection.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_CHANGED} (name TEXT PRIMARY KEY)")
        dbapi_connection.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_BUMPED} (name TEXT PRIMARY KEY)")
        for table in tables:
            log, value = (_BUMPED, "NEW.name") if table == "table_versions" else (_CHANGED, f"'{table}'")
            for event in ("INSERT", "UPDATE", "DELETE"):
                if event == "DELETE" and log == _BUMPED:
                    continue
                dbapi_connection.execute(
                    f'CREATE TEMP TRIGGER IF NOT EXISTS "_versions_guard_{table}_{event}" AFTER {event} '
                    f'ON main."{table}" BEGIN INSERT OR IGNORE INTO {log} VALUES ({value}); END'
                )
        record.info["guarded"] = tables

    def _on_commit(self, connection: sa.Connection) -> None:
        guarded = connection.connection.info.get("guarded")
        if guarded is None:
            return
        # Through the driver: services.store.database must not see these statements.
        driver = connection.connection.driver_connection
        missing = {
            name
            for (name,) in driver.execute(
                f"SELECT name FROM {_CHANGED} WHERE name NOT IN (SELECT name FROM {_BUMPED})"
            )
        }
        if missing and "table_versions" in guarded:  # a store before the versions bumps nothing
            self.missing.append(missing)
        driver.execute(f"DELETE FROM {_CHANGED}")
        driver.execute(f"DELETE FROM {_BUMPED}")


# ---------------------------------------------------------------- as a plugin, on the whole suite

_SUITE_GUARD = VersionGuard()
_SUITE_GUARDED: list[bool] = []


def pytest_configure(config: pytest.Config) -> None:
    """Loaded with ``-p``: every SQLite engine of ``get_engine`` gets the triggers' check."""
    _SUITE_GUARDED.append(True)
    track = database._track_written_tables

    def track_and_guard(engine: Engine) -> None:
        track(engine)
        if engine.dialect.name == "sqlite":
            _SUITE_GUARD.install(engine)

    database._track_written_tables = track_and_guard


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    del _SUITE_GUARD.missing[:]
    result = yield
    if _SUITE_GUARD.missing:
        raise AssertionError(f"tables changed without a new version: {_SUITE_GUARD.missing}")
    return result


# ---------------------------------------------------------------- the write paths

LATE = datetime(2023, 7, 1, tzinfo=UTC)
AFTER_APRIL = datetime(2020, 6, 1, tzinfo=UTC)


def _digests(engine: Engine) -> dict[str, str]:
    """A digest of each table's rows (the versions aside)."""
    digests = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if table.name == "table_versions":
                continue
            rows = connection.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


def _versions(engine: Engine) -> dict[str, int]:
    return database.table_versions([table.name for table in SQLModel.metadata.sorted_tables], engine)


@pytest.fixture
def guard(engine: Engine) -> VersionGuard:
    if _SUITE_GUARDED:  # the whole suite's check is on this engine already
        return _SUITE_GUARD
    guard = VersionGuard()
    guard.install(engine)
    engine.dispose()
    return guard


def _check(store: Engine, guard: VersionGuard, write: Callable[..., object], *args, **kwargs) -> set[str]:  # noqa: ANN002, ANN003
    """Run a write path on the store; the tables it changed, each of which must have got a new
    version (what it returned in ``_check.result``)."""
    digests, versions = _digests(store), _versions(store)
    _check.result = write(*args, **kwargs)
    after, new_versions = _digests(store), _versions(store)
    changed = {name for name in digests if after[name] != digests[name]}
    stale = {name for name in changed if new_versions[name] == versions[name]}
    assert stale == set(), f"changed without a new version: {stale}"
    assert guard.missing == [], f"changed without a new version in the same transaction: {guard.missing}"
    return changed


def test_imports_of_each_kind_bump_what_they_change(engine, guard):
    for kind in IMPORT_ORDER:
        changed = _check(
            engine, guard, lambda kind=kind: import_path(SCENARIO / f"{kind}.csv", engine=engine)
        )
        assert kind in changed
    # The same files again: nothing but the history changes.
    changed = _check(engine, guard, lambda: import_path(SCENARIO, engine=engine))
    assert changed <= {"import_runs", "audit_events"}
    # A refused file (line 3 repeats line 2): its report only.
    refused = b"candidate_ref,occurred_at\nCB,2020-04-20 10:00\nCB,2020-04-20 10:00\n"
    changed = _check(engine, guard, lambda: import_bytes(refused, source="touchpoints.csv", engine=engine))
    assert "touchpoints" not in changed and "import_runs" in changed
    # An update of stored rows, not only inserts.
    update = b"code,name,city,department\nMAX,Maxeville-Centre,Maxeville,54\n"
    assert "sites" in _check(engine, guard, import_bytes, update, source="sites.csv", engine=engine)
    assert _check.result.accepted and _check.result.updated == 1


def test_the_schedule_privacy_and_channel_rules_bump_what_they_change(scenario, guard):
    engine = scenario

    def outcome() -> None:
        outcomes.record_outcome(
            "BC",
            outcome=outcomes.Outcome("attended", attendees=2, note="Venue avec sa mère"),
            author="yves.conseil@example.org",
            read_version=0,
            now=AFTER_APRIL,
            engine=engine,
        )

    assert {"bookings", "booking_changes", "booking_notes"} <= _check(engine, guard, outcome)
    advisor = b"email,name,site_code\nzoe.conseil@example.org,Zoe Conseil,YUT\n"
    assert "advisors" in _check(engine, guard, import_bytes, advisor, source="advisors.csv", engine=engine)
    with engine.connect() as connection:
        version = connection.execute(sa.text("SELECT version FROM bookings WHERE ref = 'BC'")).scalar()
    reassigned = _check(
        engine,
        guard,
        lambda: outcomes.reassign(
            "BC", advisor_email="zoe.conseil@example.org", author="a", read_version=version, engine=engine
        ),
    )
    assert "bookings" in reassigned
    rules = (channels.Rule("newspaper", source_in=("lemag.fr",)), *channels.load_rules())
    assert "touchpoints" in _check(engine, guard, lambda: channels.save_rules(rules, engine))
    erased = _check(engine, guard, lambda: rights.erase_candidate("CB", actor="dpo", engine=engine))
    assert {"candidates", "touchpoints", "bookings"} <= erased
    purged = _check(engine, guard, lambda: retention.purge(actor="test", now=LATE, engine=engine))
    assert {"candidates", "touchpoints"} <= purged


def test_accounts_sessions_audit_and_integrations_bump_what_they_change(scenario, guard):
    engine = scenario
    _check(
        engine,
        guard,
        lambda: accounts.add_account(
            email="d@test.fr", role="director", password="un-mot-de-passe-long", actor="t", engine=engine
        ),
    )
    _check(engine, guard, accounts.authenticate, "d@test.fr", "un-mot-de-passe-long", engine=engine)
    signed = _check.result
    assert "sign_in_sessions" in _check(engine, guard, accounts.open_session, signed, engine=engine)
    token = _check.result
    _check(engine, guard, accounts.session_account, token, engine=engine)
    _check(engine, guard, accounts.end_session, token, engine=engine)
    _check(engine, guard, accounts.map_group, group="g", role="director", actor="t", engine=engine)
    _check(engine, guard, audit.record, "test.action", actor="t", target="x", engine=engine)
    mapping = _check(
        engine,
        guard,
        lambda: calcom_event_types.save_event_type_mapping(
            event_type_id=101, site_code="MAX", program_code="BTS-MS", actor="t", engine=engine
        ),
    )
    assert "event_type_mappings" in mapping
    _check(
        engine,
        guard,
        lambda: calcom_event_types.delete_event_type_mapping(event_type_id=101, actor="t", engine=engine),
    )


@pytest.mark.parametrize("bulk", [False, True], ids=["through the importer", "in bulk"])
def test_the_demo_seed_bumps_every_table_it_fills(engine, guard, bulk):
    changed = _check(engine, guard, lambda: demo.seed_demo(candidates=300, engine=engine, bulk=bulk))
    assert {"candidates", "touchpoints", "bookings", "enrollments", "sites"} <= changed


def test_a_migration_bumps_the_tables_it_alters(tmp_path: Path):
    # A store created before the versions exists gets a first version for every table.
    from alembic import command
    from alembic.config import Config

    old = database.get_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(database.MIGRATIONS_DIR))
    with database.write_transaction(old) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
    with database.write_transaction(old) as connection:  # no table of versions yet: nothing to bump
        connection.exec_driver_sql("INSERT INTO sites (code, name) VALUES ('MAX', 'Maxéville')")
    database.migrate(old)
    versions = _versions(old)
    assert all(
        versions[table.name] for table in SQLModel.metadata.sorted_tables if table.name != "table_versions"
    )
    database.reset_engines()


def test_the_checks_see_a_write_whose_table_was_not_found(engine, guard):
    # A statement the listener does not see (sent to the driver itself): both checks must say so.
    def hidden_write() -> None:
        with database.write_transaction(engine) as connection:
            driver = connection.connection.driver_connection
            driver.execute("INSERT INTO sites (code, name) VALUES ('MAX', 'M')")

    with pytest.raises(AssertionError, match="sites"):
        _check(engine, guard, hidden_write)
    assert guard.missing == [{"sites"}]
    guard.missing.clear()
