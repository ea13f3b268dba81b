"""Import contract files: read, validate every row, then upsert the whole file or nothing.

A file goes through three steps, so that a large one holds the store's write lock only while
its rows are written (issue 8: an M-scale file of a million touchpoints held SQLite's only
write lock for its whole minute of import, and advisors' saves waited for it):

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

import codecs
import csv
import gc
import io
import json
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.access import accounts
from services.config import LOCAL_TZ
from services.i18n import format_number
from services.store import audit, channels, contract, values
from services.store.contract import IMPORT_ORDER, MASK, SPECS, Column, FileSpec, Reference
from services.store.database import bump_data_version, get_engine, retry_write, write_transaction
from services.store.models import ImportRun, StoreState, UtcDateTime

#: Keys looked up per query (well under SQLite's and PostgreSQL's limits on parameters).
_CHUNK = 2000
_MAX_SHOWN_VALUE = 80


class ImportFileError(Exception):
    """A file that cannot be read as a contract CSV at all (empty, binary, unknown kind, over a limit…).

    ``line``, ``column`` and ``value`` say where, when a place in the file is the reason.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int = 1,
        column: str = "(fichier)",
        value: str = "",
        more: Sequence[Problem] = (),
    ) -> None:
        super().__init__(message)
        self.line, self.column, self.value = line, column, value
        #: The other places of the same refusal (each line of another encoding, say).
        self.more = list(more)

    def problem(self) -> Problem:
        """The refusal as the one problem of its file (its first place)."""
        return Problem(self.line, self.column, self.value, str(self))

    def problems(self) -> list[Problem]:
        """The refusal's problems: its first place, then the others."""
        return [self.problem(), *self.more]


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
        return f"{_shown(source)}:{self.line}: {_shown(self.column)}: {_shown(value)}: {self.reason}"


def _shown(text: str) -> str:
    """Text on one report line: control characters (CR, LF, tab…) written as ``\\r``, ``\\n``…"""
    if text.isprintable():
        return text
    return "".join(character if character.isprintable() else repr(character)[1:-1] for character in text)


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

    def describe_problems(self, most: int | None = None) -> list[str]:
        """Every problem (the first ``most``) as a ``file:line: column: value: reason`` line."""
        return [problem.describe(self.source) for problem in self.problems[:most]]


@dataclass(frozen=True)
class RawRow:
    """One data row of a file: its line number and its cells by (lower-cased) column name."""

    line: int
    cells: dict[str, str]


# ---------------------------------------------------------------- bulk work

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


# ---------------------------------------------------------------- reading the file


def number(count: int) -> str:
    """A count as the French messages write it (``40 002``)."""
    return format_number(count, "fr")


def size(count: int) -> str:
    """A number of bytes as the French messages write it (``200 Mo``, ``512 octets``)."""
    return f"{number(count // contract.MIB)} Mo" if count >= contract.MIB else f"{number(count)} octets"


#: Byte order marks of the encodings the contract does not take, longest first.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
#: A character that UTF-8 decoded from several bytes (not an undecodable byte kept as a surrogate).
_DECODED_NON_ASCII = re.compile("[^\x00-\x7f\udc80-\udcff]")
_UNDECODED = re.compile("[\udc80-\udcff]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ENCODING_ADVICE = "enregistrez-le en « CSV UTF-8 » (Excel : Enregistrer sous, CSV UTF-8)"


def decode(data: bytes) -> str:
    """The text of a file in UTF-8 (with or without BOM) or Windows-1252, one encoding per file.

    UTF-8 when the whole file is UTF-8. Windows-1252 when it is not UTF-8 and no line of it holds
    an accented character in UTF-8 (Excel's « CSV » on Windows). A file with both, such as one
    line pasted from another file, is refused naming each line that is not UTF-8: read as
    Windows-1252, the UTF-8 lines would become mojibake (``Maxéville`` → ``MaxÃ©ville``) and
    update stored rows to it. A UTF-8 BOM says UTF-8: any line that is not is refused too.
    """
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            raise ImportFileError(
                f"fichier en {name} : encodage non pris en charge (attendu UTF-8 ou "
                f"Windows-1252) ; {_ENCODING_ADVICE}"
            )
    if b"\x00" in data:
        wide = _wide_without_bom(data)
        if wide:
            raise ImportFileError(
                f"fichier en {wide} sans BOM : encodage non pris en charge (attendu "
                f"UTF-8 ou Windows-1252) ; {_ENCODING_ADVICE}"
            )
        raise ImportFileError("ce n'est pas un fichier CSV (contenu binaire)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    escaped = data.decode("utf-8-sig", "surrogateescape")
    if data.startswith(codecs.BOM_UTF8) or _DECODED_NON_ASCII.search(escaped):
        raise _mixed_encoding(escaped)
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ImportFileError(
            f"octet 0x{data[error.start]:02X} illisible en UTF-8 comme en Windows-1252 : "
            f"encodage illisible (attendu UTF-8 ou Windows-1252)",
            line=line,
            column="(ligne)",
        ) from None


def _wide_without_bom(data: bytes) -> str:
    """``UTF-16`` when the start of a file has a zero byte every other byte (ASCII text in UTF-16)."""
    sample = data[:4096]
    half = len(sample) // 2
    if half < 2:
        return ""
    odd, even = sample[1::2].count(0), sample[0::2].count(0)
    return "UTF-16" if max(odd, even) > half * 0.6 and min(odd, even) < half * 0.1 else ""


def _as_windows_1252(escaped: str) -> str:
    """Text decoded as UTF-8 with its undecodable bytes kept, those bytes read as Windows-1252."""
    return escaped.encode("utf-8", "surrogateescape").decode("cp1252", "replace")


def _mixed_encoding(escaped: str) -> ImportFileError:
    """The refusal of a UTF-8 file with lines in another encoding: one problem per such line.

    ``escaped``: the file decoded as UTF-8, each undecodable byte kept as a surrogate. Each
    line is named with the column of its first such byte and that cell as Windows-1252 reads it.
    """
    lines = _LINE_BREAK.split(escaped)
    delimiter = _delimiter(escaped)
    header = [
        _header_name(_as_windows_1252(name)) for name in next(csv.reader([lines[0]], delimiter=delimiter), [])
    ]
    problems = []
    for number_, line in enumerate(lines, start=1):
        if not _UNDECODED.search(line):
            continue
        cells = next(csv.reader([line], delimiter=delimiter), [])
        position = next((at for at, cell in enumerate(cells) if _UNDECODED.search(cell)), 0)
        cell = cells[position] if cells else line
        if number_ == 1:
            column = "(en-tête)"
        else:
            column = header[position] if position < len(header) and header[position] else "(ligne)"
        shown = _as_windows_1252(cell)
        problems.append(
            Problem(
                number_,
                column,
                shown[: _MAX_SHOWN_VALUE + 1],
                "ligne qui n'est pas en UTF-8 comme le reste du fichier (Windows-1252 ?) : un fichier "
                f"n'a qu'un encodage ; {_ENCODING_ADVICE}",
            )
        )
    first = problems[0]
    return ImportFileError(
        first.reason, line=first.line, column=first.column, value=first.value, more=problems[1:]
    )


@dataclass
class _Sheet:
    """A file's data rows by column: each row's line, and the cells of each header name.

    A row shorter than the header gets empty cells; a row with more (non-empty) values than
    the header is kept apart in ``too_many`` (its cells are empty) with the reason.
    """

    header: list[str]
    lines: Sequence[int]
    cells: dict[str, Sequence[str]]
    too_many: dict[int, str]
    #: The file's separator (to show a row as it was written).
    delimiter: str = ","

    def cell(self, name: str, row: int) -> str:
        """The raw cell of a column in a row (empty when the header has no such column)."""
        column = self.cells.get(name)
        return "" if column is None else column[row]


def _delimiter(text: str) -> str:
    stripped = text.lstrip("\r\n")
    end = stripped.find("\n")
    first_lines = (stripped if end < 0 else stripped[: end + 1]).splitlines()
    first_line = first_lines[0] if first_lines else ""
    return ";" if first_line.count(";") > first_line.count(",") else ","


#: What surrounds a name or a code by accident: a BOM (two files put end to end), zero-width
#: characters (copied from a web page), white space of any kind (NBSP included).
INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060\u00a0\u202f"


def _header_name(name: str) -> str:
    """A header cell as a column name: trimmed of spaces and invisible characters, lower-cased."""
    return name.strip().strip(INVISIBLE).strip().lower()


def _read_sheet(text: str) -> _Sheet:
    """The header (trimmed, lower-cased) and the data rows of a CSV text, by column.

    The contract's limits are checked as the text is read: the header's width before any row,
    the number of rows before one too many is read, then the rows' widths and the cells' sizes
    (each check one pass). Over a limit, the file is refused (ImportFileError) at its line.
    Quotes are read strictly (issue 17, item 1): a quoted cell ends with its quote followed by
    the separator or the end of the line, closes before the end of the file and spans at most
    ``contract.MAX_CELL_LINES`` lines; otherwise the file is refused at the line where the
    quote was opened (``_quote_error``), never read as one cell swallowing the rows after it.
    """
    if not text.strip():
        raise ImportFileError("fichier vide")
    quoted = '"' in text
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    most = contract.MAX_ROWS
    line = 0  # the last line of the last record read
    header: list[str] = []
    try:
        raw_header = next(reader)
        if len(raw_header) > contract.MAX_COLUMNS:
            raise ImportFileError(
                f"en-tête de {number(len(raw_header))} colonnes : "
                f"au plus {number(contract.MAX_COLUMNS)} colonnes par fichier"
            )
        if not "".join(raw_header).strip():
            raise ImportFileError(
                "ligne vide avant l'en-tête : les noms des colonnes doivent être sur la première ligne",
                column="(en-tête)",
            )
        header = [_header_name(name) for name in raw_header]
        if reader.line_num > 1:
            _check_cell_lines(raw_header, 1, ["(en-tête)"] * len(raw_header))
        after_header = line = reader.line_num
        if quoted:
            # A quoted cell may span lines: each row's line is counted as it is read.
            records: list[list[str]] = []
            lines: Sequence[int] = []
            for cells in reader:
                if len(records) == most:
                    raise _too_many_rows(line + 1)
                if reader.line_num - line > 1:
                    _check_cell_lines(cells, line + 1, header)
                lines.append(line + 1)
                records.append(cells)
                line = reader.line_num
        else:
            # Without quotes a row is one line of the file: the rows are read in one go (one more
            # than allowed at most).
            records = list(islice(reader, most + 1))
            if len(records) > most:
                raise _too_many_rows(after_header + most + 1)
            lines = range(after_header + 1, after_header + 1 + len(records))
    except csv.Error as error:
        start = line + 1 if quoted else reader.line_num  # where the record being read starts
        located = _quote_error(text, start, delimiter, header) if quoted else None
        if located is not None:
            raise located from None
        if "field larger than field limit" in str(error):
            # Python's csv module stops at its own limit, far above ours.
            raise ImportFileError(
                f"cellule de plus de {number(csv.field_size_limit())} caractères à partir de cette ligne "
                f"(au plus {number(contract.MAX_CELL_CHARS)} ; un guillemet non fermé ?)",
                line=start,
            ) from None
        raise ImportFileError(f"CSV illisible à partir de cette ligne ({error})", line=start) from None
    _check_widths(records, lines)
    sheet = _sheet(header, records, lines)
    sheet.delimiter = delimiter
    _check_cells(raw_header, sheet)
    return sheet


def _breaks(cell: str) -> int:
    """The line breaks in a cell (CR LF counts once), as the file's lines are counted."""
    return cell.count("\n") + cell.count("\r") - cell.count("\r\n")


def _check_cell_lines(cells: list[str], start: int, header: list[str]) -> None:
    """Refuse a record (from line ``start``) with a cell over ``contract.MAX_CELL_LINES`` lines."""
    line = start
    for position, cell in enumerate(cells):
        breaks = _breaks(cell)
        if breaks >= contract.MAX_CELL_LINES:
            raise ImportFileError(
                _too_many_lines(line, breaks + 1),
                line=line,
                column=_column_at(header, position),
                value=cell[: _MAX_SHOWN_VALUE + 1],
            )
        line += breaks


def _too_many_lines(line: int, count: int | None) -> str:
    spans = f"sur {number(count)} lignes" if count else "sur des milliers de caractères"
    return (
        f"guillemet ouvert ligne {number(line)} : la cellule s'étend {spans} (au plus "
        f"{number(contract.MAX_CELL_LINES)}) ; un guillemet non fermé avale les lignes qui suivent"
    )


def _column_at(header: list[str], position: int) -> str:
    """The name of a header's column by position (``(colonne N)`` past its end or unnamed)."""
    if position < len(header) and header[position]:
        return header[position]
    return f"(colonne {position + 1})"


def _quote_error(text: str, start: int, delimiter: str, header: list[str]) -> ImportFileError | None:
    """Where a record that the csv module could not read (from line ``start``) opened its bad quote.

    The records are read again from that line, cell by cell: a cell that starts with a quote
    must end with one followed by the separator or a line break (``""`` inside is a quote), and
    within ``contract.MAX_CELL_LINES`` lines. The first cell that does not names the line where
    its quote was opened, and its column. None when the quotes are right (another reason).
    Called only for a file that is refused: a linear pass over the rest of the file at most.
    """
    position = _offset_of_line(text, start)
    if position is None:
        return None
    line, column = start, 0
    unquoted = re.compile(f"[^{re.escape(delimiter)}\r\n]*")
    while position < len(text):
        names = ["(en-tête)"] * (column + 1) if line == 1 and not header else header
        if text[position] == '"':
            closed = _QUOTED_CELL.match(text, position)
            if closed is None:
                return ImportFileError(
                    f"guillemet ouvert ligne {number(line)} et jamais fermé : la cellule irait jusqu'à la "
                    "fin du fichier et avalerait toutes les lignes qui suivent",
                    line=line,
                    column=_column_at(names, column),
                    value=text[position : position + _MAX_SHOWN_VALUE + 1],
                )
            breaks = _breaks(closed.group())
            if breaks >= contract.MAX_CELL_LINES:
                return ImportFileError(
                    _too_many_lines(line, breaks + 1),
                    line=line,
                    column=_column_at(names, column),
                    value=closed.group()[: _MAX_SHOWN_VALUE + 1],
                )
            position = closed.end()
            after = text[position : position + 1]
            if after not in ("", delimiter, "\r", "\n"):
                return ImportFileError(
                    f"guillemet ouvert ligne {number(line)} puis fermé ligne {number(line + breaks)} "
                    f"suivi de « {_shown(after)} » : une cellule entre guillemets finit par un guillemet "
                    "suivi du séparateur ou de la fin de la ligne, un guillemet à l'intérieur s'écrit "
                    '"" (un guillemet non fermé ?)',
                    line=line,
                    column=_column_at(names, column),
                    value=closed.group()[: _MAX_SHOWN_VALUE + 1],
                )
            line += breaks
        else:
            position = unquoted.match(text, position).end()
        after = text[position : position + 1]
        if after == delimiter:
            column += 1
            position += 1
        elif after:
            position += 2 if text.startswith("\r\n", position) else 1
            line, column = line + 1, 0
    return None


#: A cell in quotes: a quote, anything but a lone quote (``""`` is a quote), the closing quote.
_QUOTED_CELL = re.compile(r'"[^"]*(?:""[^"]*)*"')


def _offset_of_line(text: str, line: int) -> int | None:
    """Where line ``line`` (from 1, counted as the csv module counts them) starts in the text."""
    if line == 1:
        return 0
    found = re.match(f"(?:[^\r\n]*(?:\r\n|\r|\n)){{{line - 1}}}", text)
    return None if found is None else found.end()


def _too_many_rows(line: int) -> ImportFileError:
    return ImportFileError(
        f"fichier trop long : au plus {number(contract.MAX_ROWS)} lignes après l'en-tête", line=line
    )


def _check_widths(records: list[list[str]], lines: Sequence[int]) -> None:
    """Refuse a row of more values than a header may have columns."""
    most = contract.MAX_COLUMNS
    if records and max(map(len, records)) > most:
        index = next(index for index, cells in enumerate(records) if len(cells) > most)
        raise ImportFileError(
            f"{number(len(records[index]))} valeurs : au plus {number(most)} colonnes par fichier",
            line=lines[index],
            column="(ligne)",
        )


def _check_cells(header: list[str], sheet: _Sheet) -> None:
    """Refuse the file at its first cell (header included) longer than the contract allows."""
    most = contract.MAX_CELL_CHARS
    found: list[tuple[int, int, str, str]] = []  # (line, position in the header, column, cell)
    for position, name in enumerate(header):
        if len(name) > most:
            found.append((1, position, "(en-tête)", name))
    for position, (name, column) in enumerate(sheet.cells.items()):
        if column and max(map(len, column)) > most:
            index = next(index for index, cell in enumerate(column) if len(cell) > most)
            found.append((sheet.lines[index], position, name, column[index]))
    if found:
        line, _, name, cell = min(found)
        raise ImportFileError(
            f"cellule de {number(len(cell))} caractères : au plus {number(most)}",
            line=line,
            column=name,
            value=cell[: _MAX_SHOWN_VALUE + 1],  # what the report shows of it, no more
        )


def _sheet(header: list[str], records: list[list[str]], lines: Sequence[int]) -> _Sheet:
    """Rows as read by csv (lists of cells) into a sheet: blank rows dropped, short rows
    completed, rows with too many values set apart."""
    width = len(header)
    odd = [
        index
        for index, cells in enumerate(records)
        if len(cells) != width or not (width and cells[0].strip()) and not "".join(cells).strip()
    ]
    too_many: dict[int, str] = {}
    if odd:
        kept_records, kept_lines = [], []
        odd_rows = set(odd)
        for index, (cells, line) in enumerate(zip(records, lines, strict=True)):
            if index in odd_rows:
                if not "".join(cells).strip():
                    continue
                if len(cells) > width and "".join(cells[width:]).strip():
                    too_many[len(kept_records)] = f"{len(cells)} valeurs pour {width} colonnes"
                    cells = [""] * width
                else:
                    cells = (cells + [""] * width)[:width]
            kept_records.append(cells)
            kept_lines.append(line)
        records, lines = kept_records, kept_lines
    columns = list(zip(*records, strict=True)) if records else [()] * width
    return _Sheet(header, lines, dict(zip(header, columns, strict=True)), too_many)


def _sheet_of_rows(header: Sequence[str], rows: list[RawRow]) -> _Sheet:
    """The sheet of rows given one by one (the demo, the booking site's sync)."""
    header = [name.strip().lower() for name in header]
    too_many = {
        index: row.cells[""] for index, row in enumerate(rows) if "" in row.cells and len(row.cells) == 1
    }
    cells = {
        name: ["" if index in too_many else row.cells.get(name) or "" for index, row in enumerate(rows)]
        for name in header
    }
    return _Sheet(header, [row.line for row in rows], cells, too_many)


def read_rows(text: str) -> tuple[list[str], list[RawRow]]:
    """The header (trimmed, lower-cased) and the data rows of a CSV text."""
    sheet = _read_sheet(text)
    rows = [
        RawRow(line, {"": sheet.too_many[index]})
        if index in sheet.too_many
        else RawRow(line, {name: column[index] for name, column in sheet.cells.items()})
        for index, line in enumerate(sheet.lines)
    ]
    return sheet.header, rows


def kind_of(path: Path, kind: str | None = None) -> str:
    """The contract file kind: the one given, else the file's name (``bookings.csv``)."""
    kind = (kind or path.stem).strip().lower()
    if kind not in SPECS:
        raise ImportFileError(f"type de fichier inconnu « {kind} » (attendu : {', '.join(IMPORT_ORDER)})")
    return kind


# ---------------------------------------------------------------- typing, away from the store


def _header_problems(spec: FileSpec, header: list[str]) -> tuple[list[Problem], list[str]]:
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
    problems += [
        Problem(1, column.name, "", "colonne obligatoire absente de l'en-tête")
        for column in spec.columns
        if column.required and column.name not in seen
    ]
    unknown = [name for name in dict.fromkeys(header) if name not in known]
    return problems, [_unknown_columns(unknown)] if unknown else []


def _unknown_columns(names: list[str]) -> str:
    """One warning for all the unknown columns, naming the first few (a header may have hundreds)."""

    def quoted(name: str) -> str:
        shown = name if len(name) <= _MAX_SHOWN_VALUE else name[:_MAX_SHOWN_VALUE] + "…"
        return f"« {_shown(shown) or '(sans nom)'} »"

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
            append(_utc_text(moment) if as_text else moment)
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
class _Typed:
    """The rows of a file that passed the cell and row checks, typed column by column."""

    spec: FileSpec
    sheet: _Sheet
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


def _typed(spec: FileSpec, sheet: _Sheet, dialect: sa.Dialect) -> tuple[_Typed, list[Problem]]:
    """Type every cell and check every row; the rows that pass, and the problems of the others.

    On SQLite, a file without row checks (none compares two instants) gets its instants as
    the text SQLite stores, without a datetime object per cell.
    """
    lines = sheet.lines
    instants_as_text = dialect.name == "sqlite" and not spec.checks
    stored = set()
    problems = [
        Problem(lines[index], "(ligne)", "", "trop de valeurs : " + reason)
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
    return _Typed(spec, sheet, rows, columns, stored), problems


def _repeated_headers(spec: FileSpec, sheet: _Sheet) -> list[int]:
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
    suspects = {cell for cell in set(column) if _header_name(cell) in names}
    if not suspects:
        return []
    repeated = []
    for index, cell in enumerate(column):
        if cell in suspects and index not in sheet.too_many:
            filled = [_header_name(sheet.cell(name, index)) for name in sheet.header]
            filled = [name for name in filled if name]
            if len(filled) >= 2 and all(name in names for name in filled):
                repeated.append(index)
    return repeated


# ---------------------------------------------------------------- checking against the store


def _utc_text(moment: datetime) -> str:
    """SQLAlchemy's SQLite text of an instant (its UTC wall time, to the microsecond)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _driver_values(column: sa.Column, typed: list, dialect: sa.Dialect) -> list:
    """Typed values as the driver takes them and gives them back: what SQLAlchemy would bind
    (on SQLite an instant is its UTC text, a date its ISO text, a decimal a float)."""
    if isinstance(column.type, UtcDateTime) and dialect.name == "sqlite":
        # The readers give UTC datetimes: "YYYY-MM-DD HH:MM:SS.ffffff+00:00" less the offset.
        return [
            None
            if value is None
            else value.isoformat(" ", "microseconds")[:26]
            if value.tzinfo is UTC
            else _utc_text(value)
            for value in typed
        ]
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return typed
    # A bind processor depends on the value alone: once per distinct value.
    processed = {value: process(value) for value in set(typed)}
    return [processed[value] for value in typed]


@dataclass
class _Prepared:
    """A typed file made ready for the store with a set of channel rules: the driver's value of
    every column the insert writes, each row's natural key, and the duplicate keys."""

    typed: _Typed
    rules: tuple[channels.Rule, ...]
    #: Column name → driver value per passed row (every contract column, defaults included).
    columns: dict[str, list]
    #: Columns an update writes: those of the header, the key, and the derived channel's.
    written: list[str]
    keys: list[tuple]
    problems: list[Problem]


def _complete_touchpoints(typed: _Typed, rules: tuple[channels.Rule, ...]) -> dict[str, list]:
    """utm values ('' when missing) and the channel: given (explicit) or derived by the rules."""
    count = len(typed.rows)
    columns = {
        name: [value or "" for value in typed.columns[name]] if typed.present(name) else [""] * count
        for name in ("utm_source", "utm_medium", "utm_campaign")
    }
    given = typed.columns["channel"] if typed.present("channel") else [None] * count
    if typed.present("channel_explicit"):
        # The data page's export says which channels the rules derived: those are derived again
        # (with the rules of now, as the stored rows were when the rules changed), so that
        # re-importing an export changes nothing (issue 17, item 5).
        given = [
            None if flag is False else channel
            for channel, flag in zip(given, typed.columns["channel_explicit"], strict=True)
        ]
    channel, explicit, rule = channels.channels_of(rules, given, columns["utm_source"], columns["utm_medium"])
    return columns | {"channel": channel, "channel_explicit": explicit, "channel_rule": rule}


def _explicit_without_channel(typed: _Typed) -> list[Problem]:
    """The touchpoints whose ``channel_explicit`` is true with no channel to keep."""
    if not typed.present("channel_explicit"):
        return []
    given = typed.columns["channel"] if typed.present("channel") else [None] * len(typed.rows)
    return [
        Problem(
            typed.line(index),
            "channel_explicit",
            typed.raw("channel_explicit", index),
            "canal explicite sans valeur dans la colonne channel",
        )
        for index, (flag, channel) in enumerate(zip(typed.columns["channel_explicit"], given, strict=True))
        if flag is True and not channel
    ]


def _prepare(typed: _Typed, rules: tuple[channels.Rule, ...], dialect: sa.Dialect) -> _Prepared:
    spec, count = typed.spec, len(typed.rows)
    table = spec.table
    written = [c.name for c in spec.columns if typed.present(c.name) or c.name in spec.key]
    values = {
        column.name: typed.columns[column.name] if typed.present(column.name) else [column.default] * count
        for column in spec.columns
    }
    problems = []
    if spec.kind == "touchpoints":
        values |= _complete_touchpoints(typed, rules)
        written += [name for name in ("channel_explicit", "channel_rule") if name not in written]
        problems = _explicit_without_channel(typed)
    columns = {
        name: typed_values if name in typed.stored else _driver_values(table.c[name], typed_values, dialect)
        for name, typed_values in values.items()
    }
    # A key column absent from the header counts as None in the key (the touchpoints' utm
    # values and channel are always there once completed).
    key_columns = [
        columns[name] if typed.present(name) or spec.kind == "touchpoints" else [None] * count
        for name in spec.key
    ]
    keys = list(zip(*key_columns, strict=True)) if count else []
    prepared = _Prepared(typed, rules, columns, written, keys, problems)
    if len(set(keys)) != len(keys):
        prepared.problems += _duplicate_problems(typed, keys)
    return prepared


def _duplicate_problems(typed: _Typed, keys: list[tuple]) -> list[Problem]:
    spec = typed.spec
    first_line: dict[tuple, int] = {}
    problems = []
    for index, key in enumerate(keys):
        if key in first_line:
            shown = ", ".join(typed.raw(name, index) for name in spec.key)
            problems.append(
                Problem(
                    typed.line(index),
                    "+".join(spec.key),
                    shown,
                    f"clé en double dans le fichier (déjà ligne {first_line[key]})",
                )
            )
        else:
            first_line[key] = typed.line(index)
    return problems


#: Rows planned by the files checked before, in a check of several files (nothing is written):
#: table name → natural key → column → driver value.
_Overlay = dict[str, dict[tuple, dict[str, Any]]]


class _Store:
    """What a file is checked against: the rows of one connection's transaction, and in a
    check of several files the rows the files before it would write (``overlay``)."""

    def __init__(self, connection: sa.Connection, overlay: _Overlay | None = None) -> None:
        self.connection = connection
        self.overlay = overlay
        self.mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        self.quote = connection.dialect.identifier_preparer.quote

    def select(
        self,
        table: sa.Table,
        names: Sequence[str],
        wanted: Iterable,
        where: tuple[tuple[str, Any], ...] = (),
    ) -> Iterator[sa.Row]:
        """Raw rows (driver values) of ``names`` whose first column is one of ``wanted``."""
        quote, mark = self.quote, self.mark
        columns = ", ".join(quote(name) for name in names)
        condition = "".join(f" AND {quote(name)} = {mark}" for name, _ in where)
        extra = tuple(value for _, value in where)
        wanted = sorted(wanted)
        for start in range(0, len(wanted), _CHUNK):
            chunk = tuple(wanted[start : start + _CHUNK])
            statement = (
                f"SELECT {columns} FROM {quote(table.name)} "
                f"WHERE {quote(names[0])} IN ({', '.join([mark] * len(chunk))}){condition}"
            )
            yield from self.connection.exec_driver_sql(statement, chunk + extra)

    def keys(self, reference: Reference, wanted: set[tuple]) -> set[tuple]:
        """The referenced keys among ``wanted`` that exist (with the reference's condition)."""
        target = reference.target
        rows = self.select(reference.table, target, {key[0] for key in wanted}, reference.where)
        found = {tuple(row) for row in rows}
        planned = (self.overlay or {}).get(reference.table.name)
        if planned:
            # The rows a file before would write stand in for the stored ones with their key.
            if _SPECS_BY_TABLE[reference.table.name].key == target:
                found -= set(planned)
            found |= {
                tuple(row.get(name) for name in target)
                for row in planned.values()
                if all(row.get(name) == value for name, value in reference.where)
            }
        return found & wanted

    def rows(self, spec: FileSpec, names: list[str], keys: list[tuple]) -> dict[tuple, tuple]:
        """The stored rows of these natural keys: key → the row's ``names`` (driver values);
        ``names`` starts with the natural key's columns."""
        found = {}
        width = len(spec.key)
        for row in self.select(spec.table, names, {key[0] for key in keys}):
            found[tuple(row[:width])] = tuple(row)
        planned = (self.overlay or {}).get(spec.table.name)
        if planned:
            wanted = set(keys)
            for key, row in planned.items():
                if key in wanted:
                    found[key] = tuple(row.get(name) for name in names)
        return found


_SPECS_BY_TABLE = {spec.table.name: spec for spec in SPECS.values()}


def _reference_problems(prepared: _Prepared, store: _Store) -> list[Problem]:
    typed = prepared.typed
    problems = []
    for reference in typed.spec.references:
        if not all(typed.present(name) for name in reference.columns):
            continue  # an optional column absent from the header refers to nothing
        columns = [prepared.columns[name] for name in reference.columns]
        keys = list(zip(*columns, strict=True)) if len(columns) > 1 else None
        if keys is None:
            wanted = {(value,) for value in set(columns[0]) if value is not None}
        else:
            wanted = {key for key in set(keys) if all(part is not None for part in key)}
        missing = wanted - store.keys(reference, wanted) if wanted else set()
        if not missing:
            continue
        column = reference.columns[0] if len(reference.columns) == 1 else "+".join(reference.columns)
        for index in range(len(columns[0])):
            if (keys[index] if keys is not None else (columns[0][index],)) in missing:
                shown = ", ".join(typed.raw(name, index) for name in reference.columns)
                problems.append(Problem(typed.line(index), column, shown, reference.reason))
    return problems


@dataclass
class _Plan:
    """What writing a checked file does: plain tuples for ``executemany``."""

    prepared: _Prepared
    #: The stored rows the plan was made against, by natural key: their ``existing_names``
    #: columns (the key, the id and the written columns; every column in a check).
    existing: dict[tuple, tuple]
    existing_names: list[str]
    insert_names: list[str]
    inserts: list[tuple]
    #: The written columns' values then the row's id.
    updates: list[tuple]
    #: Natural keys of the updated rows, in the order of ``updates``.
    updated_keys: list[tuple]
    unchanged: int


def _insert_columns(prepared: _Prepared, dialect: sa.Dialect) -> tuple[list[str], list[list]]:
    """Every column an insert writes: the contract's (and the derived channel's), then the
    table's other columns that have a Python default, as SQLAlchemy's insert adds them."""
    table, count = prepared.typed.spec.table, len(prepared.keys)
    names = list(prepared.columns)
    columns = list(prepared.columns.values())
    for column in table.c:
        if column.name not in prepared.columns and column.default is not None and column.default.is_scalar:
            names.append(column.name)
            columns.append(_driver_values(column, [column.default.arg] * count, dialect))
    return names, columns


def _plan(
    prepared: _Prepared, store: _Store, *, refused: bool = False, earlier: _Plan | None = None
) -> tuple[_Plan | None, list[Problem]]:
    """Check the references, then find the stored rows: the plan, or None and the problems.

    ``refused``: the file already has problems (only the references are checked, to report
    them). ``earlier``: a plan made against an older snapshot, kept when the stored rows it
    found are still the same.
    """
    problems = _reference_problems(prepared, store)
    if problems or prepared.problems or refused:
        return None, problems
    spec = prepared.typed.spec
    table = spec.table
    if store.overlay is None:
        names = [*spec.key, "id", *(name for name in prepared.written if name not in spec.key)]
    else:  # a check remembers whole rows (``_add_to_overlay``)
        names = [*spec.key, *(column.name for column in table.c if column.name not in spec.key)]
    existing = store.rows(spec, names, prepared.keys)
    if earlier is not None and earlier.prepared is prepared and earlier.existing_names == names:
        if earlier.existing == existing:
            return earlier, []
    insert_names, columns = _insert_columns(prepared, store.connection.dialect)
    if not existing:
        inserts = list(zip(*columns, strict=True))
        return _Plan(prepared, existing, names, insert_names, inserts, [], [], 0), []
    id_at = names.index("id")
    stored_at = [names.index(name) for name in prepared.written]
    written_at = [insert_names.index(name) for name in prepared.written]
    inserts, updates, updated_keys, unchanged = [], [], [], 0
    for key, row in zip(prepared.keys, zip(*columns, strict=True), strict=True):
        current = existing.get(key)
        if current is None:
            inserts.append(row)
            continue
        new = tuple(row[at] for at in written_at)
        if new != tuple(current[at] for at in stored_at):
            updates.append((*new, current[id_at]))
            updated_keys.append(key)
        else:
            unchanged += 1
    return _Plan(prepared, existing, names, insert_names, inserts, updates, updated_keys, unchanged), []


def _add_to_overlay(overlay: _Overlay, plan: _Plan) -> None:
    """Remember a checked file's rows for the files checked after it (nothing is written)."""
    spec = plan.prepared.typed.spec
    planned = overlay.setdefault(spec.table.name, {})
    key_at = [plan.insert_names.index(name) for name in spec.key]
    for row in plan.inserts:
        planned[tuple(row[at] for at in key_at)] = dict(zip(plan.insert_names, row, strict=True))
    for key, update in zip(plan.updated_keys, plan.updates, strict=True):
        stored = dict(zip(plan.existing_names, plan.existing[key], strict=True))
        planned[key] = stored | dict(zip(plan.prepared.written, update[:-1], strict=True))


# ---------------------------------------------------------------- writing


def _write(connection: sa.Connection, plan: _Plan) -> None:
    """``executemany`` of the plan's tuples: the inserts, then the updates."""
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
    if result.accepted and (result.inserted or result.updated):
        # Rows stored by anyone but the demo's seeder (an import, a sync): the demo ends here.
        accounts.end_demo(connection, actor=imported_by, reason=f"import {result.kind}")


class _Rejected(Exception):
    """Raised inside a write transaction to roll the whole file back."""


def _refuse(result: ImportResult, problems: list[Problem]) -> None:
    result.problems = sorted(problems, key=lambda p: p.line)
    result.accepted = False
    result.inserted = result.updated = result.unchanged = 0


def _accept(result: ImportResult, plan: _Plan) -> None:
    result.problems = []
    result.accepted = True
    result.inserted, result.updated, result.unchanged = len(plan.inserts), len(plan.updates), plan.unchanged


def _typed_file(
    kind: str, sheet: _Sheet, result: ImportResult, dialect: sa.Dialect
) -> tuple[_Typed | None, list[Problem]]:
    """The header and every cell of a file: its typed rows (None when the header is refused)."""
    spec = SPECS[kind]
    result.rows = len(sheet.lines)
    problems, result.warnings = _header_problems(spec, sheet.header)
    if not sheet.lines:
        result.warnings.append("aucune ligne de données")
    if problems:
        return None, problems
    return _typed(spec, sheet, dialect)


def _rules(connection: sa.Connection, spec: FileSpec) -> tuple[channels.Rule, ...]:
    """The channel rules, which touchpoints need (their channel is part of their key)."""
    return channels.load_rules(connection) if spec.kind == "touchpoints" else ()


def _check(
    connection: sa.Connection,
    kind: str,
    sheet: _Sheet,
    result: ImportResult,
    overlay: _Overlay | None = None,
    typed: tuple[_Typed | None, list[Problem]] | None = None,
) -> _Plan | None:
    """Validate a file against ``connection``'s transaction: its plan, or None (``result`` says
    why). ``typed``: the file's ``_typed_file``, when it was read before the transaction."""
    rows, problems = typed or _typed_file(kind, sheet, result, connection.dialect)
    if rows is None:
        _refuse(result, problems)
        return None
    prepared = _prepare(rows, _rules(connection, rows.spec), connection.dialect)
    plan, reference_problems = _plan(prepared, _Store(connection, overlay), refused=bool(problems))
    if plan is None:
        _refuse(result, problems + prepared.problems + reference_problems)
        return None
    _accept(result, plan)
    return plan


def _import_sheet(
    kind: str,
    sheet: _Sheet,
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
    connection: sa.Connection, plan: _Plan, version: int | None, result: ImportResult, imported_by: str | None
) -> None:
    with _fast_thread_switches():
        _write_checked_now(connection, plan, version, result, imported_by)


def _write_checked_now(
    connection: sa.Connection, plan: _Plan, version: int | None, result: ImportResult, imported_by: str | None
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
            prepared = _prepare(prepared.typed, rules, connection.dialect)
        checked, problems = _plan(prepared, _Store(connection), earlier=plan)
        if checked is None:
            _refuse(result, prepared.problems + problems)
            raise _Rejected
        plan = checked
        _accept(result, plan)
    _write_and_record(connection, plan, result, imported_by)


def _write_and_record(
    connection: sa.Connection, plan: _Plan, result: ImportResult, imported_by: str | None
) -> None:
    _write(connection, plan)
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
        sheet = _sheet_of_rows(header, rows)
        return _import_sheet(
            kind, sheet, source=source, engine=engine, imported_by=imported_by, dry_run=dry_run
        )


def upsert_rows(
    connection: sa.Connection, kind: str, header: Sequence[str], rows: list[RawRow], *, source: str
) -> ImportResult:
    """``import_rows`` inside the caller's transaction: validate every row, then upsert them all
    or none (``accepted`` says which); neither the history nor the data version is touched."""
    result = ImportResult(source=source, kind=kind)
    plan = _check(connection, kind, _sheet_of_rows(header, rows), result)
    if plan is not None:
        _write(connection, plan)
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
    overlay: _Overlay = {}
    with gc_paused(), (engine or get_engine()).connect() as connection, connection.begin():
        for source, kind, data in files:
            result = ImportResult(source=source, kind=kind)
            results.append(result)
            try:
                sheet = _read_sheet(decode(data))
            except ImportFileError as error:
                result.problems = error.problems()
                continue
            plan = _check(connection, kind, sheet, result, overlay)
            if plan is not None:
                _add_to_overlay(overlay, plan)
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
            sheet = _read_sheet(decode(data))
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
    """A file refused before its rows are checked, kept in the history (unless a dry run)."""
    result = ImportResult(source=source, kind=kind, problems=error.problems())
    if not dry_run:
        with write_transaction(engine) as connection:
            _record(connection, result, imported_by)
    return result


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
    length = path.stat().st_size
    if length > contract.MAX_FILE_BYTES:  # refused before it is read
        error = ImportFileError(f"fichier de {size(length)} : au plus {size(contract.MAX_FILE_BYTES)}")
        return [_refused_file(error, source=str(path), kind=kind, engine=engine, imported_by=imported_by)]
    return [
        import_bytes(path.read_bytes(), source=str(path), kind=kind, engine=engine, imported_by=imported_by)
    ]
