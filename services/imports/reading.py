"""Reading a contract file, step 1 of an import: the bytes decoded (UTF-8, UTF-16 with its BOM,
Windows-1252, never a guess that mixes them), the CSV read strictly (the delimiter, quotes,
cells of too many lines, rows of the wrong width, a header repeated), into a sheet of text cells.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from services.i18n import format_number
from services.imports.problems import MAX_SHOWN_VALUE, ImportFileError, Problem, RawRow, one_line
from services.store import contract
from services.store.contract import IMPORT_ORDER, SPECS


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
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")
_MAC_FILE = "« CSV Macintosh » d'Excel pour Mac"
#: Mac Roman's â, à, á, é and ò as Windows-1252 reads them (‰, ˆ, ‡, Ž, ˜), after a small
#: letter: inside a word, where no French or other Windows-1252 text puts them (œ, š, ž, Ÿ,
#: which Mac Roman's ú, ö, û, ü also give, are letters of their own and not looked at). Its ï
#: and ô (•, ™) are left out: a bullet or a trade mark follows a letter in real text
#: (« Technicien•ne », « Acme™ »), and a French file from a Mac has its é (Ž) anyway.
_MAC_LETTERS = "‰ˆ‡Ž˜"
_MAC_ACCENT = re.compile(f"(?<=[a-zà-ÿ])[{_MAC_LETTERS}]")
_ENCODING_ADVICE = "enregistrez-le en « CSV UTF-8 » (Excel : Enregistrer sous, CSV UTF-8)"
#: How a workbook starts: .xlsx (a zip: Excel, LibreOffice) and .xls (a compound document).
_WORKBOOKS = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


def decode(data: bytes) -> str:
    """The text of a file in UTF-8 (with or without BOM) or Windows-1252, one encoding per file.

    UTF-8 when the whole file is UTF-8. Windows-1252 when it is not UTF-8 and no line of it is
    UTF-8 with an accented character (Excel's « CSV » on Windows; ``_has_utf8_line``). A file
    with both, such as one line pasted from another file, is refused naming each line that is
    not UTF-8: read as Windows-1252, the UTF-8 lines would become mojibake (``Maxéville`` →
    ``MaxÃ©ville``) and update stored rows to it. A UTF-8 BOM says UTF-8: any line that is not is refused too.
    """
    if data.startswith(_WORKBOOKS):
        raise ImportFileError(
            f"classeur Excel, pas un fichier CSV : ouvrez-le dans Excel et {_ENCODING_ADVICE}"
        )
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
    if data.startswith(codecs.BOM_UTF8) or _has_utf8_line(escaped):
        raise _mixed_encoding(escaped)
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as error:
        # The five bytes Windows-1252 lacks are five of Mac Roman's letters (ç, è, ê, ù, Å).
        raise ImportFileError(
            f"octet 0x{data[error.start]:02X} illisible en UTF-8 comme en Windows-1252 : "
            "encodage illisible (attendu UTF-8 ou Windows-1252 ; "
            f"un fichier {_MAC_FILE} ? {_ENCODING_ADVICE})",
            line=len(_LINE_BREAK_BYTES.findall(data, 0, error.start)) + 1,
            column="(ligne)",
        ) from None
    # Looked for by each character first: the pattern alone takes 0.4 s on 14 MB.
    if any(letter in text for letter in _MAC_LETTERS) and _MAC_ACCENT.search(text):
        raise _refused_lines(
            text,
            _MAC_ACCENT,
            str,
            f"encodage Mac ({_MAC_FILE} ?) : lu en Windows-1252, le texte serait abîmé ; {_ENCODING_ADVICE}",
        )
    return text


def _has_utf8_line(escaped: str) -> bool:
    """Whether a line of the text is UTF-8 with a character beyond ASCII, all its bytes decoded.

    ``escaped``: the file decoded as UTF-8, each undecodable byte kept as a surrogate. In a
    Windows-1252 file two bytes may happen to be UTF-8 (``É`` then a non-breaking space is
    U+0260): their line, whose other accents are not UTF-8, is not a UTF-8 line. One pass:
    each line is looked at once, from its first character beyond ASCII.
    """
    position = 0
    while (found := _DECODED_NON_ASCII.search(escaped, position)) is not None:
        start = max(escaped.rfind("\n", 0, found.start()), escaped.rfind("\r", 0, found.start())) + 1
        after = _LINE_BREAK.search(escaped, found.end())
        end = len(escaped) if after is None else after.start()
        if not _UNDECODED.search(escaped, start, end):
            return True
        position = end
    return False


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
    return _refused_lines(
        escaped,
        _UNDECODED,
        _as_windows_1252,
        "ligne qui n'est pas en UTF-8 comme le reste du fichier (Windows-1252 ?) : un fichier "
        f"n'a qu'un encodage ; {_ENCODING_ADVICE}",
    )


def _refused_lines(
    text: str, bad: re.Pattern[str], show: Callable[[str], str], reason: str
) -> ImportFileError:
    """The refusal of a file for the lines where ``bad`` is found, each named with the column of
    its first such cell, shown by ``show``."""
    lines = _LINE_BREAK.split(text)
    delimiter = _delimiter(text)
    header = [header_name(show(name)) for name in next(csv.reader([lines[0]], delimiter=delimiter), [])]
    problems = []
    for number_, line in enumerate(lines, start=1):
        if not bad.search(line):
            continue
        cells = next(csv.reader([line], delimiter=delimiter), [])
        position = next((at for at, cell in enumerate(cells) if bad.search(cell)), 0)
        cell = cells[position] if cells else line
        if number_ == 1:
            column = "(en-tête)"
        else:
            column = header[position] if position < len(header) and header[position] else "(ligne)"
        problems.append(Problem(number_, column, show(cell)[: MAX_SHOWN_VALUE + 1], reason))
    first = problems[0]
    return ImportFileError(
        first.reason, line=first.line, column=first.column, value=first.value, more=problems[1:]
    )


@dataclass
class Sheet:
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
    #: Whether a column without a name holds a value (the empty ``;;;`` columns Excel leaves
    #: after the data hold none: they are no unknown column to warn of).
    unnamed_filled: bool = False
    #: What reading the file noticed without refusing it (a last line perhaps cut off).
    warnings: list[str] = field(default_factory=list)

    def cell(self, name: str, row: int) -> str:
        """The raw cell of a column in a row (empty when the header has no such column)."""
        column = self.cells.get(name)
        return "" if column is None else column[row]


def _delimiter(text: str) -> str:
    """The separator of a file: ``;`` when its header line has more of them than commas outside
    quotes (a quoted column name may hold either, as « Ville, CP »), else ``,``."""
    stripped = text.lstrip("\r\n")
    end = stripped.find("\n")
    first_lines = (stripped if end < 0 else stripped[: end + 1]).splitlines()
    first_line = _QUOTED_CELL.sub("", first_lines[0]) if first_lines else ""
    return ";" if first_line.count(";") > first_line.count(",") else ","


#: What surrounds a name or a code by accident: a BOM (two files put end to end), zero-width
#: characters (copied from a web page), white space of any kind (NBSP included).
INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060\u00a0\u202f"


def header_name(name: str) -> str:
    """A header cell as a column name: trimmed of spaces and invisible characters, lower-cased."""
    return name.strip().strip(INVISIBLE).strip().lower()


def read_sheet(text: str) -> Sheet:
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
        if header_name(raw_header[0]).startswith("sep=") and len(raw_header) <= 2:
            raise ImportFileError(
                "ligne « sep= » avant l'en-tête (une indication de séparateur pour Excel) : supprimez "
                "cette ligne, les noms des colonnes doivent être sur la première ligne",
                column="(en-tête)",
                value=delimiter.join(raw_header),
            )
        if sum(name.count("\t") for name in raw_header) >= len(raw_header):
            # More tabs than separators: Excel's « Texte (séparateur : tabulation) ».
            raise ImportFileError(
                "colonnes séparées par des tabulations (enregistrement « Texte » d'Excel) : "
                f"séparateur attendu : la virgule ou le point-virgule ; {_ENCODING_ADVICE}",
                column="(en-tête)",
            )
        header = [header_name(name) for name in raw_header]
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
    last = records[-1] if records else []
    if not text.endswith(("\n", "\r")) and 0 < len(last) < len(header) and "".join(last).strip():
        # A short last row is completed with empty cells; without a line break after it, the
        # file may have been cut in that row, leaving half a value that still reads.
        sheet.warnings.append(
            f"ligne {number(lines[-1])} : {number(len(last))} valeurs pour {number(len(header))} colonnes, "
            "et le fichier ne finit pas par un retour à la ligne : fichier coupé ? vérifiez que sa fin "
            "est complète avant de l'importer"
        )
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
                value=cell[: MAX_SHOWN_VALUE + 1],
                raw_text=True,
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
                    value=text[position : position + MAX_SHOWN_VALUE + 1],
                    raw_text=True,
                )
            breaks = _breaks(closed.group())
            if breaks >= contract.MAX_CELL_LINES:
                return ImportFileError(
                    _too_many_lines(line, breaks + 1),
                    line=line,
                    column=_column_at(names, column),
                    value=closed.group()[: MAX_SHOWN_VALUE + 1],
                    raw_text=True,
                )
            position = closed.end()
            after = text[position : position + 1]
            if after not in ("", delimiter, "\r", "\n"):
                return ImportFileError(
                    f"guillemet ouvert ligne {number(line)} puis fermé ligne {number(line + breaks)} "
                    f"suivi de « {one_line(after)} » : une cellule entre guillemets finit par un guillemet "
                    "suivi du séparateur ou de la fin de la ligne, un guillemet à l'intérieur s'écrit "
                    '"" (un guillemet non fermé ?)',
                    line=line,
                    column=_column_at(names, column),
                    value=closed.group()[: MAX_SHOWN_VALUE + 1],
                    raw_text=True,
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


def _check_cells(header: list[str], sheet: Sheet) -> None:
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
            value=cell[: MAX_SHOWN_VALUE + 1],  # what the report shows of it, no more
        )


def _sheet(header: list[str], records: list[list[str]], lines: Sequence[int]) -> Sheet:
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
    unnamed = [at for at, name in enumerate(header) if not name]
    filled = any(cell.strip() for at in unnamed for cell in columns[at])
    return Sheet(header, lines, dict(zip(header, columns, strict=True)), too_many, unnamed_filled=filled)


def sheet_of_rows(header: Sequence[str], rows: list[RawRow]) -> Sheet:
    """The sheet of rows given one by one (the demo, the booking site's sync)."""
    header = [name.strip().lower() for name in header]
    too_many = {
        index: row.cells[""] for index, row in enumerate(rows) if "" in row.cells and len(row.cells) == 1
    }
    cells = {
        name: ["" if index in too_many else row.cells.get(name) or "" for index, row in enumerate(rows)]
        for name in header
    }
    return Sheet(header, [row.line for row in rows], cells, too_many)


def read_rows(text: str) -> tuple[list[str], list[RawRow]]:
    """The header (trimmed, lower-cased) and the data rows of a CSV text."""
    sheet = read_sheet(text)
    rows = [
        RawRow(line, {"": sheet.too_many[index]})
        if index in sheet.too_many
        else RawRow(line, {name: column[index] for name, column in sheet.cells.items()})
        for index, line in enumerate(sheet.lines)
    ]
    return sheet.header, rows


#: What a contract file is often called in French: the kind it most likely is.
_FRENCH_NAMES = {
    "formations": "programs",
    "programmes": "programs",
    "conseillers": "advisors",
    "evenements": "events",
    "événements": "events",
    "campagnes": "campaigns",
    "candidats": "candidates",
    "passages": "touchpoints",
    "visites": "touchpoints",
    "rendez-vous": "bookings",
    "rdv": "bookings",
    "inscriptions": "enrollments",
    "entreprises": "companies",
    "offres": "offers",
    "rencontres": "meetings",
}


def kind_of(path: Path, kind: str | None = None) -> str:
    """The contract file kind: the one given, else the file's name (``bookings.csv``)."""
    kind = (kind or path.stem).strip().lower()
    if kind not in SPECS:
        meant = _meant_kind(kind)
        advice = f" ; le fichier {meant}.csv ? renommez-le {meant}.csv" if meant else ""
        raise ImportFileError(
            f"type de fichier inconnu « {kind} » (attendu : {', '.join(IMPORT_ORDER)}){advice}"
        )
    return kind


def _meant_kind(name: str) -> str | None:
    """The kind a file's name begins with, in English or in French (``bookings (1)``, the name
    of a second download; ``candidats``), the longest first; None for none."""
    names = {**{kind: kind for kind in SPECS}, **_FRENCH_NAMES}
    return next((names[word] for word in sorted(names, key=len, reverse=True) if name.startswith(word)), None)
