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
  compresses at a checkpoint: one after each copy (``services/store/columnar.py``, the worker's
  side, which imports DuckDB and Arrow only).
- A one-shot command (the command line, ``without_copies``) copies nothing: it reads a large
  SQLite file in DuckDB through the scanner, and a small one in SQLite itself, where the reads
  cost less than starting the worker (``ONE_SHOT_IN_DUCKDB_FROM``).

Why, measured on 2 cores with the 7 reads of the channels page (README "Performances"): at scale
M (200,000 candidates, 1M touchpoints) they take 1.66 s in DuckDB through the scanner, which
reads the SQLite file again for every query, and 0.63 s on the compressed copies (0.69 s
uncompressed). A copy costs about 1 s for the touchpoints, 0.1 s for the bookings, 0.02 s for
the enrollments (at L, the three about 12 s), paid by the first read after a write to that
table only. At L, the 7 reads take 17.2 s through the scanner, 6.9 s on the copies. Memory: at scale L
(10M touchpoints), the copies of touchpoints, bookings and enrollments take 1.57 GB in memory
as copied and 151 MB once compressed; the worker peaked at 1.7–1.9 GB while the touchpoints
were copied, 0.6–0.9 GB since each copy runs under a memory limit (``columnar.COPY_MEMORY_LIMIT``;
at M: 0.39 GB peak, 0.27 GB, of which 0.18 GB is Python and its libraries). Hence one
worker (``WORKERS``), which holds the copies once: DuckDB runs each query on every core
anyway; reads sent from several threads queue there.

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
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb_engine
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql import visitors

from services.store import columnar
from services.store.database import get_engine, table_versions

_DIALECT = duckdb_engine.Dialect(paramstyle="qmark")
#: Worker processes running DuckDB: one, which holds the copies (each query uses DuckDB's threads).
WORKERS = 1
_POOL: ProcessPoolExecutor | None = None
#: False in a one-shot command (``without_copies``): reads go to the SQLite file itself.
_COPYING = True
#: In a one-shot command, the size of a SQLite file (with its write-ahead log) from which its
#: reads run in DuckDB through the scanner; below it, in SQLite itself. DuckDB pays for starting
#: the worker (a process that imports DuckDB, Arrow and the scanner: 0.3 s on a quiet machine,
#: 0.6 to 2 s under load) and reads faster. ``report --json`` over the whole range, the command
#: alone (after its imports), SQLite against DuckDB, 7/12/2026, 2 shared cores, load 4.5 to 6:
#: 3 MB (demo, 3,000 candidates) 0.29 s against 2.27 s; 9 MB (10,000) 0.74 against 2.27 s;
#: 34 MB (25,000) 1.88 against 2.65 s; 67 MB (50,000) 3.73 against 2.91 s; 133 MB (100,000)
#: 10.4 against 5.0 s. The crossover, about 50 MB there, comes lower on a quieter machine, where
#: the worker starts faster: hence 40 MB. A file's size is known without a query (the schema
#: may not be there yet); rows of tables no report reads (audit, sessions) only make it choose
#: DuckDB sooner, never other figures: the two engines give the same (tests/test_analytics.py).
ONE_SHOT_IN_DUCKDB_FROM = 40_000_000
_LOCK = threading.Lock()
_T = TypeVar("_T")


def read_frame(
    query: sa.Select, engine: Engine | None = None, instants: Iterable[str] = (), by_index: bool = False
) -> pd.DataFrame:
    """The rows of ``query`` as a DataFrame with the query's column names; the ``instants``
    columns as UTC timestamps whatever the engine gave (SQLite text, DuckDB naive UTC, aware).

    ``by_index``: a query SQLite answers from its indexes faster than DuckDB scans the file (the
    funnel's candidates with a visit, found in the touchpoints' unique index): a one-shot command
    runs it in SQLite whatever the file's size, while the worker starts for the other reads (at
    scale M, 1.3 s in SQLite against 2.3 s in DuckDB through the scanner, plus its start)."""
    engine = engine or get_engine()
    path = None if by_index and not _COPYING else _duckdb_file(engine)
    if path is None:
        with engine.connect() as connection:
            result = connection.execute(query)
            frame = pd.DataFrame(list(map(tuple, result)), columns=list(result.keys()))
    else:
        # Read before the query is sent: a copy can then be newer than its label, never older.
        versions = table_versions(tables_read(query), engine)
        compiled = query.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
        parameters = [_for_duckdb(compiled.params[name]) for name in compiled.positiontup or ()]
        frame = _in_worker(columnar.read, path, versions, str(compiled), parameters, _COPYING).to_pandas()
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


@contextmanager
def without_copies() -> Iterator[None]:
    """Within: the reads copy nothing; they run on the SQLite file itself, in DuckDB through the
    scanner, or in SQLite for a file under ``ONE_SHOT_IN_DUCKDB_FROM`` bytes (the same figures
    either way). For a one-shot command (the command line), which reads a table once or twice and
    ends: copies pay off in a long-running server, which reads the same tables again and again;
    a command would pay for them (about 1 s for the touchpoints at scale M) and use them once,
    and on a small store, for the worker's start too."""
    global _COPYING  # noqa: PLW0603
    before, _COPYING = _COPYING, False
    try:
        yield
    finally:
        _COPYING = before


def reads_in_duckdb(engine: Engine) -> bool:
    """True when the analytical reads of this store run in DuckDB: a SQLite file, unless a
    one-shot command reads it in SQLite (a small file)."""
    return _duckdb_file(engine) is not None


def _duckdb_file(engine: Engine) -> str | None:
    """The path of the SQLite file whose reads run in DuckDB; None when they run in the store."""
    path = _sqlite_file(engine)
    if path is None or _COPYING:
        return path
    # Decided by the file's size, without a query (the schema may not be there yet); the
    # write-ahead log counts: rows written since the last checkpoint are read too.
    size = sum(os.path.getsize(name) for name in (path, f"{path}-wal") if os.path.exists(name))
    return path if size >= ONE_SHOT_IN_DUCKDB_FROM else None


def _sqlite_file(engine: Engine) -> str | None:
    """The path of the engine's SQLite file; None for PostgreSQL or an in-memory SQLite."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return str(Path(url.database).resolve())


def start_workers(wait: bool = True) -> None:
    """Start the worker process now (about 0.3 s), rather than at the first read; without
    ``wait``, in the background (a command starts it while it checks the schema)."""
    started = _pool().submit(int)
    if wait:
        started.result()


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
    return _pool().submit(columnar.refresh, attached, table_versions(tables, engine))


def refresh_copies(engine: Engine | None = None) -> Future[None] | None:
    """Have the worker copy again, now and in the background, every table it holds a copy of
    whose version changed. Called after an erasure or a purge: their rows must not stay in the
    worker's memory until the next read asks for those tables."""
    engine = engine or get_engine()
    path = _sqlite_file(engine)
    if path is None or _POOL is None:  # no worker in this process: no copy held by it
        return None
    return prepare_copies(_in_worker(columnar.held, path), engine)


def copies_made(engine: Engine | None = None) -> dict[str, int]:
    """How many times the worker copied each table of this SQLite file since it started."""
    path = _sqlite_file(engine or get_engine())
    if path is None:
        return {}
    return _in_worker(columnar.copies_made, path)


def _pool() -> ProcessPoolExecutor:
    global _POOL  # noqa: PLW0603
    with _LOCK:
        if _POOL is None:
            _POOL = ProcessPoolExecutor(
                WORKERS,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=columnar.exit_with_parent,
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
