"""Typing a sheet, away from the store (step 1 of an import, after reading): the header against
the contract, each column's cells read once per distinct value (local instants to UTC included),
and each row's problems.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from services.config import LOCAL_TZ
from services.imports.problems import MAX_SHOWN_VALUE, Problem, one_line
from services.imports.reading import Sheet, header_name, number
from services.store import contract, values
from services.store.contract import Column, FileSpec


def header_problems(spec: FileSpec, header: list[str]) -> tuple[list[Problem], list[str]]:
    """The header's problems (duplicate or missing columns) and its one warning (unknown columns).

    Linear in the header's width (a set of the names seen), whatever the header holds.
    """
    known = {column.name for column in spec.columns}
    seen: set[str] = set()
    problems = []
    for name in header:
        if name and name in seen:
            problems.append(Problem(1, name, "", "colonne en double"))
        seen.add(name)
    missing = [column.name for column in spec.columns if column.required and column.name not in seen]
    reason = "colonne obligatoire absente de l'en-tête"
    other = _other_kind(spec, seen) if missing else None
    if other is not None:
        reason += f" (ces colonnes sont celles de {other}.csv : le fichier est-il mal nommé ?)"
    problems += [Problem(1, name, "", reason) for name in missing]
    unknown = [name for name in dict.fromkeys(header) if name not in known]
    return problems, [_unknown_columns(unknown)] if unknown else []


def _other_kind(spec: FileSpec, names: set[str]) -> str | None:
    """The other contract file whose required columns are all among a header's names (the
    one with most of its columns there), when the file's own are not: a file misnamed."""
    fitting = [
        (sum(column.name in names for column in other.columns), other.kind)
        for other in contract.SPECS.values()
        if other is not spec and all(column.name in names for column in other.columns if column.required)
    ]
    return max(fitting)[1] if fitting else None


def _unknown_columns(names: list[str]) -> str:
    """One warning for all the unknown columns, naming the first few (a header may have hundreds)."""

    def quoted(name: str) -> str:
        shown = name if len(name) <= MAX_SHOWN_VALUE else name[:MAX_SHOWN_VALUE] + "…"
        return f"« {one_line(shown) or '(sans nom)'} »"

    if len(names) == 1:
        return f"colonne inconnue ignorée : {quoted(names[0])}"
    shown = ", ".join(quoted(name) for name in names[: contract.SHOWN_NAMES])
    others = len(names) - contract.SHOWN_NAMES
    more = f" … et {number(others)} autres" if others > 0 else ""
    return f"{number(len(names))} colonnes inconnues ignorées : {shown}{more}"


#: The reason given for an empty cell of a required column.
_MISSING = "valeur obligatoire manquante"
#: The offset of an hour in which Europe/Paris changes its offset (none does: changes fall on the hour).
_MIXED = timedelta.max
_PLAIN_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}")


def _hour_offset(moment: datetime) -> timedelta:
    """Europe/Paris's UTC offset (fold=0) for a whole local hour, or ``_MIXED``."""
    start = moment.replace(minute=0, second=0, microsecond=0)
    offset = LOCAL_TZ.utcoffset(start)
    return offset if offset == LOCAL_TZ.utcoffset(start.replace(minute=59, second=59)) else _MIXED


def _utc_hour(local_hour: str) -> str | None:
    """``YYYY-MM-DD HH`` of the UTC hour of a local one, when the whole local hour has the
    same offset and that offset is whole hours (so minutes and seconds stay as they are)."""
    try:
        local = datetime(
            int(local_hour[:4]), int(local_hour[5:7]), int(local_hour[8:10]), int(local_hour[11:13])
        )
        offset = _hour_offset(local)
        if offset is _MIXED or offset % timedelta(hours=1):
            return None
        return (local - offset).isoformat(" ")[:13]
    except (ValueError, OverflowError):
        return None  # an impossible date or hour: read_datetime says why


def _read_instants(
    column: Column, cells: Sequence[str], as_text: bool
) -> tuple[list, list[tuple[int, str, str]]]:
    """``values.read_datetime`` of each cell, faster for the plain local ``AAAA-MM-JJ HH:MM:SS``.

    That form (ASCII digits, no offset) is moved to UTC by its hour's offset, looked up once
    per hour: the instant ``read_datetime`` gives (local time, fold=0). Any other cell goes to
    ``read_datetime`` itself. ``as_text``: the instants as SQLite stores them (UTC text, as
    SQLAlchemy writes it), shifted as text when the offset is whole hours.
    """
    typed: list = []
    append = typed.append
    failed: list[tuple[int, str, str]] = []
    offsets: dict[str, Any] = {}
    plain, parse, slow = _PLAIN_INSTANT.fullmatch, datetime.fromisoformat, values.read_datetime
    for index, raw in enumerate(cells):
        text = raw.strip()
        if plain(text) is not None and text[14] < "6" and text[17] < "6":
            hour = text[:13]
            if as_text:
                utc_hour = offsets.get(hour, _MIXED)
                if utc_hour is _MIXED:
                    utc_hour = offsets[hour] = _utc_hour(hour)
                if utc_hour is not None:
                    append(utc_hour + text[13:19] + ".000000")
                    continue
            else:
                try:
                    local = parse(text)
                    offset = offsets.get(hour)
                    if offset is None:
                        offset = offsets[hour] = _hour_offset(local)
                    if offset is not _MIXED:
                        append(local.replace(tzinfo=UTC) - offset)
                        continue
                except (ValueError, OverflowError):
                    pass  # an impossible date: read_datetime says why
        if not text:
            append(column.default)
            if column.required:
                failed.append((index, "", _MISSING))
            continue
        try:
            moment = slow(raw)
            append(utc_text(moment) if as_text else moment)
        except ValueError as error:
            append(None)
            failed.append((index, raw, str(error)))
    return typed, failed


def _read_distinct(column: Column, cells: Sequence[str]) -> tuple[list, list[tuple[int, str, str]]]:
    """``column.read`` of each cell, once per distinct cell (a reader depends on its text alone)."""
    known: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    missing: set[str] = set()
    read = column.read
    for raw in set(cells):
        if not raw.strip():
            known[raw] = column.default
            if column.required:
                reasons[raw] = _MISSING
                missing.add(raw)
            continue
        try:
            known[raw] = read(raw)
        except ValueError as error:
            known[raw] = None
            reasons[raw] = str(error)
    typed = list(map(known.__getitem__, cells))
    failed = []
    if reasons:
        failed = [
            (index, "" if raw in missing else raw, reasons[raw])
            for index, raw in enumerate(cells)
            if raw in reasons
        ]
    return typed, failed


def _read_column(
    column: Column, cells: Sequence[str], instants_as_text: bool = False
) -> tuple[list, list[tuple[int, str, str]]]:
    """The typed value of each cell (the column's default where empty) and the cells that
    fail: (row, raw value, reason). ``instants_as_text``: see ``_read_instants``."""
    if column.read is values.read_datetime:
        return _read_instants(column, cells, instants_as_text)
    return _read_distinct(column, cells)


@dataclass
class TypedFile:
    """The rows of a file that passed the cell and row checks, typed column by column."""

    spec: FileSpec
    sheet: Sheet
    #: Sheet rows that passed.
    rows: list[int]
    #: Typed values of the contract's columns present in the header, one per passed row.
    columns: dict[str, list]
    #: Columns read straight into the driver's values (instants as SQLite's text).
    stored: set[str] = field(default_factory=set)

    def present(self, name: str) -> bool:
        return name in self.columns

    def raw(self, name: str, index: int) -> str:
        """The raw cell, in the file, of a passed row (by its position among the passed rows)."""
        return self.sheet.cell(name, self.rows[index])

    def line(self, index: int) -> int:
        return self.sheet.lines[self.rows[index]]


def type_columns(spec: FileSpec, sheet: Sheet, dialect: sa.Dialect) -> tuple[TypedFile, list[Problem]]:
    """Type every cell and check every row; the rows that pass, and the problems of the others.

    On SQLite, a file without row checks (none compares two instants) gets its instants as
    the text SQLite stores, without a datetime object per cell.
    """
    lines = sheet.lines
    instants_as_text = dialect.name == "sqlite" and not spec.checks
    stored = set()
    separator = "une virgule" if sheet.delimiter == "," else "un point-virgule"
    advice = (
        f" ({separator} dans une valeur ? une valeur qui contient le séparateur s'écrit entre "
        f'guillemets : "Dupont{sheet.delimiter} fils")'
    )
    problems = [
        Problem(lines[index], "(ligne)", "", "trop de valeurs : " + reason + advice)
        for index, reason in sorted(sheet.too_many.items())
    ]
    repeated = _repeated_headers(spec, sheet)
    problems += [
        Problem(
            lines[index],
            "(ligne)",
            sheet.delimiter.join(sheet.cell(name, index) for name in sheet.header),
            "ligne d'en-tête répétée (deux fichiers mis bout à bout ?) : un fichier n'a qu'un en-tête, "
            "sur sa première ligne ; supprimez cette ligne (et vérifiez que les colonnes qui suivent "
            "sont dans le même ordre)",
        )
        for index in repeated
    ]
    skipped = set(sheet.too_many) | set(repeated)
    bad = set(skipped)
    columns: dict[str, list] = {}
    for column in spec.columns:
        if column.name not in sheet.cells:
            continue
        typed, failures = values.read_cells(_read_column, spec, column, sheet.cells, instants_as_text)
        columns[column.name] = typed
        if instants_as_text and column.read is values.read_datetime:
            stored.add(column.name)
        for index, raw, reason in failures:
            if index not in skipped:
                problems.append(Problem(lines[index], column.name, raw, reason))
                bad.add(index)
    if spec.checks:
        names = list(columns)
        for index in range(len(lines)):
            if index in bad:
                continue
            row = {name: columns[name][index] for name in names}
            for check in spec.checks:
                for name, reason in check(row):
                    problems.append(Problem(lines[index], name, sheet.cell(name, index), reason))
                    bad.add(index)
    if bad:
        rows = [index for index in range(len(lines)) if index not in bad]
        columns = {name: [typed[index] for index in rows] for name, typed in columns.items()}
    else:
        rows = list(range(len(lines)))
    return TypedFile(spec, sheet, rows, columns, stored), problems


def _repeated_headers(spec: FileSpec, sheet: Sheet) -> list[int]:
    """The rows that are a header line again (issue 17, item 3): two exports put end to end.

    A row is one when at least two of its cells are filled and each filled cell, read as a
    header name (trimmed of spaces and invisible characters such as a BOM, case ignored), names
    a column of the header or of the contract's file. Such a row is refused, never skipped:
    the file after it may have its columns in another order, and would be read wrongly under
    the first header. Only the rows whose first named column holds a column name are looked at.
    """
    names = ({column.name for column in spec.columns} | set(sheet.header)) - {""}
    first = next((name for name in sheet.header if name), None)
    if first is None or not sheet.lines:
        return []
    column = sheet.cells[first]
    suspects = {cell for cell in set(column) if header_name(cell) in names}
    if not suspects:
        return []
    repeated = []
    for index, cell in enumerate(column):
        if cell in suspects and index not in sheet.too_many:
            filled = [header_name(sheet.cell(name, index)) for name in sheet.header]
            filled = [name for name in filled if name]
            if len(filled) >= 2 and all(name in names for name in filled):
                repeated.append(index)
    return repeated


def utc_text(moment: datetime) -> str:
    """SQLAlchemy's SQLite text of an instant (its UTC wall time, to the microsecond)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
