"""The data contract as data: for each import file, its columns, key and references.

docs/import-formats.md describes the same contract for users; a test keeps them in step.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from services.store import models, values
from services.store.models import (
    ANONYMOUS_REF_PREFIX,
    BOOKING_STATUSES,
    CHANNELS,
    ENROLLMENT_STATUSES,
    EVENT_KINDS,
    MEETING_OUTCOMES,
    MEETING_STATUSES,
    PROGRAM_LEVELS,
)

MIB = 1024 * 1024

# Bounds on what one upload or one file may hold (issue 16, item 9): each is checked as the file
# is read, before the rest of it is, and refuses the file with a French message naming what
# and where. docs/import-formats.md lists them ("Taille des fichiers"); a test keeps both in step.

#: Columns of a header (the widest contract file has 12; an export may add a few unknown ones).
MAX_COLUMNS = 1_000
#: Lines of a file after its header (blank lines count): M-scale touchpoints are a million.
MAX_ROWS = 2_000_000
#: Characters of one cell (a long landing page URL holds well under 2,000).
MAX_CELL_CHARS = 4_000
#: Lines of one quoted cell (issue 17, item 1). A postal address or a short note spans a few; a
#: cell over more lines is a quote left open that swallowed the rows after it, and is refused
#: at the line where the quote was opened.
MAX_CELL_LINES = 20
#: Bytes of one CSV file: a file given on the command line, or a file once out of its .zip.
MAX_FILE_BYTES = 200 * MIB
#: Entries of a .zip (folders and the hidden files archivers add included).
MAX_ZIP_MEMBERS = 100
#: Bytes of all the files of a .zip once decompressed.
MAX_EXPANDED_BYTES = 300 * MIB
#: Decompressed bytes per compressed byte of a file in a .zip (CSV files give 5 to 20)…
MAX_COMPRESSION_RATIO = 100
#: …checked once a file has given this many bytes (a tiny file may compress much better).
RATIO_CHECKED_FROM = 1 * MIB
#: Names shown in one grouped message (unknown columns), the others counted.
SHOWN_NAMES = 10
#: Problems of a file the data page lists (all of them are counted, and kept in the history).
SHOWN_PROBLEMS = 200


def _text(raw: str) -> str:
    return raw


def _code(raw: str) -> str:
    return raw.strip()


def _candidate_ref(raw: str) -> str:
    ref = _code(raw)
    # The purge's anonymous rows must never be mistaken for a person the files still send.
    if ref.lower().startswith(ANONYMOUS_REF_PREFIX):
        raise ValueError(f"le préfixe « {ANONYMOUS_REF_PREFIX} » est réservé aux candidats anonymisés")
    return ref


def _enum(allowed: tuple[str, ...], upper: bool = False) -> Callable[[str], str]:
    def read(raw: str) -> str:
        word = raw.strip().upper() if upper else raw.strip().lower()
        if word not in allowed:
            raise ValueError(f"valeur non permise (attendu : {', '.join(allowed)})")
        return word

    return read


def _at_least(minimum: int, reader: Callable[[str], Any] = values.read_int) -> Callable[[str], Any]:
    def read(raw: str) -> Any:
        number = reader(raw)
        if number < minimum:
            raise ValueError(f"doit être ≥ {minimum}")
        return number

    return read


#: A whole number written with a decimal part of zeros (``54000.0``): a code that went through a float.
_DECIMAL_CODE = re.compile(r"^\d+[.,]0+$")


def _excel_damage(code: str, count: int, example: str = "") -> str:
    """What Excel (or an export) did to a code of ``count`` digits taken for a number
    (`` (…)``), or ``""``: the zeros dropped from the start, the digits scientific notation
    lost, a decimal part added."""
    # Never the code itself: the history masks a personal column's value, not the reason.
    if _DECIMAL_CODE.match(code):
        return (
            " (écrit comme un nombre à virgule par le logiciel qui a fait le fichier : le code "
            "s'écrit sans « .0 »)"
        )
    if values.excel_scientific(code):
        return (
            " (la notation scientifique d'Excel, comme 1,23457E+13 : les derniers chiffres sont "
            f"perdus ; reprenez la valeur d'origine et {values.excel_format('Texte')})"
        )
    if code.isascii() and code.isdigit() and len(code) < count:
        return (
            f" ({len(code)} ici : Excel a peut-être retiré le zéro du début{example} ; "
            f"{values.excel_format('Texte')})"
        )
    return ""


def _characters(count: int, what: str, example: str = "") -> Callable[[str], str]:
    def read(raw: str) -> str:
        code = raw.strip()
        if len(code) != count:
            raise ValueError(f"{what} : {count} caractères attendus{_excel_damage(code, count, example)}")
        return code

    return read


def _digits(count: int, what: str) -> Callable[[str], str]:
    def read(raw: str) -> str:
        code = raw.strip()
        if len(code) != count or not (code.isascii() and code.isdigit()):
            raise ValueError(f"{what} : {count} chiffres attendus{_excel_damage(code, count)}")
        return code

    return read


#: What replaces a personal value (``Column.personal``) in the import history.
MASK = "•••"


@dataclass(frozen=True)
class Column:
    """One column of a file: how to read a cell, whether it is required, its default."""

    name: str
    read: Callable[[str], Any]
    required: bool = False
    default: Any = None
    #: Personal data: masked in the import history.
    personal: bool = False
    #: An empty cell keeps the stored value (a new row gets the table's default), as the
    #: contract says of the consents; a column absent from the header never changes anything.
    kept: bool = False


@dataclass(frozen=True)
class Reference:
    """Columns of a file that must name an existing row of another table."""

    columns: tuple[str, ...]
    table: sa.Table
    target: tuple[str, ...]
    reason: str
    #: Extra condition on the target row (e.g. an event of kind job_dating).
    where: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class FileSpec:
    """One contract file: its kind (file stem), table, natural key, columns, references."""

    kind: str
    table: sa.Table
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    references: tuple[Reference, ...] = ()
    #: Row-level checks: each returns (column, reason) pairs for a row of typed values.
    checks: tuple[Callable[[dict[str, Any]], list[tuple[str, str]]], ...] = field(default=())

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        return next(column for column in self.columns if column.name == name)

    def new_row_default(self, column: Column) -> Any:
        """What a new row gets for an absent or empty cell: the column's default; for a kept
        column (``Column.kept``), the table's own default (a consent not given is « no »)."""
        if column.kept:
            default = self.table.c[column.name].default
            return default.arg if default is not None and default.is_scalar else None
        return column.default


def _ends_after_start(row: dict[str, Any]) -> list[tuple[str, str]]:
    if row.get("starts_on") and row.get("ends_on") and row["ends_on"] < row["starts_on"]:
        return [("ends_on", "doit être postérieure ou égale à starts_on")]
    return []


def _booked_before_start(row: dict[str, Any]) -> list[tuple[str, str]]:
    if row.get("booked_at") and row.get("starts_at") and row["booked_at"] > row["starts_at"]:
        return [("booked_at", "doit être antérieure ou égale à starts_at")]
    return []


def _signed_date_with_contract(row: dict[str, Any]) -> list[tuple[str, str]]:
    # Checked against the outcome given on the same row; a file without the outcome column
    # updates the date alone.
    if row.get("contract_signed_on") and "outcome" in row and row["outcome"] != "contract_signed":
        return [("contract_signed_on", "renseignée seulement quand outcome vaut contract_signed")]
    return []


def _ref(
    columns: str | tuple[str, ...],
    model: type,
    target: str | tuple[str, ...],
    reason: str,
    where: tuple[tuple[str, Any], ...] = (),
) -> Reference:
    def as_tuple(names: str | tuple[str, ...]) -> tuple[str, ...]:
        return names if isinstance(names, tuple) else (names,)

    return Reference(as_tuple(columns), model.__table__, as_tuple(target), reason, where)


_SITE = _ref("site_code", models.Site, "code", "site inconnu")
_CANDIDATE = _ref("candidate_ref", models.Candidate, "ref", "candidat inconnu")
_OFFERING = _ref(
    ("program_code", "site_code"), models.Program, ("code", "site_code"), "programme non proposé sur ce site"
)

FILES: tuple[FileSpec, ...] = (
    FileSpec(
        "sites",
        models.Site.__table__,
        ("code",),
        (
            Column("code", _code, required=True),
            Column("name", _text, required=True),
            Column("city", _text),
            Column("department", _code),
        ),
    ),
    FileSpec(
        "programs",
        models.Program.__table__,
        ("code", "site_code"),
        (
            Column("code", _code, required=True),
            Column("name", _text, required=True),
            Column("level", _enum(PROGRAM_LEVELS, upper=True)),
            Column("site_code", _code, required=True),
            Column("seats", _at_least(0)),
        ),
        (_SITE,),
    ),
    FileSpec(
        "advisors",
        models.Advisor.__table__,
        ("email",),
        (
            Column("email", values.read_email, required=True),
            Column("name", _text, required=True),
            Column("site_code", _code, required=True),
        ),
        (_SITE,),
    ),
    FileSpec(
        "events",
        models.Event.__table__,
        ("code",),
        (
            Column("code", _code, required=True),
            Column("name", _text, required=True),
            Column("kind", _enum(EVENT_KINDS), required=True),
            Column("starts_on", values.read_date, required=True),
            Column("ends_on", values.read_date, required=True),
        ),
        (),
        (_ends_after_start,),
    ),
    FileSpec(
        "campaigns",
        models.Campaign.__table__,
        ("code",),
        (
            Column("code", _code, required=True),
            Column("name", _text, required=True),
            Column("channel", _enum(CHANNELS), required=True),
            Column("event_code", _code),
            Column("starts_on", values.read_date),
            Column("ends_on", values.read_date),
            Column("spend_eur", _at_least(0, values.read_decimal)),
            Column("sent", _at_least(0)),
            Column("opened", _at_least(0)),
            Column("clicked", _at_least(0)),
        ),
        (_ref("event_code", models.Event, "code", "événement inconnu"),),
    ),
    FileSpec(
        "candidates",
        models.Candidate.__table__,
        ("ref",),
        (
            Column("ref", _candidate_ref, required=True),
            Column("first_name", _text, personal=True),
            Column("last_name", _text, personal=True),
            Column("email", values.read_email, personal=True),
            Column("phone", _text, personal=True),
            Column("birth_date", values.read_date, personal=True),
            Column("postal_code", _characters(5, "code postal", ", comme 08000 devenu 8000"), personal=True),
            # Consents: an empty cell keeps the stored one, a new candidate gets « no » (the
            # table's default), as the contract says of every consent column.
            Column("marketing_consent", values.read_bool, kept=True),
            Column("parent_consent", values.read_bool, kept=True),
            Column("presentation_consent", values.read_bool, kept=True),
            Column("parent_presentation_consent", values.read_bool, kept=True),
            Column("consent_recorded_on", values.read_date, kept=True),
            Column("consent_source", _text, kept=True),
            # Not in the exchange contract: where a minor's job-dating schedule goes too.
            Column("parent_email", values.read_email, personal=True),
            Column("created_at", values.read_datetime, required=True),
        ),
    ),
    FileSpec(
        "touchpoints",
        models.Touchpoint.__table__,
        ("candidate_ref", "occurred_at", "channel", "utm_source", "utm_campaign"),
        (
            Column("candidate_ref", _code, required=True),
            Column("occurred_at", values.read_datetime, required=True),
            Column("channel", _enum(CHANNELS)),
            # Not in the exchange contract: what the data page's export writes, so that a derived
            # channel re-imported stays derived (issue 17, item 5). Empty or absent: a channel
            # given is explicit.
            Column("channel_explicit", values.read_bool),
            Column("utm_source", _text, default=""),
            Column("utm_medium", _text, default=""),
            Column("utm_campaign", _text, default=""),
            Column("landing_page", _text),
        ),
        (_CANDIDATE,),
    ),
    FileSpec(
        "bookings",
        models.Booking.__table__,
        ("ref",),
        (
            Column("ref", _code, required=True),
            Column("candidate_ref", _code, required=True),
            Column("event_code", _code),
            Column("site_code", _code, required=True),
            Column("program_code", _code),
            Column("advisor_email", values.read_email),
            Column("starts_at", values.read_datetime, required=True),
            Column("duration_min", _at_least(1), default=45),
            Column("status", _enum(BOOKING_STATUSES), required=True),
            Column("booked_at", values.read_datetime, required=True),
            Column("attendees", _at_least(1), default=1),
            Column("meeting_url", values.read_https_url),
        ),
        (
            _CANDIDATE,
            _ref("event_code", models.Event, "code", "événement inconnu"),
            _SITE,
            _OFFERING,
            _ref("advisor_email", models.Advisor, "email", "conseiller inconnu"),
        ),
        (_booked_before_start,),
    ),
    FileSpec(
        "enrollments",
        models.Enrollment.__table__,
        ("candidate_ref", "program_code", "site_code"),
        (
            Column("candidate_ref", _code, required=True),
            Column("program_code", _code, required=True),
            Column("site_code", _code, required=True),
            Column("enrolled_at", values.read_datetime, required=True),
            Column("status", _enum(ENROLLMENT_STATUSES), default="enrolled"),
        ),
        (_CANDIDATE, _SITE, _OFFERING),
    ),
    FileSpec(
        "companies",
        models.Company.__table__,
        ("siret",),
        (
            Column("siret", _digits(14, "SIRET"), required=True),
            Column("name", _text, required=True),
            Column("city", _text),
            Column("sector", _text),
            # Not in the exchange contract: where the company's job-dating schedule is sent.
            Column("email", values.read_email, personal=True),
        ),
    ),
    FileSpec(
        "offers",
        models.Offer.__table__,
        ("ref",),
        (
            Column("ref", _code, required=True),
            Column("siret", _digits(14, "SIRET"), required=True),
            Column("program_code", _code),
            Column("site_code", _code),
            Column("positions", _at_least(1), default=1),
            Column("published_on", values.read_date, required=True),
        ),
        (_ref("siret", models.Company, "siret", "entreprise inconnue"), _SITE),
    ),
    FileSpec(
        "meetings",
        models.Meeting.__table__,
        ("ref",),
        (
            Column("ref", _code, required=True),
            Column("event_code", _code, required=True),
            Column("candidate_ref", _code, required=True),
            Column("offer_ref", _code, required=True),
            Column("starts_at", values.read_datetime, required=True),
            Column("duration_min", _at_least(1), default=20),
            Column("status", _enum(MEETING_STATUSES), required=True),
            Column("outcome", _enum(MEETING_OUTCOMES), default="none"),
            Column("contract_signed_on", values.read_date),
            Column("meeting_url", values.read_https_url),
        ),
        (
            _ref(
                "event_code",
                models.Event,
                "code",
                "événement inconnu ou qui n'est pas un job dating",
                where=(("kind", "job_dating"),),
            ),
            _CANDIDATE,
            _ref("offer_ref", models.Offer, "ref", "offre inconnue"),
        ),
        (_signed_date_with_contract,),
    ),
)

#: The import order of the contract (files that others reference come first).
IMPORT_ORDER: tuple[str, ...] = tuple(spec.kind for spec in FILES)
SPECS: dict[str, FileSpec] = {spec.kind: spec for spec in FILES}
