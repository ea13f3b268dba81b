"""The engine factory, sessions, schema migrations, the store's data version and table versions.

Table versions: every transaction that commits a write gives, just before its COMMIT and in the
same transaction, a new version (``table_versions``) to each table it wrote. Nothing to call
and nothing to forget: a listener on every engine of ``get_engine`` reads the table out of each
statement sent to the database (ORM, Core or ``exec_driver_sql`` text alike: INSERT, UPDATE,
DELETE, REPLACE, and the DDL of migrations), and the commit hook writes the versions. Every
table counts, even those no analytical read uses (accounts, sessions, audit: one more row
written in a transaction that writes anyway), so that a read added later is fresh too. The
store has no trigger nor cascade that would change a table the statements do not name.
A transaction rolled back changes no version; a savepoint rolled back may leave a new version
behind (an extra copy later, never a stale one). ``tests/test_table_versions.py`` checks, with
SQLite triggers as the ground truth, that the write paths give a new version to every table
they change.

A version is a random 62-bit stamp, not a counter: equal versions mean equal contents even
across files. Two stores at one path (a test's file replaced, whose inode number the system
reuses) or two copies of one store written apart would otherwise count to the same numbers
with different rows; copies of one store not written since share their stamps and their rows.
"""

from __future__ import annotations

import random
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from services import config
from services.store.models import StoreState, TableVersion

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


_ENGINES: dict[str, Engine] = {}
_T = TypeVar("_T")
#: Tries of a short write transaction that SQLite found busy (see ``retry_write``).
WRITE_ATTEMPTS = 4


class StoreError(Exception):
    """The store cannot be used as set (``DATABASE_URL``…): the message names the setting and
    says what is wrong; the command line prints it as one line, exit status 3."""


def shown_url(url: str) -> str:
    """A store's URL as a message may show it: without its password."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "(illisible)"


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: ``DATABASE_URL``), one per URL and process."""
    url = url or config.database_url()
    if url not in _ENGINES:
        try:
            if url.startswith("sqlite"):
                engine = _sqlite_engine(url)
            else:
                engine = sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError, ValueError) as error:
            if isinstance(error, config.SettingError):
                raise
            # The parser's own message may quote the whole URL, password included: not shown.
            why = f" ({error})" if isinstance(error, (sa.exc.NoSuchModuleError, ImportError)) else ""
            raise StoreError(
                f"DATABASE_URL : adresse de base illisible « {shown_url(url)} »{why} ; attendu par "
                "exemple sqlite:////srv/rencontres/app.db ou postgresql+psycopg://user:pass@host/db"
            ) from None
        _track_written_tables(engine)
        _ENGINES[url] = engine
    return _ENGINES[url]


def _sqlite_engine(url: str) -> Engine:
    in_memory = ":memory:" in url or url in {"sqlite://", "sqlite:///"}
    parsed = sa.make_url(url)
    if parsed.query.get("uri", "").lower() == "true":
        # ``file:…?mode=ro&uri=true``: its text is no path (a stray ``file:`` folder used to be
        # made in the working directory), and the analytical reads copy the store by its path.
        raise StoreError(
            f"DATABASE_URL : la forme URI de SQLite (« {shown_url(url)} ») n'est pas prise en charge ; "
            "donnez le chemin du fichier, par exemple sqlite:////srv/rencontres/app.db"
        )
    if not in_memory:
        folder = Path(parsed.database or "").parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            blocked = isinstance(error, (FileExistsError, NotADirectoryError))
            why = "un fichier porte le nom d'un de ses dossiers" if blocked else error.strerror
            message = f"DATABASE_URL : le dossier de la base {folder} ne peut pas être créé ({why})"
            raise StoreError(message) from None
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": config.sqlite_busy_timeout_ms() / 1000},
        poolclass=StaticPool if in_memory else None,
        # A failed statement's message would quote its values (names of minors) into the logs.
        hide_parameters=True,
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
    """Bring the store's schema up to the latest Alembic revision (creates it when empty).

    A store already at the latest revision, as every command but the first finds it, is told
    by its ``alembic_version`` row and the revisions' files, without importing Alembic: its
    import and the reading of the scripts cost every command 0.2 to 0.6 s (``report --json``
    on the demo store; docs/performance.md)."""
    engine = engine or get_engine()
    if _at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    alembic_cfg = Config()
    alembic_cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with write_transaction(engine) as connection:
        alembic_cfg.attributes["connection"] = connection
        command.upgrade(alembic_cfg, "head")


#: ``revision = "0013"`` and ``down_revision = "0012"`` (or None) in a migration's file.
_REVISION_LINE = re.compile(
    r"""^(down_)?revision\s*(?::[^=\n]*)?=\s*(?:["']([^"'\n]+)["']|None)\s*$""", re.MULTILINE
)


def head_revision() -> str | None:
    """The latest revision of the migrations, read from their files; None when the files do not
    say it plainly (a merge, a revision not written as one string): then Alembic decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = {bool(down): name for down, name in _REVISION_LINE.findall(script.read_text("utf-8"))}
        if False not in found or True not in found:
            return None
        revisions.add(found[False])
        if found[True]:
            parents.add(found[True])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """True when the store's schema is at the latest revision (nothing to migrate)."""
    head = head_revision()
    if head is None:
        return False
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return False
        stored = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return stored == [head]


def data_version(engine: Engine | None = None) -> int:
    """A number that grows on every write to the data: the key that keeps caches fresh."""
    with (engine or get_engine()).connect() as connection:
        value = connection.execute(sa.select(StoreState.data_version)).scalar()
    return int(value or 0)


# ---------------------------------------------------------------- table versions

VERSIONS = TableVersion.__table__
#: The table a statement writes: DML (also SQLite's ``INSERT OR …``, ``REPLACE``) and the DDL
#: of migrations, the name optionally quoted or schema-qualified.
_WRITTEN = re.compile(
    r"""^\s*(?:
        INSERT(?:\s+OR\s+\w+)?\s+INTO | REPLACE\s+INTO | UPDATE(?:\s+OR\s+\w+)? | DELETE\s+FROM
        | TRUNCATE(?:\s+TABLE)? | (?:CREATE|ALTER|DROP)\s+TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?
    )\s+(?:ONLY\s+)?(?:["`\[]?\w+["`\]]?\.)?["`\[]?(\w+)""",
    re.IGNORECASE | re.VERBOSE,
)
#: A statement that may write after a preamble (``WITH … INSERT``): every table it names counts.
_WRITTEN_ANYWHERE = re.compile(
    r"""\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE|DELETE\s+FROM)\s+(?:ONLY\s+)?["`\[]?(\w+)""",
    re.IGNORECASE,
)
_LEADING_COMMENTS = re.compile(r"^(?:\s*(?:/\*.*?\*/|--[^\n]*(?:\n|$)))+", re.DOTALL)
_DDL = re.compile(r"^\s*(?:CREATE|ALTER|DROP)\s", re.IGNORECASE)
_RENAMED = re.compile(r"\bRENAME\s+TO\s+[\"`\[]?(\w+)", re.IGNORECASE)
#: Keys of the DBAPI connection's ``info``: tables written in the open transaction, and
#: whether the store has its table of versions (a store migrated to an older revision has not).
_PENDING = "written_tables"
_HAS_VERSIONS = "has_table_versions"


def written_tables(statement: str) -> set[str]:
    """The tables a SQL statement writes (empty for a read)."""
    statement = _LEADING_COMMENTS.sub("", statement)
    match = _WRITTEN.match(statement)
    if match:
        return {match.group(1).lower()} | {name.lower() for name in _RENAMED.findall(statement)}
    if re.match(r"^\s*WITH\b", statement, re.IGNORECASE):
        return {name.lower() for name in _WRITTEN_ANYWHERE.findall(statement)}
    return set()


def _track_written_tables(engine: Engine) -> None:
    """A new version for every table written, in the writer's transaction (module docstring)."""

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _record(connection, _cursor, statement, _parameters, _context, _executemany) -> None:  # noqa: ANN001
        tables = written_tables(statement)
        if tables:
            pending = connection.info.setdefault(_PENDING, set())
            # Not the versions themselves, nor the tables a migration copies through.
            pending |= {name for name in tables if name != VERSIONS.name and not name.startswith("_alembic")}
            if _DDL.match(statement):
                connection.info.pop(_HAS_VERSIONS, None)  # the schema may have changed

    @sa.event.listens_for(engine, "commit")
    def _bump(connection) -> None:  # noqa: ANN001
        pending = connection.info.pop(_PENDING, None)
        if pending and _has_versions(connection):
            bump_table_versions(connection, pending)

    @sa.event.listens_for(engine, "begin")
    @sa.event.listens_for(engine, "rollback")
    def _forget(connection) -> None:  # noqa: ANN001
        connection.info.pop(_PENDING, None)


def _has_versions(connection: sa.Connection) -> bool:
    if not connection.info.get(_HAS_VERSIONS):
        connection.info[_HAS_VERSIONS] = sa.inspect(connection).has_table(VERSIONS.name)
    return connection.info[_HAS_VERSIONS]


def new_version() -> int:
    """A table's new version: random, never 0 (the version of a table never written)."""
    return secrets.randbits(62) + 1


def bump_table_versions(connection: sa.Connection, tables: set[str]) -> None:
    """Give each table a new version, in the connection's transaction.

    In name order, so that concurrent writers on PostgreSQL take the rows' locks in the same
    order (no deadlock); the hook runs just before COMMIT, so they are held very briefly.
    """
    if connection.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    statement = insert(VERSIONS).values([{"name": name, "version": new_version()} for name in sorted(tables)])
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[VERSIONS.c.name], set_={"version": statement.excluded.version}
        )
    )


def take_turn(connection: sa.Connection, name: str) -> None:
    """Make the writers that check then write the same kind of rows (job-dating meetings: no
    clash, limits) take turns until their transaction ends. SQLite has one writer at a time
    already (``BEGIN IMMEDIATE``); PostgreSQL runs transactions side by side, so there a
    transaction-level advisory lock keyed on ``name`` serialises them."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(name))))


def table_versions(names: Iterable[str], engine: Engine | None = None) -> dict[str, int]:
    """The current version of each table named (0 for a table never written since versions exist)."""
    names = sorted(set(names))
    with (engine or get_engine()).connect() as connection:
        rows = connection.execute(
            sa.select(VERSIONS.c.name, VERSIONS.c.version).where(VERSIONS.c.name.in_(names))
        )
        stored = {name: version for name, version in rows}
    return {name: int(stored.get(name, 0)) for name in names}


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
    from services.store.models import Site

    with (engine or get_engine()).connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(Site)).scalar() == 0


def holds_demo_data(engine: Engine | None = None) -> bool:
    """True when the store holds the demo data alone: filled by the demo-data seeder, and nothing
    stored since by anyone else (``accounts.end_demo`` clears the flag then)."""
    with (engine or get_engine()).connect() as connection:
        value = connection.execute(sa.select(StoreState.demo_data)).scalar()
    return bool(value)


def end_demo_data(connection: sa.Connection) -> bool:
    """Clear the demo flag in the caller's transaction; whether it was set. Two writers at once
    on PostgreSQL: the second waits for the first's row lock, then finds the flag cleared."""
    table = StoreState.__table__
    cleared = connection.execute(table.update().where(table.c.demo_data == sa.true()).values(demo_data=False))
    return cleared.rowcount > 0


class binary_order(sa.sql.ColumnElement):  # noqa: N801  (used like a SQL function)
    """A text column ordered by its bytes (code points) whatever the engine: SQLite and DuckDB
    order so already, PostgreSQL by its locale unless told ``COLLATE "C"``. Python and pandas
    order strings by code points too, so an order taken in the database is the one they would
    give."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: sa.ColumnElement) -> None:
        self.column = column
        self.type = column.type


@compiles(binary_order)
def _binary_order(element: binary_order, compiler: SQLCompiler, **kw: object) -> str:
    return compiler.process(element.column, **kw)


@compiles(binary_order, "postgresql")
def _binary_order_postgresql(element: binary_order, compiler: SQLCompiler, **kw: object) -> str:
    return f'{compiler.process(element.column, **kw)} COLLATE "C"'
