"""Reading one cell of a contract file: the accepted formats of dates, numbers, booleans…

Each reader takes the raw text of a non-empty cell and returns the typed value, or raises
``ValueError`` with the reason in French, as the import report shows it.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import urlsplit

from services.config import LOCAL_TZ

_Column = TypeVar("_Column")

#: The years a date or a date-time of a file may fall in (docs/import-formats.md): far from the
#: limits of Python's dates (years 1 to 9999), which an offset or a time zone would cross.
FIRST_YEAR, LAST_YEAR = 1900, 2200
#: What an integer column holds on every engine: the store's integer columns are ``INTEGER``,
#: 32 bits on PostgreSQL (64 on SQLite); a file accepted on one engine is accepted on the other.
MAX_INT = 2**31 - 1
#: What the amounts' column holds exactly: ``NUMERIC(14, 2)`` (campaigns.spend_eur), so at most
#: 12 digits before the decimal point and 2 after.
AMOUNT_DIGITS, AMOUNT_PLACES = 14, 2
#: The longest e-mail address (RFC 5321: 254 characters in a path).
MAX_EMAIL_CHARS = 254
#: The reason given for an empty cell of a required column.
MISSING = "valeur obligatoire manquante"


def _characters(*categories: str, extra: str = "") -> frozenset[str]:
    planes = (range(0x10000), range(0x10000, 0x20000), range(0xE0000, 0xE1000))
    found = {chr(code) for plane in planes for code in plane if unicodedata.category(chr(code)) in categories}
    return frozenset(found | set(extra))


#: Characters that show nothing though they are there: Hangul and Khmer fillers, the combining
#: grapheme joiner, the Mongolian vowel separator, the Braille blank, variation selectors.
_FILLERS = "\u034f\u115f\u1160\u17b4\u17b5\u180e\u2800\u3164\uffa0" + "".join(
    map(chr, [*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])
)
#: Stripped from both ends of every value read from a file: every Unicode space (NBSP, thin
#: spaces…), line break and tab, the format characters (BOM, zero-width spaces and joiners,
#: bidirectional marks, soft hyphen) and the fillers.
_EDGES = "".join(
    sorted(_characters("Cf", extra=_FILLERS) | {chr(c) for c in range(0x3000 + 1) if chr(c).isspace()})
)
#: Refused inside a code: controls, format characters, every space but the plain one, line and
#: paragraph separators, the fillers.
_INVISIBLE = _characters("Cc", "Cf", "Zs", "Zl", "Zp", extra=_FILLERS) - {" "}
#: The French names of the invisible characters most often pasted into a cell (the others keep
#: their Unicode name).
_INVISIBLE_NAMES = {
    "\t": "tabulation",
    "\n": "retour à la ligne",
    "\r": "retour chariot",
    "\u00a0": "espace insécable",
    "\u202f": "espace fine insécable",
    "\u2009": "espace fine",
    "\u00ad": "trait d'union conditionnel",
    "\u200b": "espace de largeur nulle",
    "\u200c": "antiliant sans chasse",
    "\u200d": "liant sans chasse",
    "\u2060": "gluon de mots",
    "\ufeff": "marque d'ordre des octets (BOM)",
}
#: The columns the contract calls codes by their name (a key or a reference column is one too).
_CODE_NAME = re.compile(r"^(?:code|ref|.+_code|.+_ref)$")
#: What a spreadsheet reads as a formula at the start of a cell or of a line in it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: The ``'`` an export puts before a formula sign, at the start or after a line break.
_QUOTED_FORMULA = re.compile(r"(^|\r\n|\r|\n)'(?=[=+\-@\t\r])")

_DATE_ISO = r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})"
_DATE_FR = r"(?P<d>\d{2})/(?P<m>\d{2})/(?P<y>\d{4})"
_TIME = r"(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,6}))?)?"
_OFFSET = r"(?P<tz>Z|[+-]\d{2}:?\d{2})?"
_DATE_PATTERNS = [re.compile(rf"^{_DATE_ISO}$"), re.compile(rf"^{_DATE_FR}$")]
_DATETIME_PATTERNS = [
    re.compile(rf"^{_DATE_ISO}[ T]{_TIME}\s*{_OFFSET}$", re.IGNORECASE),
    re.compile(rf"^{_DATE_FR} {_TIME}\s*{_OFFSET}$", re.IGNORECASE),
]
_GROUPING_SPACES = " \u00a0\u202f"
_DECIMAL = re.compile(r"^[+-]?(\d+|\d{1,3}( \d{3})+)([.,]\d+)?$")
#: A number as French Excel writes one in scientific notation (``1,23457E+13``).
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?E[+-]?\d+$", re.IGNORECASE)
#: A day number of Excel's calendar (``43935``, ``43922,4166``): a date whose cell lost its format.
_DAY_NUMBER = re.compile(r"^\d{1,6}(?:[.,]\d+)?$")
#: A number Excel turned into a date: ``12-janv.``, ``3-févr.-20``, ``12/1``, ``12/01/2020``.
_NUMBER_AS_DATE = re.compile(r"^\d{1,2}[-/](?:\d{1,2}|[^\W\d_]{3,9}\.?)(?:[-/]\d{2,4})?$")
#: A date of the contract's forms, its day or month on one digit or its year on two.
_SHORT_DATE = re.compile(r"^\d{1,2}/\d{1,2}/(?:\d{2}|\d{4})$")
_SHORT_ISO_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
#: A date-time of the contract's forms but for its hour on one digit (Excel's « h:mm »).
_SHORT_TIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2}[ T]|\d{2}/\d{2}/\d{4} )"
    r"(?P<H>\d):(?P<M>\d{2})(?P<rest>(?::\d{2})?.*)$"
)
#: The values Excel writes for a formula that failed, in French and in English (compared in
#: capitals): a cell without a value, never text.
EXCEL_ERRORS = frozenset(
    {
        "#N/A", "#NA", "#VALEUR!", "#VALUE!", "#REF!", "#DIV/0!", "#NOM?", "#NAME?", "#NOMBRE!",
        "#NUM!", "#NUL!", "#NULL!", "#CALC!", "#PROPAGATION!", "#SPILL!", "#CHAMP!", "#FIELD!",
        "#CONNECT!", "#BLOQUÉ!", "#BLOCKED!", "#GETTING_DATA", "#DONNÉES_EN_COURS",
    }
)  # fmt: skip
_EXCEL_ERROR = (
    "erreur de formule d'Excel : la cellule n'a pas de valeur ; corrigez la formule dans Excel ou "
    "videz la cellule"
)
#: What Excel writes instead of a date or a number too wide for its column.
_NARROW_COLUMN = re.compile(r"^#{2,}$")
#: What the hints about a column Excel reformatted end with.
_FORMAT_AS = "mettez la colonne au format {} dans Excel"
TRUE_WORDS = frozenset({"1", "true", "yes", "oui", "y", "o"})
FALSE_WORDS = frozenset({"0", "false", "no", "non", "n"})


def clean_text(text: str) -> str:
    """A value of a file as stored: in NFC, without the spaces and invisible characters at its ends
    nor the ``'`` a spreadsheet export puts before a formula sign (``'=x`` is ``=x``).

    A BOM, a zero-width space or a non-breaking space at an end is never meant, and would make
    ``MAX`` and ``\\ufeffMAX`` two sites shown alike. The ``'`` before a formula sign at the
    start of the value or of a line in it is Excel's text marker, which our exports write
    (services/documents/exports.py ``neutralise``) and Excel drops: a file exported then read back is
    unchanged.
    """
    text = text.strip(_EDGES)
    if "'" in text:
        text = _QUOTED_FORMULA.sub(r"\1", text)
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", text).strip(_EDGES)


#: The ASCII characters among ``_EDGES``.
_ASCII_EDGES = [character for character in _EDGES if character.isascii()]


def changed_by_cleaning(texts: set[str]) -> dict[str, str]:
    """``clean_text`` of those of these texts that it changes (most often none).

    The texts in ASCII without a ``'`` (the references, e-mails and phones of a generated
    million rows) are checked at once: joined by NUL characters, none has an edge character at
    an end when no edge character is next to a NUL (a NUL inside a text may make that check
    find an end where there is none: they are then cleaned one by one, as the others are).
    """
    joined = "\x00".join(texts)
    plain = texts if joined.isascii() and "'" not in joined else None
    if plain is None:
        plain = {text for text in texts if text.isascii() and "'" not in text}
        joined = "\x00".join(plain)
    joined = f"\x00{joined}\x00"
    present = [edge for edge in _ASCII_EDGES if edge in joined]
    if not any(f"\x00{edge}" in joined or f"{edge}\x00" in joined for edge in present):
        texts = texts - plain
    return {text: cleaned for text in texts if (cleaned := clean_text(text)) != text}


def read_code(text: str) -> str:
    """A code (a key or a reference): cleaned, and refused when nothing visible is left, or when
    it still holds an invisible or control character, or a digit that is not 0-9."""
    code = clean_text(text)
    if not code:
        raise ValueError("code vide une fois retirés les espaces et caractères invisibles")
    if code.isascii():
        if code.isprintable():
            return code
    elif any(character.isdigit() and not character.isascii() for character in code):
        raise ValueError("chiffre autre que 0-9 dans un code")
    hidden = next((character for character in code if character in _INVISIBLE), None)
    if hidden is not None:
        name = _INVISIBLE_NAMES.get(hidden) or unicodedata.name(hidden, "sans nom")
        raise ValueError(
            f"caractère invisible ou de contrôle U+{ord(hidden):04X} ({name}) dans un code "
            "(copié depuis une page web ou un traitement de texte ?)"
        )
    return code


def is_code(column_name: str, spec: Any) -> bool:
    """Whether a column of a contract file holds codes: a key or reference column, or one the
    contract names as a code (``code``, ``ref``, ``*_code``, ``*_ref``)."""
    return (
        column_name in spec.key
        or any(column_name in reference.columns for reference in spec.references)
        or _CODE_NAME.match(column_name) is not None
    )


def cleaning(column: _Column, spec: Any) -> _Column:
    """A column of ``spec`` (``contract.Column``) whose reader first cleans each cell
    (``clean_text``; ``read_code`` for a code column): the same column for date-times, which
    ``read_datetime`` cleans itself (the importer reads their plain form faster)."""
    read = column.read  # type: ignore[attr-defined]
    if read is read_datetime:
        return column
    code = is_code(column.name, spec)  # type: ignore[attr-defined]
    required, default = column.required, column.default  # type: ignore[attr-defined]

    def read_cleaned(raw: str) -> Any:
        text = read_code(raw) if code else clean_text(raw)
        if not text:
            if required:
                raise ValueError(MISSING)
            return default
        if text[0] == "#" and text.upper() in EXCEL_ERRORS:
            raise ValueError(_EXCEL_ERROR)
        return read(text)

    return dataclasses.replace(column, read=read_cleaned)  # type: ignore[type-var]


class OutOfRange(ValueError):
    """A date or a date-time readable but outside the years ``FIRST_YEAR`` to ``LAST_YEAR``."""


_OUT_OF_RANGE = f"date-heure hors des années permises ({FIRST_YEAR} à {LAST_YEAR}, en UTC)"


def read_cells(
    read_column: Callable[..., tuple[list, list[tuple[int, str, str]]]],
    spec: Any,
    column: Any,
    cells: dict[str, Sequence[str]],
    *options: Any,
) -> tuple[list, list[tuple[int, str, str]]]:
    """The importer's ``read_column`` of one column of a sheet (``cells``: by column name),
    with each cell cleaned first (``cleaning``) and, for date-times, the years bounded after:
    the importer reads their plain form (``AAAA-MM-JJ HH:MM:SS``) itself, faster."""
    column_cells = cells[column.name]
    typed, failures = read_column(cleaning(column, spec), column_cells, *options)
    if column.read is read_datetime:
        present = [instant for instant in typed if instant is not None]
        if present and not (instant_in_range(min(present)) and instant_in_range(max(present))):
            failed = {index for index, _, _ in failures}
            for index, instant in enumerate(typed):
                if index not in failed and not instant_in_range(instant):
                    typed[index] = None
                    failures.append((index, column_cells[index], _OUT_OF_RANGE))
    return typed, failures


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise OutOfRange(f"année {year} hors des années permises ({FIRST_YEAR} à {LAST_YEAR})")


def read_date(text: str) -> date:
    """``YYYY-MM-DD`` or ``DD/MM/YYYY``, in the years ``FIRST_YEAR`` to ``LAST_YEAR``."""
    text = clean_text(text)
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                day = date(int(match["y"]), int(match["m"]), int(match["d"]))
            except ValueError:
                raise ValueError("date impossible") from None
            _check_year(day.year)
            return day
    raise ValueError("date illisible (attendu AAAA-MM-JJ ou JJ/MM/AAAA)" + _date_hint(text))


def read_datetime(text: str) -> datetime:
    """A date-time of the contract, as an aware UTC instant (local time is Europe/Paris), whose
    year, as written and in UTC, is between ``FIRST_YEAR`` and ``LAST_YEAR``."""
    text = clean_text(text)
    for pattern in _DATETIME_PATTERNS:
        match = pattern.match(text)
        if match:
            return _instant(match)
    raise ValueError(
        "date-heure illisible (attendu AAAA-MM-JJ HH:MM[:SS], AAAA-MM-JJTHH:MM[:SS] "
        "ou JJ/MM/AAAA HH:MM[:SS], fuseau facultatif)" + _datetime_hint(text)
    )


# What Excel did to a value: the end of a refusal's reason, saying what to fix (empty when
# the value shows no known damage). Nothing is repaired: the contract decides what is read.
# A hint never quotes the value: the history masks a personal column's value (a birth date),
# not the reason, which would carry it there.


def excel_scientific(text: str) -> bool:
    """Whether a cell is a number as French Excel writes it in scientific notation (``1,23457E+13``)."""
    return _SCIENTIFIC.match(text) is not None


def excel_format(kind: str) -> str:
    """The advice that ends each hint: the cell format to give the column in Excel."""
    return _FORMAT_AS.format(kind)


def _common_hint(text: str) -> str:
    """The hint of a formula's error or of a column too narrow, whatever the column's type."""
    if text.upper() in EXCEL_ERRORS:
        return " : " + _EXCEL_ERROR
    if _NARROW_COLUMN.match(text):
        return (
            " : des # à la place de la valeur, qu'Excel affiche quand la colonne est trop étroite ; "
            "élargissez la colonne avant d'enregistrer"
        )
    return ""


def _date_hint(text: str) -> str:
    if text.startswith("#"):
        return _common_hint(text)
    if _DAY_NUMBER.match(text):
        return f" : un numéro de jour d'Excel ; {excel_format('Date (JJ/MM/AAAA)')}"
    if any(pattern.match(text) for pattern in _DATETIME_PATTERNS):
        return " : une date seule est attendue, sans heure"
    if _SHORT_ISO_DATE.match(text):
        return " : jour et mois sur deux chiffres (2020-04-05, pas 2020-4-5)"
    if _SHORT_DATE.match(text):
        return " : jour et mois sur deux chiffres, année sur quatre (04/05/2020, pas 4/5/2020 ni 04/05/20)"
    return ""


def _datetime_hint(text: str) -> str:
    if text.startswith("#"):
        return _common_hint(text)
    if _DAY_NUMBER.match(text):
        return f" : un numéro de jour d'Excel ; {excel_format('Date (JJ/MM/AAAA hh:mm)')}"
    if any(pattern.match(text) for pattern in _DATE_PATTERNS):
        return " : il manque l'heure (HH:MM)"
    if _SHORT_TIME.match(text):
        return " : heure sur deux chiffres (09:05, pas 9:05)"
    return ""


def _number_hint(text: str) -> str:
    if text.startswith("#"):
        return _common_hint(text)
    if excel_scientific(text):
        return f" : la notation scientifique d'Excel (1,5E+06) ; {excel_format('Nombre')}"
    symbol = next((symbol for symbol in "€$%" if symbol in text), None)
    if symbol is not None:
        return f" : le nombre seul, sans « {symbol} » (format de cellule Nombre plutôt que Monétaire)"
    if _NUMBER_AS_DATE.match(text):
        return (
            f" : ressemble à une date (Excel a peut-être changé ce nombre en date ; {excel_format('Nombre')})"
        )
    return ""


def instant_in_range(instant: datetime | str | None) -> bool:
    """Whether an instant read from a file (a UTC datetime, or its SQLite text ``YYYY-MM-DD …``)
    falls in the years ``FIRST_YEAR`` to ``LAST_YEAR`` (None: no instant, nothing to refuse)."""
    if instant is None:
        return True
    year = int(instant[:4]) if isinstance(instant, str) else instant.year
    return FIRST_YEAR <= year <= LAST_YEAR


def _instant(match: re.Match[str]) -> datetime:
    _check_year(int(match["y"]))
    offset = match["tz"]
    if offset is None:
        # fold=0: a time in the spring-forward gap keeps the winter offset (02:30 → 03:30
        # summer time) and a time in the autumn overlap is its first occurrence.
        tzinfo = LOCAL_TZ
    elif offset.upper() == "Z":
        tzinfo = UTC
    else:
        digits = offset.replace(":", "")
        sign = -1 if digits[0] == "-" else 1
        hours, minutes = int(digits[1:3]), int(digits[3:5])
        if hours > 23 or minutes > 59:
            raise ValueError("décalage horaire impossible")
        tzinfo = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        local = datetime(
            int(match["y"]),
            int(match["m"]),
            int(match["d"]),
            int(match["H"]),
            int(match["M"]),
            int(match["S"] or 0),
            int((match["f"] or "0").ljust(6, "0")),
            tzinfo=tzinfo,
        )
    except ValueError:
        raise ValueError("date-heure impossible") from None
    # Years 1900 to 2200 are far from datetime's limits: the conversion cannot overflow.
    instant = local.astimezone(UTC)
    if not instant_in_range(instant):  # 2200-12-31 23:30-01:00 is in 2201 in UTC
        raise OutOfRange(_OUT_OF_RANGE)
    return instant


def _number(text: str) -> Decimal:
    """A number as the contract writes it, unbounded."""
    cleaned = clean_text(text)
    for space in _GROUPING_SPACES:
        cleaned = cleaned.replace(space, " ")
    if not _DECIMAL.match(cleaned):
        raise ValueError("nombre illisible (attendu 1234.5, 1234,5 ou 1 234,50)" + _number_hint(cleaned))
    try:
        return Decimal(cleaned.replace(" ", "").replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
        raise ValueError("nombre illisible") from None


def read_decimal(text: str) -> Decimal:
    """An amount: ``1234.5``, ``1234,5``, ``1 234,50`` (space or non-breaking space between
    thousands), held exactly by the amounts' column (``AMOUNT_DIGITS``, ``AMOUNT_PLACES``)."""
    number = _number(text)
    exact = number.quantize(Decimal(1).scaleb(-AMOUNT_PLACES)) if number.adjusted() < 20 else None
    if exact is None or abs(exact) >= Decimal(10) ** (AMOUNT_DIGITS - AMOUNT_PLACES):
        raise ValueError(
            f"montant trop grand : au plus {AMOUNT_DIGITS - AMOUNT_PLACES} chiffres avant la virgule"
        )
    if exact != number:
        raise ValueError(f"au plus {AMOUNT_PLACES} décimales (le montant serait arrondi)")
    return exact


def read_int(text: str) -> int:
    """A whole number (thousands may be grouped by spaces) an integer column holds (``MAX_INT``)."""
    number = _number(text)
    if number.adjusted() >= 10 or abs(number) > MAX_INT:
        raise ValueError(f"nombre trop grand : au plus {MAX_INT:,}".replace(",", "\u202f"))
    if number != number.to_integral_value():
        raise ValueError("nombre entier attendu")
    return int(number)


def read_bool(text: str) -> bool:
    """``1/0``, ``true/false``, ``yes/no``, ``oui/non``, ``y/n``, ``o/n``."""
    word = clean_text(text).lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    hint = " : écrivez oui ou non plutôt que VRAI ou FAUX" if word in ("vrai", "faux") else ""
    raise ValueError("booléen illisible (attendu oui/non, 1/0, true/false, yes/no, o/n, y/n)" + hint)


def read_email(text: str) -> str:
    """An e-mail address, trimmed and lower-cased: one ``@``, something before it, a dot inside
    what follows it, no space nor invisible character. Checked in one pass over the text."""
    email = clean_text(text).lower()
    # ``isprintable`` is false for every space but the plain one, and every control or format
    # character (zero-width space…); the former regular expression backtracked quadratically.
    local, at, domain = email.partition("@")
    if not (at and local and email.isprintable() and " " not in email and "@" not in domain):
        raise ValueError("adresse e-mail invalide")
    if "." not in domain[1:-1]:
        raise ValueError("adresse e-mail invalide")
    if len(email) > MAX_EMAIL_CHARS:
        raise ValueError(f"adresse e-mail trop longue (au plus {MAX_EMAIL_CHARS} caractères)")
    return email


def read_https_url(text: str) -> str:
    """An https URL (video rooms): any other scheme, and any control character inside, is refused."""
    url = clean_text(text)
    # urlsplit drops tabs and line breaks before parsing, but the URL is stored as written:
    # a CR/LF kept in it would end its line of an .ics export and forge the next ones.
    # ``isprintable`` is false for every control, format, separator and unassigned character
    # but the plain space (refused below).
    if not url.isprintable():
        raise ValueError("caractère de contrôle (retour à la ligne, tabulation…) interdit dans une adresse")
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or not parts.netloc or " " in url:
        raise ValueError("adresse https:// attendue")
    return url


def local_date(instant: datetime) -> date:
    """The Europe/Paris date of an instant."""
    return instant.astimezone(LOCAL_TZ).date()


def local_midnight(day: date) -> datetime:
    """The instant (UTC) at which a Europe/Paris date begins."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).astimezone(UTC)
