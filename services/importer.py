"""Import contract files: read, validate every row, then upsert the whole file or nothing."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services import audit, channels
from services.contract import IMPORT_ORDER, SPECS, FileSpec
from services.database import bump_data_version, get_engine, write_transaction
from services.models import ImportRun

_CHUNK = 500
#: What replaces a personal value in the import history.
MASK = "•••"
_MAX_SHOWN_VALUE = 80


class ImportFileError(Exception):
    """A file that cannot be read as a contract CSV at all (empty, binary, unknown kind…)."""


@dataclass(frozen=True)
class Problem:
    """One bad row (or header): where, which column, which value, why."""

    line: int
    column: str
    value: str
    reason: str

    def describe(self, source: str) -> str:
        """``file:line: column: value: reason``, as the command line prints it."""
        value = self.value if len(self.value) <= _MAX_SHOWN_VALUE else self.value[:_MAX_SHOWN_VALUE] + "…"
        return f"{source}:{self.line}: {self.column}: {value}: {self.reason}"


@dataclass
class ImportResult:
    """What one file's import did (or would do, for a check)."""

    source: str
    kind: str
    accepted: bool = False
    #: Data rows read from the file (blank lines skipped).
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def describe_problems(self) -> list[str]:
        """Every problem as a ``file:line: column: value: reason`` line."""
        return [problem.describe(self.source) for problem in self.problems]


@dataclass(frozen=True)
class RawRow:
    """One data row of a file: its line number and its cells by (lower-cased) column name."""

    line: int
    cells: dict[str, str]


# ---------------------------------------------------------------- reading the file


def decode(data: bytes) -> str:
    """The text of a file in UTF-8 (with or without BOM) or Windows-1252."""
    if b"\x00" in data:
        raise ImportFileError("ce n'est pas un fichier CSV (contenu binaire)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise ImportFileError("encodage illisible (attendu UTF-8 ou Windows-1252)") from None


def read_rows(text: str) -> tuple[list[str], list[RawRow]]:
    """The header (trimmed, lower-cased) and the data rows of a CSV text."""
    if not text.strip():
        raise ImportFileError("fichier vide")
    first_line = text.lstrip("\r\n").splitlines()[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader)]
        rows: list[RawRow] = []
        line = reader.line_num
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
                rows.append(RawRow(start, {"": f"{len(cells)} valeurs pour {len(header)} colonnes"}))
                continue
            rows.append(RawRow(start, dict(zip(header, cells, strict=False))))
    except csv.Error as error:
        raise ImportFileError(f"CSV illisible ligne {reader.line_num} : {error}") from None
    return header, rows


def kind_of(path: Path, kind: str | None = None) -> str:
    """The contract file kind: the one given, else the file's name (``bookings.csv``)."""
    kind = (kind or path.stem).strip().lower()
    if kind not in SPECS:
        raise ImportFileError(f"type de fichier inconnu « {kind} » (attendu : {', '.join(IMPORT_ORDER)})")
    return kind


# ---------------------------------------------------------------- validating


def _header_problems(spec: FileSpec, header: list[str]) -> tuple[list[Problem], list[str]]:
    known = {column.name for column in spec.columns}
    problems = [
        Problem(1, name, "", "colonne en double")
        for position, name in enumerate(header)
        if name and name in header[:position]
    ]
    problems += [
        Problem(1, column.name, "", "colonne obligatoire absente de l'en-tête")
        for column in spec.columns
        if column.required and column.name not in header
    ]
    unknown = [name for name in dict.fromkeys(header) if name not in known]
    warnings = [f"colonne inconnue ignorée : « {name or '(sans nom)'} »" for name in unknown]
    return problems, warnings


def _typed_rows(
    spec: FileSpec, header: list[str], rows: list[RawRow]
) -> tuple[list[tuple[int, dict]], list[Problem]]:
    present = [column for column in spec.columns if column.name in header]
    problems: list[Problem] = []
    typed: list[tuple[int, dict]] = []
    for row in rows:
        if "" in row.cells and len(row.cells) == 1:
            problems.append(Problem(row.line, "(ligne)", "", "trop de valeurs : " + row.cells[""]))
            continue
        values: dict[str, Any] = {}
        row_problems: list[Problem] = []
        for column in present:
            raw = row.cells.get(column.name) or ""
            if not raw.strip():
                if column.required:
                    row_problems.append(Problem(row.line, column.name, "", "valeur obligatoire manquante"))
                values[column.name] = column.default
                continue
            try:
                values[column.name] = column.read(raw)
            except ValueError as error:
                row_problems.append(Problem(row.line, column.name, raw, str(error)))
        if not row_problems:
            for check in spec.checks:
                row_problems += [
                    Problem(row.line, name, row.cells.get(name, ""), reason) for name, reason in check(values)
                ]
        problems += row_problems
        if not row_problems:
            typed.append((row.line, values))
    return typed, problems


def _key_of(spec: FileSpec, values: dict[str, Any]) -> tuple:
    return tuple(values.get(name) for name in spec.key)


def _duplicate_problems(spec: FileSpec, typed: list[tuple[int, dict]], rows: list[RawRow]) -> list[Problem]:
    first_line: dict[tuple, int] = {}
    cells_by_line = {row.line: row.cells for row in rows}
    problems = []
    for line, values in typed:
        key = _key_of(spec, values)
        if key in first_line:
            shown = ", ".join(cells_by_line[line].get(name, "") or "" for name in spec.key)
            problems.append(
                Problem(
                    line,
                    "+".join(spec.key),
                    shown,
                    f"clé en double dans le fichier (déjà ligne {first_line[key]})",
                )
            )
        else:
            first_line[key] = line
    return problems


def _reference_problems(
    spec: FileSpec, typed: list[tuple[int, dict]], rows: list[RawRow], connection: sa.Connection
) -> list[Problem]:
    cells_by_line = {row.line: row.cells for row in rows}
    problems = []
    for reference in spec.references:
        wanted = {tuple(values.get(c) for c in reference.columns) for _, values in typed}
        wanted = {key for key in wanted if all(part is not None for part in key)}
        found = _existing_keys(connection, reference.table, reference.target, wanted, reference.where)
        for line, values in typed:
            key = tuple(values.get(c) for c in reference.columns)
            if all(part is not None for part in key) and key not in found:
                shown = ", ".join(cells_by_line[line].get(c, "") for c in reference.columns)
                problems.append(
                    Problem(
                        line,
                        reference.columns[0] if len(reference.columns) == 1 else "+".join(reference.columns),
                        shown,
                        reference.reason,
                    )
                )
    return problems


def _existing_keys(
    connection: sa.Connection,
    table: sa.Table,
    columns: tuple[str, ...],
    wanted: set[tuple],
    where: tuple[tuple[str, Any], ...] = (),
) -> set[tuple]:
    found: set[tuple] = set()
    first = sorted({key[0] for key in wanted})
    for start in range(0, len(first), _CHUNK):
        query = sa.select(*(table.c[name] for name in columns)).where(
            table.c[columns[0]].in_(first[start : start + _CHUNK]),
            *(table.c[name] == value for name, value in where),
        )
        found.update(tuple(row) for row in connection.execute(query))
    return found & wanted


# ---------------------------------------------------------------- writing


def _existing_rows(connection: sa.Connection, spec: FileSpec, keys: Iterable[tuple]) -> dict[tuple, dict]:
    table = spec.table
    first = sorted({key[0] for key in keys})
    existing: dict[tuple, dict] = {}
    for start in range(0, len(first), _CHUNK):
        query = sa.select(table).where(table.c[spec.key[0]].in_(first[start : start + _CHUNK]))
        for row in connection.execute(query).mappings():
            existing[tuple(row[name] for name in spec.key)] = dict(row)
    return existing


def _upsert(
    connection: sa.Connection,
    spec: FileSpec,
    header: list[str],
    typed: list[tuple[int, dict]],
    result: ImportResult,
) -> None:
    written = [c.name for c in spec.columns if c.name in header or c.name in spec.key]
    written += [name for name in ("channel_explicit", "channel_rule") if spec.kind == "touchpoints"]
    existing = _existing_rows(connection, spec, (_key_of(spec, values) for _, values in typed))
    inserts, updates = [], []
    for _, values in typed:
        current = existing.get(_key_of(spec, values))
        if current is None:
            inserts.append(
                {c.name: values.get(c.name, c.default) for c in spec.columns}
                | {name: values[name] for name in written if name in values}
            )
        elif any(current[name] != values.get(name) for name in written):
            updates.append({name: values.get(name) for name in written} | {"_id": current["id"]})
        else:
            result.unchanged += 1
    if inserts:
        connection.execute(spec.table.insert(), inserts)
    if updates:
        statement = spec.table.update().where(spec.table.c.id == sa.bindparam("_id"))
        if "version" in spec.table.c:  # a save from the dashboard that read the old row must conflict
            statement = statement.values(version=spec.table.c.version + 1)
        connection.execute(statement, updates)
    result.inserted, result.updated = len(inserts), len(updates)


def _complete_touchpoints(connection: sa.Connection, typed: list[tuple[int, dict]]) -> None:
    """Derive the channel of touchpoints that give none, with the stored rules."""
    rules = channels.load_rules(connection)
    for _, values in typed:
        for name in ("utm_source", "utm_medium", "utm_campaign"):
            values[name] = values.get(name) or ""
        if values.get("channel"):
            values["channel_explicit"], values["channel_rule"] = True, None
        else:
            values["channel"], values["channel_rule"] = channels.derive_channel(
                rules, values["utm_source"], values["utm_medium"]
            )
            values["channel_explicit"] = False


def _record(connection: sa.Connection, result: ImportResult, imported_by: str | None) -> None:
    spec = SPECS.get(result.kind)
    personal = {c.name for c in spec.columns if c.personal} if spec else set()
    problems = [
        {
            "line": p.line,
            "column": p.column,
            "value": MASK if p.column in personal and p.value else p.value,
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


class _Rejected(Exception):
    """Raised inside the write transaction to roll the whole file back."""


def _check_and_write(
    connection: sa.Connection, kind: str, header: Sequence[str], rows: list[RawRow], result: ImportResult
) -> None:
    """Validate every row, then upsert them all; raises ``_Rejected`` (nothing upserted) if any is bad."""
    spec = SPECS[kind]
    header = [name.strip().lower() for name in header]
    result.rows = len(rows)
    result.problems, result.warnings = _header_problems(spec, header)
    if not rows:
        result.warnings.append("aucune ligne de données")
    if not result.problems:
        typed, result.problems = _typed_rows(spec, header, rows)
        if spec.kind == "touchpoints":
            # The derived channel is part of the natural key: derive it before
            # looking for duplicates.
            _complete_touchpoints(connection, typed)
        result.problems += _duplicate_problems(spec, typed, rows)
        result.problems += _reference_problems(spec, typed, rows, connection)
    if result.problems:
        result.problems.sort(key=lambda p: p.line)
        raise _Rejected
    _upsert(connection, spec, header, typed, result)
    result.accepted = True


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
    result = ImportResult(source=source, kind=kind)
    engine = engine or get_engine()
    try:
        with write_transaction(engine) as connection:
            _check_and_write(connection, kind, header, rows, result)
            if dry_run:
                raise _Rejected
            if result.inserted or result.updated:
                bump_data_version(connection)
            _record(connection, result, imported_by)
    except _Rejected:
        pass
    if not result.accepted and not dry_run:
        with write_transaction(engine) as connection:
            _record(connection, result, imported_by)
    return result


def upsert_rows(
    connection: sa.Connection, kind: str, header: Sequence[str], rows: list[RawRow], *, source: str
) -> ImportResult:
    """``import_rows`` inside the caller's transaction: validate every row, then upsert them all
    or none (``accepted`` says which); neither the history nor the data version is touched."""
    result = ImportResult(source=source, kind=kind)
    try:
        _check_and_write(connection, kind, header, rows, result)
    except _Rejected:
        pass
    return result


def record_result(connection: sa.Connection, result: ImportResult, imported_by: str | None) -> None:
    """Add a result to the import history and the audit log, inside the caller's transaction."""
    _record(connection, result, imported_by)


def check_files(
    files: Sequence[tuple[str, str, bytes]], *, engine: Engine | None = None
) -> list[ImportResult]:
    """The dry run of several files ``(source, kind, content)`` taken in the order given.

    One transaction, rolled back at the end, so nothing is written; inside it each accepted
    file's rows are upserted (a refused file is undone to its savepoint), so that a file sees
    the rows of the files before it, as a real import of the same files in that order would.
    """
    results = []
    try:
        with write_transaction(engine) as connection:
            for source, kind, data in files:
                result = ImportResult(source=source, kind=kind)
                results.append(result)
                try:
                    header, rows = read_rows(decode(data))
                except ImportFileError as error:
                    result.problems = [Problem(1, "(fichier)", "", str(error))]
                    continue
                savepoint = connection.begin_nested()
                try:
                    _check_and_write(connection, kind, header, rows, result)
                    savepoint.commit()
                except _Rejected:
                    savepoint.rollback()
            raise _Rejected  # a check writes nothing
    except _Rejected:
        pass
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
    try:
        header, rows = read_rows(decode(data))
    except ImportFileError as error:
        result = ImportResult(source=source, kind=kind, problems=[Problem(1, "(fichier)", "", str(error))])
        if not dry_run:
            with write_transaction(engine) as connection:
                _record(connection, result, imported_by)
        return result
    return import_rows(
        kind, header, rows, source=source, engine=engine, imported_by=imported_by, dry_run=dry_run
    )


def import_path(
    path: Path, *, kind: str | None = None, engine: Engine | None = None, imported_by: str | None = None
) -> list[ImportResult]:
    """Import a file, or a directory of contract files taken by name in the contract's order."""
    if path.is_dir():
        if kind:
            raise ImportFileError("--kind ne s'emploie qu'avec un fichier, pas un dossier")
        files = [path / f"{name}.csv" for name in IMPORT_ORDER if (path / f"{name}.csv").is_file()]
        if not files:
            raise ImportFileError(f"aucun fichier du contrat ({', '.join(IMPORT_ORDER)}.csv) dans {path}")
        return [import_path(file, engine=engine, imported_by=imported_by)[0] for file in files]
    if not path.is_file():
        raise ImportFileError(f"fichier introuvable : {path}")
    kind = kind_of(path, kind)
    return [
        import_bytes(path.read_bytes(), source=str(path), kind=kind, engine=engine, imported_by=imported_by)
    ]
