"""The DuckDB worker process: columnar copies of a SQLite file's tables, and the reads run on them
(services/store/analytics.py sends the reads and says why a process of its own).

This module is all the worker imports (DuckDB, Arrow, the scanner's wheel): it starts in about
0.3 s, against 1 s when it imported the app's services, pandas and SQLAlchemy — what a one-shot
command (``report --json``) paid before its first figure.

Memory: copying the 10M touchpoints of scale L in one statement peaked at 1.7–1.9 GB, the copy
uncompressed until its checkpoint. Each copy now runs under a DuckDB memory limit
(``COPY_MEMORY_LIMIT``), beyond which the not yet compressed blocks go to a temporary folder of
the copies' own (removed with them): 0.84 GB at its peak at scale L, in the same time
(docs/performance.md). The limit is lifted after the copy: the queries keep DuckDB's default.
Tried and dropped: copying by slices of rowids (the scanner does not push a rowid filter down
to SQLite, so each slice read the whole table again: 435 s instead of about 15 s), and one scan
inserted in Arrow batches with a checkpoint each (as little memory, 1.4–1.5 times the time).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import os
import re
import shutil
import tempfile
import threading
from collections import Counter, OrderedDict
from pathlib import Path

import duckdb
import duckdb_extension_sqlite_scanner
import pyarrow as pa

_SCANNER = next(
    Path(duckdb_extension_sqlite_scanner.__file__).parent.glob("extensions/*/sqlite_scanner.duckdb_extension")
)
#: SQLite files whose copies the worker keeps (tests open a new file per case).
_ATTACHED_FILES = 4
#: The SQLite file as DuckDB attaches it, and the database of the copies.
STORE = "store"
COPIES = "copies"
#: DuckDB's memory while it copies a table (the copies already made count in it): at scale L,
#: the worker peaks at 0.84 GB instead of 1.9 GB, the copies taking the same time.
COPY_MEMORY_LIMIT = "400MB"


def exit_with_parent() -> None:
    """In the worker: end it when the app's process ends, however it ends. A worker holds its
    own end of the task queue, so it would otherwise wait for tasks forever after a kill of the
    app (a server stopped, a test's server killed), keeping its copies in memory."""

    def watch() -> None:
        multiprocessing.connection.wait([multiprocessing.parent_process().sentinel])
        try:
            _remove_spill_folders()
        finally:  # the worker ends whatever the cleaning meets
            os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
    # The worker may also end on its own once the app is gone (its task queue broken): the
    # temporary folders go then too.
    multiprocessing.util.Finalize(None, _remove_spill_folders, exitpriority=0)


def _remove_spill_folders() -> None:
    for copies in list(_FILES.values()):
        shutil.rmtree(copies.spill, ignore_errors=True)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
        self.connection.execute(f"ATTACH '{quoted}' AS {STORE} (TYPE sqlite, READ_ONLY)")
        self.connection.execute(f"ATTACH ':memory:' AS {COPIES} (COMPRESS)")
        # Where a copy beyond COPY_MEMORY_LIMIT goes until its checkpoint: a folder of these
        # copies' own (DuckDB's default is .tmp in the current folder, shared by any process).
        self.spill = tempfile.mkdtemp(prefix="rencontres-duckdb-")
        spill = self.spill.replace("'", "''")
        self.connection.execute(f"SET temp_directory = '{spill}'")
        self.versions: dict[str, int] = {}
        self.made: Counter[str] = Counter()

    def refresh(self, versions: dict[str, int]) -> None:
        """Copy again each table whose version is not its copy's."""
        for name, version in sorted(versions.items()):
            if self.versions.get(name) != version:
                self.versions.pop(name, None)  # a failed copy is made again at the next read
                table = _quoted(name)
                # Compressed at a checkpoint only: until then the copy takes ten times the room,
                # beyond the limit in the temporary folder.
                self.connection.execute(f"SET memory_limit = '{COPY_MEMORY_LIMIT}'")
                try:
                    self.connection.execute(
                        f"CREATE OR REPLACE TABLE {COPIES}.{table} AS SELECT * FROM {STORE}.{table}"
                    )
                    self.connection.execute(f"CHECKPOINT {COPIES}")
                finally:
                    self.connection.execute("RESET memory_limit")
                self.versions[name] = version
                self.made[name] += 1

    def close(self) -> None:
        self.connection.close()
        shutil.rmtree(self.spill, ignore_errors=True)


_FILES: OrderedDict[tuple, _Copies] = OrderedDict()


def read(
    attached: tuple[str, int, int], versions: dict[str, int], sql: str, parameters: list, copies: bool
) -> pa.Table:
    """The rows of ``sql`` as an Arrow table (sent back in columns): on fresh copies of the
    tables it reads, or, with ``copies`` False (a one-shot command), on the file itself through
    the scanner, which reads it afresh at each query and copies nothing."""
    held = _copies(attached)
    cursor = held.connection.cursor()
    try:
        if copies:
            # Only the tables whose version the app read may be read (a table named only in
            # text would find a copy made for another query, of any age): DuckDB's parser
            # lists them.
            named = held.connection.get_table_names(_PARAMETER.sub(_null_for_parameter, sql))
            unversioned = {name.lower() for name in named} - set(versions)
            if unversioned:
                raise ValueError(f"table(s) read without a version: {', '.join(sorted(unversioned))}")
            held.refresh(versions)
        # The copies alone (a table never copied is an error too), or the file alone.
        cursor.execute(f"USE {COPIES if copies else STORE}")
        return cursor.execute(sql, parameters).to_arrow_table()
    finally:
        cursor.close()


#: A parameter mark outside quoted text or names (the parser takes no parameters: NULL instead).
_PARAMETER = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|\?""")


def _null_for_parameter(match: re.Match) -> str:
    return "NULL" if match.group(0) == "?" else match.group(0)


def refresh(attached: tuple[str, int, int], versions: dict[str, int]) -> None:
    _copies(attached).refresh(versions)


def held(attached: tuple[str, int, int]) -> list[str]:
    return list(_FILES[attached].versions) if attached in _FILES else []


def copies_made(attached: tuple[str, int, int]) -> dict[str, int]:
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
