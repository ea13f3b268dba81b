"""Heavy reads (journeys, reach by channel) as DataFrames, run where they are fastest.

The store of record stays SQLite (or PostgreSQL): every write goes there. An analytical read of
a SQLite file runs in DuckDB, which reads the same file read-only through its ``sqlite_scanner``
extension (installed as a Python wheel, so no download), sees every committed write at once, and
hands the rows over in columns. Measured at scale M (200,000 candidates, 1M touchpoints, on
2 cores): the reach by channel 1.14 s in SQLite → 0.27 s; the non-converters' touches 1.9 s
through SQLAlchemy rows → 0.4 s as a DuckDB frame (README, "Performances"). No copy is kept, so
nothing can be stale. On PostgreSQL, the same query runs in the store.

DuckDB runs in worker processes, never in the app's: its extension carries its own copy of
SQLite, and two copies of SQLite in one process break each other's file locks (POSIX locks
belong to the process: one copy closing the file drops the other's locks). Tried in the same
process, the concurrency test (tests/test_concurrency.py) corrupted the store ("database disk
image is malformed"); between processes, SQLite's locking works as designed.

The queries are the SQLAlchemy ones of the services, compiled for DuckDB's dialect: one
definition of each figure whatever runs it.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import duckdb
import duckdb_engine
import duckdb_extension_sqlite_scanner
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.database import get_engine

_SCANNER = next(
    Path(duckdb_extension_sqlite_scanner.__file__).parent.glob("extensions/*/sqlite_scanner.duckdb_extension")
)
_DIALECT = duckdb_engine.Dialect(paramstyle="qmark")
#: Worker processes running DuckDB (each query also uses DuckDB's threads).
WORKERS = 2
#: SQLite files a worker keeps attached (tests open a new file per case).
_ATTACHED_FILES = 4
_POOL: ProcessPoolExecutor | None = None
_LOCK = threading.Lock()
#: The SQLite file's schema, as DuckDB names the attached database.
_STORE = "store"


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
        compiled = query.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
        parameters = [compiled.params[name] for name in compiled.positiontup or ()]
        frame = _in_worker(path, str(compiled), parameters).to_pandas()
        # SQLite stores booleans as 0/1, which DuckDB reads as integers.
        for column in query.selected_columns:
            if isinstance(column.type, sa.Boolean) and not frame[column.name].hasnans:
                frame[column.name] = frame[column.name].astype(bool)
    for column in instants:
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


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
    """Start the worker processes now (about a second), rather than on a page's first read."""
    _pool().submit(int).result()


def _pool() -> ProcessPoolExecutor:
    global _POOL  # noqa: PLW0603
    with _LOCK:
        if _POOL is None:
            _POOL = ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn"))
        return _POOL


def _in_worker(path: str, sql: str, parameters: list) -> pa.Table:
    """Run a read in a DuckDB worker process (started at the first read, started again if one
    died: a read can run twice)."""
    global _POOL  # noqa: PLW0603
    # The file's identity too: a new file at the same path (a test's) is attached afresh.
    status = os.stat(path)
    attached = (path, status.st_dev, status.st_ino)
    for attempt in (1, 2):
        pool = _pool()
        try:
            return pool.submit(_read_in_worker, attached, sql, parameters).result()
        except BrokenProcessPool:
            with _LOCK:
                if _POOL is pool:
                    _POOL = None
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- in the worker processes

_READERS: OrderedDict[tuple, duckdb.DuckDBPyConnection] = OrderedDict()


def _read_in_worker(attached: tuple[str, int, int], sql: str, parameters: list) -> pa.Table:
    """The rows of ``sql`` on the SQLite file, as an Arrow table (sent back in columns)."""
    cursor = _reader(attached).cursor()
    try:
        cursor.execute(f"USE {_STORE}")
        return cursor.execute(sql, parameters).fetch_arrow_table()
    finally:
        cursor.close()


def _reader(attached: tuple[str, int, int]) -> duckdb.DuckDBPyConnection:
    """The worker's DuckDB connection to this SQLite file, attached read-only (the last few
    files stay attached); queries take a cursor each."""
    if attached in _READERS:
        _READERS.move_to_end(attached)
        return _READERS[attached]
    offline = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    connection = duckdb.connect(config=offline)
    connection.execute(f"LOAD '{_SCANNER}'")
    # Instants are stored in UTC: compare and convert them in UTC, not the machine's zone.
    connection.execute("SET TimeZone = 'UTC'")
    quoted = attached[0].replace("'", "''")
    connection.execute(f"ATTACH '{quoted}' AS {_STORE} (TYPE sqlite, READ_ONLY)")
    _READERS[attached] = connection
    while len(_READERS) > _ATTACHED_FILES:
        _READERS.popitem(last=False)[1].close()
    return connection
