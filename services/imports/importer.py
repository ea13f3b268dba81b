"""Import contract files: read, validate every row, then upsert the whole file or nothing.

A file goes through three steps (``reading`` and ``columns``, then ``checks``, then the writing
here), so that a large one holds the store's write lock only while its rows are written (issue
8: an M-scale file of a million touchpoints held SQLite's only write lock for its whole minute
of import, and advisors' saves waited for it):

1. **read and typed, away from the store**: the CSV becomes columns; each distinct value of a
   column is read once, and the rules of each row are checked;
2. **checked against a snapshot** (a read transaction, no lock): channel rules, duplicate keys,
   references and the rows already stored. The result is a plan of plain tuples: the rows to
   insert and those to update, as the database driver takes them;
3. **written**: ``executemany`` of those tuples in one short write transaction. On SQLite
   (one writer at a time) it first compares the store's data version with the snapshot's:
   when another writer committed in between, step 2 runs again inside the transaction, so
   that the file is still checked against exactly what it is written over.

A file with any problem writes nothing. On PostgreSQL (row locks, readers and other writers
go on) steps 2 and 3 run in the one write transaction, as before.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.access import accounts, consent
from services.imports.checks import Overlay, Plan, Snapshot, add_to_overlay, make_plan, prepare
from services.imports.columns import TypedFile, header_problems, type_columns
from services.imports.problems import ImportFileError, ImportResult, Problem, RawRow
from services.imports.reading import Sheet, decode, kind_of, read_sheet, sheet_of_rows, size
from services.store import audit, channels, contract
from services.store.contract import IMPORT_ORDER, MASK, SPECS, FileSpec
from services.store.database import bump_data_version, get_engine, retry_write, write_transaction
from services.store.models import ImportRun, StoreState

_PAUSES = 0
_PAUSES_LOCK = threading.Lock()
_COLLECTING = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while millions of rows are built.

    Each of the collector's passes walks every container still alive, and building a million
    row tuples and lists triggers thousands of them: at M this halves the time of the
    demo's generation and of an import's reading. Nothing built here makes reference cycles.
    The pause is counted, so that overlapping bulk jobs (two imports) resume it once, at the end.
    """
    global _PAUSES, _COLLECTING
    with _PAUSES_LOCK:
        if _PAUSES == 0:
            _COLLECTING = gc.isenabled()
            gc.disable()
        _PAUSES += 1
    try:
        yield
    finally:
        with _PAUSES_LOCK:
            _PAUSES -= 1
            if _PAUSES == 0 and _COLLECTING:
                gc.enable()


#: The interpreter's thread switch interval while an import holds SQLite's write lock.
WRITE_SWITCH_INTERVAL = 1e-4
_FAST_SWITCHES = 0
_SWITCH_INTERVAL = 0.005


@contextmanager
def _fast_thread_switches() -> Iterator[None]:
    """Shorten the interpreter's thread switch interval while the write lock is held.

    ``executemany`` lets go of the GIL for each row it steps through SQLite; when other
    threads are busy in Python (pages being computed in the same server), it gets the GIL
    back only when one of them is made to yield, after the switch interval (5 ms by default).
    Measured on 2 cores: 200,000 touchpoints written in 2.2 s alone, 11–26 s next to two
    threads busy in Python, 6–8 s with a 0.1 ms interval (about what the same rows take to
    copy in one SQL statement, which needs no GIL at all, next to the same threads). Restored
    when the last overlapping write ends.
    """
    global _FAST_SWITCHES, _SWITCH_INTERVAL
    with _PAUSES_LOCK:
        if _FAST_SWITCHES == 0:
            _SWITCH_INTERVAL = sys.getswitchinterval()
            sys.setswitchinterval(min(_SWITCH_INTERVAL, WRITE_SWITCH_INTERVAL))
        _FAST_SWITCHES += 1
    try:
        yield
    finally:
        with _PAUSES_LOCK:
            _FAST_SWITCHES -= 1
            if _FAST_SWITCHES == 0:
                sys.setswitchinterval(_SWITCH_INTERVAL)


def _write(connection: sa.Connection, plan: Plan, actor: str, via: str) -> None:
    """``executemany`` of the plan's tuples: the inserts, then the updates; then what follows a
    consent to be presented to companies given or withdrawn (``services.access.consent``)."""
    table = plan.prepared.typed.spec.table
    quote = connection.dialect.identifier_preparer.quote
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    if plan.inserts:
        names = ", ".join(quote(name) for name in plan.insert_names)
        marks = ", ".join([mark] * len(plan.insert_names))
        connection.exec_driver_sql(
            f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", plan.inserts
        )
    if plan.updates:
        assignments = [f"{quote(name)} = {mark}" for name in plan.prepared.written]
        if "version" in table.c:  # a save from the dashboard that read the old row must conflict
            assignments.append(f"{quote('version')} = {quote('version')} + 1")
        connection.exec_driver_sql(
            f"UPDATE {quote(table.name)} SET {', '.join(assignments)} WHERE {quote('id')} = {mark}",
            plan.updates,
        )
    if before := plan.consents_before():
        consent.follow_written_consents(connection, before, actor=actor, via=via)


def _record(connection: sa.Connection, result: ImportResult, imported_by: str | None) -> None:
    spec = SPECS.get(result.kind)
    personal = {c.name for c in spec.columns if c.personal} if spec else set()
    problems = [
        {
            "line": p.line,
            "column": p.column,
            "value": MASK if (p.column in personal or p.raw_text) and p.value else p.value,
            "reason": p.reason,
        }
        for p in result.problems
    ]
    connection.execute(
        ImportRun.__table__.insert().values(
            started_at=datetime.now(UTC),
            source=result.source,
            kind=result.kind,
            accepted=result.accepted,
            inserted=result.inserted,
            updated=result.updated,
            unchanged=result.unchanged,
            problems=json.dumps(problems, ensure_ascii=False),
            warnings=json.dumps(result.warnings, ensure_ascii=False),
            imported_by=imported_by,
        )
    )
    audit.record(
        "import",
        actor=imported_by or "?",
        target=result.kind,
        detail=f"{'accepted' if result.accepted else 'rejected'} inserted={result.inserted} "
        f"updated={result.updated} source={result.source}",
        connection=connection,
    )
    if result.accepted and (result.inserted or result.updated):
        # Rows stored by anyone but the demo's seeder (an import, a sync): the demo ends here.
        accounts.end_demo(connection, actor=imported_by, reason=f"import {result.kind}")


class _Rejected(Exception):
    """Raised inside a write transaction to roll the whole file back."""


def _refuse(result: ImportResult, problems: list[Problem]) -> None:
    result.problems = sorted(problems, key=lambda p: p.line)
    result.accepted = False
    result.inserted = result.updated = result.unchanged = 0


def _accept(result: ImportResult, plan: Plan) -> None:
    result.problems = []
    result.accepted = True
    result.inserted, result.updated, result.unchanged = len(plan.inserts), len(plan.updates), plan.unchanged


def _typed_file(
    kind: str, sheet: Sheet, result: ImportResult, dialect: sa.Dialect
) -> tuple[TypedFile | None, list[Problem]]:
    """The header and every cell of a file: its typed rows (None when the header is refused)."""
    spec = SPECS[kind]
    result.rows = len(sheet.lines)
    header = sheet.header if sheet.unnamed_filled else [name for name in sheet.header if name]
    problems, warnings = header_problems(spec, header)
    result.warnings = warnings + sheet.warnings
    if not sheet.lines:
        result.warnings.append("aucune ligne de données")
    if problems:
        return None, problems
    return type_columns(spec, sheet, dialect)


def _rules(connection: sa.Connection, spec: FileSpec) -> tuple[channels.Rule, ...]:
    """The channel rules, which touchpoints need (their channel is part of their key)."""
    return channels.load_rules(connection) if spec.kind == "touchpoints" else ()


def _check(
    connection: sa.Connection,
    kind: str,
    sheet: Sheet,
    result: ImportResult,
    overlay: Overlay | None = None,
    typed: tuple[TypedFile | None, list[Problem]] | None = None,
) -> Plan | None:
    """Validate a file against ``connection``'s transaction: its plan, or None (``result`` says
    why). ``typed``: the file's ``_typed_file``, when it was read before the transaction."""
    rows, problems = typed or _typed_file(kind, sheet, result, connection.dialect)
    if rows is None:
        _refuse(result, problems)
        return None
    prepared = prepare(rows, _rules(connection, rows.spec), connection.dialect)
    plan, reference_problems = make_plan(prepared, Snapshot(connection, overlay), refused=bool(problems))
    if plan is None:
        _refuse(result, problems + prepared.problems + reference_problems)
        return None
    _accept(result, plan)
    return plan


def _import_sheet(
    kind: str,
    sheet: Sheet,
    *,
    source: str,
    engine: Engine | None,
    imported_by: str | None,
    dry_run: bool,
) -> ImportResult:
    """Validate a file and upsert all its rows, or none (see the module's docstring)."""
    result = ImportResult(source=source, kind=kind)
    engine = engine or get_engine()
    if engine.dialect.name == "sqlite":
        typed = _typed_file(kind, sheet, result, engine.dialect)  # away from the store
        with engine.connect() as connection, connection.begin():  # a snapshot, no write lock
            version = connection.execute(sa.select(StoreState.data_version)).scalar()
            plan = _check(connection, kind, sheet, result, typed=typed)
        if plan is not None and not dry_run:
            try:
                retry_write(
                    lambda connection: _write_checked(connection, plan, version, result, imported_by), engine
                )
            except _Rejected:
                pass
    elif not dry_run:
        try:
            with write_transaction(engine) as connection:
                plan = _check(connection, kind, sheet, result)
                if plan is None:
                    raise _Rejected
                _write_and_record(connection, plan, result, imported_by)
        except _Rejected:
            pass
    else:
        with engine.connect() as connection, connection.begin():
            _check(connection, kind, sheet, result)
    if not result.accepted and not dry_run:
        with write_transaction(engine) as connection:
            _record(connection, result, imported_by)
    return result


def _write_checked(
    connection: sa.Connection, plan: Plan, version: int | None, result: ImportResult, imported_by: str | None
) -> None:
    with _fast_thread_switches():
        _write_checked_now(connection, plan, version, result, imported_by)


def _write_checked_now(
    connection: sa.Connection, plan: Plan, version: int | None, result: ImportResult, imported_by: str | None
) -> None:
    """Write a plan made against a snapshot, in a write transaction that may come later.

    SQLite has one writer at a time, and this transaction holds it: when the data version is
    still the snapshot's, nothing was written since and the plan holds; otherwise the file is
    checked again here (only the references and the stored rows, and the channel rules), and
    refused if it no longer fits.
    """
    if connection.execute(sa.select(StoreState.data_version)).scalar() != version:
        prepared = plan.prepared
        rules = _rules(connection, prepared.typed.spec)
        if [(rule, rule.position) for rule in rules] != [(rule, rule.position) for rule in prepared.rules]:
            prepared = prepare(prepared.typed, rules, connection.dialect)
        checked, problems = make_plan(prepared, Snapshot(connection), earlier=plan)
        if checked is None:
            _refuse(result, prepared.problems + problems)
            raise _Rejected
        plan = checked
        _accept(result, plan)
    _write_and_record(connection, plan, result, imported_by)


def _write_and_record(
    connection: sa.Connection, plan: Plan, result: ImportResult, imported_by: str | None
) -> None:
    _write(connection, plan, imported_by or "?", "import")
    if result.inserted or result.updated:
        bump_data_version(connection)
    _record(connection, result, imported_by)


def import_rows(
    kind: str,
    header: Sequence[str],
    rows: list[RawRow],
    *,
    source: str,
    engine: Engine | None = None,
    imported_by: str | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """Validate rows of one contract file and upsert them all, or none if any is bad.

    With ``dry_run`` nothing is written (the validation report only).
    """
    with gc_paused():
        sheet = sheet_of_rows(header, rows)
        return _import_sheet(
            kind, sheet, source=source, engine=engine, imported_by=imported_by, dry_run=dry_run
        )


def upsert_rows(
    connection: sa.Connection,
    kind: str,
    header: Sequence[str],
    rows: list[RawRow],
    *,
    source: str,
    actor: str | None = None,
) -> ImportResult:
    """``import_rows`` inside the caller's transaction: validate every row, then upsert them all
    or none (``accepted`` says which); neither the history nor the data version is touched."""
    result = ImportResult(source=source, kind=kind)
    plan = _check(connection, kind, sheet_of_rows(header, rows), result)
    if plan is not None:
        _write(connection, plan, actor or source, source.partition(":")[0])
    return result


def record_result(connection: sa.Connection, result: ImportResult, imported_by: str | None) -> None:
    """Add a result to the import history and the audit log, inside the caller's transaction."""
    _record(connection, result, imported_by)


def check_files(
    files: Sequence[tuple[str, str, bytes]], *, engine: Engine | None = None
) -> list[ImportResult]:
    """The dry run of several files ``(source, kind, content)`` taken in the order given.

    Nothing is written, and no write lock taken: the files are checked in one read
    transaction, each against the stored rows and the rows that the accepted files before it
    would write, as a real import of the same files in that order would see them.
    """
    results = []
    overlay: Overlay = {}
    with gc_paused(), (engine or get_engine()).connect() as connection, connection.begin():
        for source, kind, data in files:
            result = ImportResult(source=source, kind=kind)
            results.append(result)
            try:
                sheet = read_sheet(decode(data))
            except ImportFileError as error:
                result.problems = error.problems()
                continue
            plan = _check(connection, kind, sheet, result, overlay)
            if plan is not None:
                add_to_overlay(overlay, plan)
    return results


def import_bytes(
    data: bytes,
    *,
    source: str,
    kind: str | None = None,
    engine: Engine | None = None,
    imported_by: str | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """Import one file's content; ``source`` is its name (it gives the kind when none is set)."""
    kind = kind_of(Path(source), kind)
    with gc_paused():
        try:
            sheet = read_sheet(decode(data))
        except ImportFileError as error:
            return _refused_file(
                error, source=source, kind=kind, engine=engine, imported_by=imported_by, dry_run=dry_run
            )
        return _import_sheet(
            kind, sheet, source=source, engine=engine, imported_by=imported_by, dry_run=dry_run
        )


def _refused_file(
    error: ImportFileError,
    *,
    source: str,
    kind: str,
    engine: Engine | None,
    imported_by: str | None,
    dry_run: bool = False,
) -> ImportResult:
    """A file refused before its rows are checked, kept in the history (unless a dry run).

    The reading names a cell of any column of the header: one the contract does not know may
    hold anything, and is kept out of the history as raw text (``Problem.raw_text``).
    """
    known = {column.name for column in SPECS[kind].columns}
    problems = [
        problem if problem.column in known else dataclasses.replace(problem, raw_text=True)
        for problem in error.problems()
    ]
    result = ImportResult(source=source, kind=kind, problems=problems)
    if not dry_run:
        with write_transaction(engine) as connection:
            _record(connection, result, imported_by)
    return result


def _contract_files(folder: Path) -> list[Path]:
    """The files of a folder named as contract files, whatever the case of their name
    (``Sites.csv``, ``PROGRAMS.CSV``: as a single file or an upload is named), in the contract's
    order (two of the same kind by name); other files are left out."""
    named = {}
    for file in sorted(folder.iterdir()):
        if file.is_file() and file.suffix.lower() == ".csv":
            try:
                named[file] = IMPORT_ORDER.index(kind_of(file))
            except ImportFileError:
                continue  # not a contract file
    return sorted(named, key=named.__getitem__)


def import_path(
    path: Path, *, kind: str | None = None, engine: Engine | None = None, imported_by: str | None = None
) -> list[ImportResult]:
    """Import a file, or a directory of contract files taken by name in the contract's order."""
    if path.is_dir():
        if kind:
            raise ImportFileError("--kind ne s'emploie qu'avec un fichier, pas un dossier")
        files = _contract_files(path)
        if not files:
            raise ImportFileError(f"aucun fichier du contrat ({', '.join(IMPORT_ORDER)}.csv) dans {path}")
        return [import_path(file, engine=engine, imported_by=imported_by)[0] for file in files]
    if not path.is_file():
        raise ImportFileError(f"fichier introuvable : {path}")
    kind = kind_of(path, kind)
    length = path.stat().st_size
    if length > contract.MAX_FILE_BYTES:  # refused before it is read
        error = ImportFileError(f"fichier de {size(length)} : au plus {size(contract.MAX_FILE_BYTES)}")
        return [_refused_file(error, source=str(path), kind=kind, engine=engine, imported_by=imported_by)]
    return [
        import_bytes(path.read_bytes(), source=str(path), kind=kind, engine=engine, imported_by=imported_by)
    ]
