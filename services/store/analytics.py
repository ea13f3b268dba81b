"""Heavy reads (journeys, reach by channel, the results' counts, a day's interviews) as
DataFrames, run where they are fastest.

The store of record stays SQLite (or PostgreSQL): every write goes there. An analytical read of
a SQLite file runs in DuckDB, on a columnar copy of the tables it reads, kept in a worker
process and refreshed table by table, never stale:

- Every write transaction gives, in the same transaction, a new version to each table it
  wrote (``table_versions``: an automatic listener in ``services.store.database``, nothing to call).
- Before sending a read, the app reads the versions of the tables the query reads (found in the
  SQLAlchemy expression itself, subqueries included; under a millisecond). The worker copies
  again, from the SQLite file, each table whose version differs from its copy's (``CREATE OR
  REPLACE TABLE … AS SELECT * FROM`` the file through DuckDB's ``sqlite_scanner`` extension,
  installed as a Python wheel, so no download), then runs the query on the copies alone. A copy
  is made after its version was read, so it may be newer than its label (copied again at the
  next read), never older than the data committed when the read began. The worker checks with
  DuckDB's parser that the query reads no other table (one named only in text): it fails rather
  than read a copy of any age.
- The copies keep the column types the scanner gives (what the queries were written against),
  in an in-memory DuckDB database with compression (``ATTACH ':memory:' (COMPRESS)``), which
  compresses at a checkpoint: one after each copy.

Why, measured on 2 cores with the 7 reads of the channels page (README "Performances"): at scale
M (200,000 candidates, 1M touchpoints) they take 1.66 s in DuckDB through the scanner, which
reads the SQLite file again for every query, and 0.63 s on the compressed copies (0.69 s
uncompressed). A copy costs about 1 s for the touchpoints, 0.1 s for the bookings, 0.02 s for
the enrollments (at L, the three about 12 s), paid by the first read after a write to that
table only. At L, the 7 reads take 17.2 s through the scanner, 6.9 s on the copies. Memory: at scale L
(10M touchpoints), the copies of touchpoints, bookings and enrollments take 1.57 GB in memory
as copied and 151 MB once compressed; the worker peaks at 1.7 GB while the touchpoints are
copied and stays about 0.8 GB (at M: 0.39 GB peak, 0.27 GB, of which 0.18 GB is Python and
its libraries). Hence one worker (``WORKERS``), which holds the copies once: DuckDB runs each
query on every core anyway; reads sent from several threads queue there.

DuckDB runs in a worker process, never in the app's: its extension carries its own copy of
SQLite, and two copies of SQLite in one process break each other's file locks (POSIX locks
belong to the process: one copy closing the file drops the other's locks). Tried in the same
process, the concurrency test (tests/test_concurrency.py) corrupted the store ("database disk
image is malformed"); between processes, SQLite's locking works as designed.

The copies are kept per file (path, device, inode): a new file at the same path is copied
afresh. Versions are random stamps (``services.store.database``), so that even a new file that gets
the old one's inode number, as the system may give, never matches an old copy unless the
table's rows are the same. The queries are the SQLAlchemy ones of the services, compiled for
DuckDB's dialect: one definition of each figure whatever runs it. On PostgreSQL, the same query
runs in the store.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import duckdb_engine
import duckdb_extension_sqlite_scanner
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql import visitors

from services.store.database import get_engine, table_versions

_SCANNER = next(
    Path(duckdb_extension_sqlite_scanner.__file__).parent.glob("extensions/*/sqlite_scanner.duckdb_extension")
)
_DIALECT = duckdb_engine.Dialect(paramstyle="qmark")
#: Worker processes running DuckDB: one, which holds the copies (each query uses DuckDB's threads).
WORKERS = 1
#: SQLite files whose copies a worker keeps (tests open a new file per case).
_ATTACHED_FILES = 4
_POOL: ProcessPoolExecutor | None = None
_LOCK = threading.Lock()
#: The SQLite file as DuckDB attaches it, and the database of the copies.
_STORE = "store"
_COPIES = "copies"
_T = TypeVar("_T")


def read_frame(query: sa.Select, engine: Engine | None = None, instants: Iterable[str] = ()) -> pd.DataFrame:
    """The rows of ``query`` as a DataFrame with the query's column names; the ``instants``
    columns as UTC timestamps whatever the engine gave (SQLite text, DuckDB naive UTC, aware)."""
    engine = engine or get_engine()
    path = _sqlite_file(engine)
    if path is None:
        with engine.connect() as connection:
            result = connection.execute(query)
            frame = pd.DataFrame(list(map(tuple, result)), columns=list(result.keys()))
    else:
        # Read before the query is sent: a copy can then be newer than its label, never older.
        versions = table_versions(tables_read(query), engine)
        compiled = query.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
        parameters = [_for_duckdb(compiled.params[name]) for name in compiled.positiontup or ()]
        frame = _in_worker(_read_in_worker, path, versions, str(compiled), parameters).to_pandas()
        # SQLite stores booleans as 0/1, which DuckDB reads as integers.
        for column in query.selected_columns:
            if isinstance(column.type, sa.Boolean) and not frame[column.name].hasnans:
                frame[column.name] = frame[column.name].astype(bool)
    for column in instants:
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def _for_duckdb(value: object) -> object:
    """A query parameter as DuckDB compares it fastest: an aware instant as naive UTC, like the
    copies' TIMESTAMP columns (the session's zone is UTC, so the comparison is the same). Against
    an aware parameter DuckDB converts the column, row by row: at scale L, counting the period's
    touchpoints took 1.0 s instead of 0.35 s."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def tables_read(query: sa.Select) -> set[str]:
    """The names of the tables a query reads, in subqueries, CTEs and IN (SELECT …) too."""
    return {element.name for element in visitors.iterate(query) if isinstance(element, sa.TableClause)}


def reads_in_duckdb(engine: Engine) -> bool:
    """True when the analytical reads of this store run in DuckDB (a SQLite file)."""
    return _sqlite_file(engine) is not None


def _sqlite_file(engine: Engine) -> str | None:
    """The path of the engine's SQLite file; None for PostgreSQL or an in-memory SQLite."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return str(Path(url.database).resolve())


def start_workers() -> None:
    """Start the worker process now (about a second), rather than on a page's first read."""
    _pool().submit(int).result()


def prepare_copies(tables: Iterable[str], engine: Engine | None = None) -> Future[None] | None:
    """Have the worker copy these tables now, in the background (returns at once; the Future
    tells when it is done): the first read need not wait for them (about 12 s for the
    touchpoints at scale L). None when the store's reads do not run in DuckDB."""
    engine = engine or get_engine()
    path = _sqlite_file(engine)
    if path is None:
        return None
    status = os.stat(path)
    attached = (path, status.st_dev, status.st_ino)
    return _pool().submit(_refresh_in_worker, attached, table_versions(tables, engine))


def refresh_copies(engine: Engine | None = None) -> Future[None] | None:
    """Have the worker copy again, now and in the background, every table it holds a copy of
    whose version changed. Called after an erasure or a purge: their rows must not stay in the
    worker's memory until the next read asks for those tables."""
    engine = engine or get_engine()
    path = _sqlite_file(engine)
    if path is None:
        return None
    return prepare_copies(_in_worker(_held_in_worker, path), engine)


def copies_made(engine: Engine | None = None) -> dict[str, int]:
    """How many times the worker copied each table of this SQLite file since it started."""
    path = _sqlite_file(engine or get_engine())
    if path is None:
        return {}
    return _in_worker(_copies_made_in_worker, path)


def _pool() -> ProcessPoolExecutor:
    global _POOL  # noqa: PLW0603
    with _LOCK:
        if _POOL is None:
            _POOL = ProcessPoolExecutor(
                WORKERS, mp_context=multiprocessing.get_context("spawn"), initializer=_exit_with_parent
            )
        return _POOL


def _in_worker(function: Callable[..., _T], path: str, *arguments: object) -> _T:
    """``function(file, *arguments)`` in the DuckDB worker process (started at the first read,
    started again if it died: a read can run twice)."""
    global _POOL  # noqa: PLW0603
    # The file's identity too: a new file at the same path (a test's) is copied afresh.
    status = os.stat(path)
    attached = (path, status.st_dev, status.st_ino)
    for attempt in (1, 2):
        pool = _pool()
        try:
            return pool.submit(function, attached, *arguments).result()
        except BrokenProcessPool:
            with _LOCK:
                if _POOL is pool:
                    _POOL = None
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- in the worker process


def _exit_with_parent() -> None:
    """In the worker: end it when the app's process ends, however it ends. A worker holds its
    own end of the task queue, so it would otherwise wait for tasks forever after a kill of the
    app (a server stopped, a test's server killed), keeping its copies in memory."""

    def watch() -> None:
        multiprocessing.connection.wait([multiprocessing.parent_process().sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class _Copies:
    """A SQLite file attached read-only, and the copies of its tables with their versions."""

    def __init__(self, path: str) -> None:
        offline = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        self.connection = duckdb.connect(config=offline)
        self.connection.execute(f"LOAD '{_SCANNER}'")
        # Instants are stored in UTC: compare and convert them in UTC, not the machine's zone.
        self.connection.execute("SET TimeZone = 'UTC'")
        self.connection.execute("SET enable_progress_bar = false")  # a copy at scale takes seconds
        quoted = path.replace("'", "''")
        self.connection.execute(f"ATTACH '{quoted}' AS {_STORE} (TYPE sqlite, READ_ONLY)")
        self.connection.execute(f"ATTACH ':memory:' AS {_COPIES} (COMPRESS)")
        self.versions: dict[str, int] = {}
        self.made: Counter[str] = Counter()

    def refresh(self, versions: dict[str, int]) -> None:
        """Copy again each table whose version is not its copy's."""
        for name, version in sorted(versions.items()):
            if self.versions.get(name) != version:
                self.versions.pop(name, None)  # a failed copy is made again at the next read
                table = '"' + name.replace('"', '""') + '"'
                self.connection.execute(
                    f"CREATE OR REPLACE TABLE {_COPIES}.{table} AS SELECT * FROM {_STORE}.{table}"
                )
                # Compressed at a checkpoint only: until then the copy takes ten times the room.
                self.connection.execute(f"CHECKPOINT {_COPIES}")
                self.versions[name] = version
                self.made[name] += 1

    def close(self) -> None:
        self.connection.close()


_FILES: OrderedDict[tuple, _Copies] = OrderedDict()


def _read_in_worker(
    attached: tuple[str, int, int], versions: dict[str, int], sql: str, parameters: list
) -> pa.Table:
    """The rows of ``sql`` on fresh copies of the tables it reads, as an Arrow table (sent back
    in columns)."""
    copies = _copies(attached)
    # Only the tables whose version the app read may be read (a table named only in text would
    # find a copy made for another query, of any age): DuckDB's parser lists them.
    named = copies.connection.get_table_names(_PARAMETER.sub(_null_for_parameter, sql))
    unversioned = {name.lower() for name in named} - set(versions)
    if unversioned:
        raise ValueError(f"table(s) read without a version: {', '.join(sorted(unversioned))}")
    copies.refresh(versions)
    cursor = copies.connection.cursor()
    try:
        cursor.execute(f"USE {_COPIES}")  # the copies alone: a table never copied is an error too
        return cursor.execute(sql, parameters).to_arrow_table()
    finally:
        cursor.close()


#: A parameter mark outside quoted text or names (the parser takes no parameters: NULL instead).
_PARAMETER = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|\?""")


def _null_for_parameter(match: re.Match) -> str:
    return "NULL" if match.group(0) == "?" else match.group(0)


def _refresh_in_worker(attached: tuple[str, int, int], versions: dict[str, int]) -> None:
    _copies(attached).refresh(versions)


def _held_in_worker(attached: tuple[str, int, int]) -> list[str]:
    return list(_FILES[attached].versions) if attached in _FILES else []


def _copies_made_in_worker(attached: tuple[str, int, int]) -> dict[str, int]:
    return dict(_FILES[attached].made) if attached in _FILES else {}


def _copies(attached: tuple[str, int, int]) -> _Copies:
    """The worker's copies of this SQLite file (the last few files' are kept)."""
    if attached in _FILES:
        _FILES.move_to_end(attached)
        return _FILES[attached]
    _FILES[attached] = _Copies(attached[0])
    while len(_FILES) > _ATTACHED_FILES:
        _FILES.popitem(last=False)[1].close()
    return _FILES[attached]
