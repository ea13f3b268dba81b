"""The engine factory, sessions, schema migrations and the store's data version."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from services import config
from services.models import StoreState

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


_ENGINES: dict[str, Engine] = {}
_T = TypeVar("_T")
#: Tries of a short write transaction that SQLite found busy (see ``retry_write``).
WRITE_ATTEMPTS = 4


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: ``DATABASE_URL``), one per URL and process."""
    url = url or config.database_url()
    if url not in _ENGINES:
        if url.startswith("sqlite"):
            _ENGINES[url] = _sqlite_engine(url)
        else:
            _ENGINES[url] = sa.create_engine(url, pool_pre_ping=True)
    return _ENGINES[url]


def _sqlite_engine(url: str) -> Engine:
    in_memory = ":memory:" in url or url in {"sqlite://", "sqlite:///"}
    if not in_memory:
        Path(sa.make_url(url).database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": config.sqlite_busy_timeout_ms() / 1000},
        poolclass=StaticPool if in_memory else None,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        # Let SQLAlchemy open transactions itself (BEGIN IMMEDIATE below) rather than pysqlite.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={config.sqlite_busy_timeout_ms()}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # noqa: ANN001
        # A writer takes the write lock at once, so that it waits (busy timeout) instead of
        # failing when it upgrades from reading; readers never block writers (WAL).
        write = connection.get_execution_options().get("write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def reset_engines() -> None:
    """Close and forget every engine (tests point DATABASE_URL elsewhere between cases)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


@contextmanager
def write_transaction(engine: Engine | None = None) -> Iterator[sa.Connection]:
    """A connection in one write transaction: committed on success, rolled back on error."""
    with (engine or get_engine()).connect().execution_options(write=True) as connection:
        with connection.begin():
            yield connection


def retry_write(work: Callable[[sa.Connection], _T], engine: Engine | None = None) -> _T:
    """``work(connection)`` in a write transaction, tried again (up to ``WRITE_ATTEMPTS`` times,
    with backoff) when SQLite is too busy to run it; for short writes whose whole body can run again.

    Why: an import writes its whole file in one transaction (all or nothing), holding SQLite's
    only write lock while it writes (it checks the file before, without the lock). Measured on
    2 cores, an M-scale file of 1M touchpoints holds it 9–10 s alone, 25–33 s while pages are
    computed in the same process, about the 30 s busy timeout: a save could fail with "database
    is locked"; with 4 tries it waits up to about 2 minutes instead. A busy error means
    nothing was committed (the transaction is rolled back), and ``work`` reads what it checks
    (versions) inside the transaction, so running it again cannot write twice or on stale data.
    Some busy errors also come back at once without waiting (SQLite's deadlock avoidance).
    """
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            with write_transaction(engine) as connection:
                return work(connection)
        except sa.exc.OperationalError as error:
            if attempt == WRITE_ATTEMPTS or not _sqlite_busy(error):
                raise
        time.sleep(min(0.05 * 2**attempt, 1.0) * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")


def _sqlite_busy(error: sa.exc.OperationalError) -> bool:
    """SQLITE_BUSY, with any extended code (timeout, snapshot, recovery)."""
    code = getattr(error.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def migrate(engine: Engine | None = None) -> None:
    """Bring the store's schema up to the latest Alembic revision (creates it when empty)."""
    from alembic import command
    from alembic.config import Config

    engine = engine or get_engine()
    alembic_cfg = Config()
    alembic_cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with write_transaction(engine) as connection:
        alembic_cfg.attributes["connection"] = connection
        command.upgrade(alembic_cfg, "head")


def data_version(engine: Engine | None = None) -> int:
    """A number that grows on every write to the data: the key that keeps caches fresh."""
    with (engine or get_engine()).connect() as connection:
        value = connection.execute(sa.select(StoreState.data_version)).scalar()
    return int(value or 0)


def bump_data_version(connection: sa.Connection) -> None:
    """Record, inside the writer's transaction, that the data changed."""
    table = StoreState.__table__
    updated = connection.execute(
        table.update().where(table.c.id == 1).values(data_version=table.c.data_version + 1)
    )
    if updated.rowcount == 0:
        connection.execute(table.insert().values(id=1, data_version=1, demo_data=False))


def is_empty(engine: Engine | None = None) -> bool:
    """True when the store holds no site: nothing has been imported or seeded yet."""
    from services.models import Site

    with (engine or get_engine()).connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(Site)).scalar() == 0


def holds_demo_data(engine: Engine | None = None) -> bool:
    """True when the store was filled by the demo-data seeder."""
    with (engine or get_engine()).connect() as connection:
        value = connection.execute(sa.select(StoreState.demo_data)).scalar()
    return bool(value)
