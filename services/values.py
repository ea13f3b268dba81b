"""Reading one cell of a contract file: the accepted formats of dates, numbers, booleans…

Each reader takes the raw text of a non-empty cell and returns the typed value, or raises
``ValueError`` with the reason in French, as the import report shows it.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from services.config import LOCAL_TZ

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
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TRUE_WORDS = frozenset({"1", "true", "yes", "oui", "y", "o"})
FALSE_WORDS = frozenset({"0", "false", "no", "non", "n"})


def read_date(text: str) -> date:
    """``YYYY-MM-DD`` or ``DD/MM/YYYY``."""
    text = text.strip()
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                return date(int(match["y"]), int(match["m"]), int(match["d"]))
            except ValueError:
                raise ValueError("date impossible") from None
    raise ValueError("date illisible (attendu AAAA-MM-JJ ou JJ/MM/AAAA)")


def read_datetime(text: str) -> datetime:
    """A date-time of the contract, as an aware UTC instant (local time is Europe/Paris)."""
    text = text.strip()
    for pattern in _DATETIME_PATTERNS:
        match = pattern.match(text)
        if match:
            return _instant(match)
    raise ValueError(
        "date-heure illisible (attendu AAAA-MM-JJ HH:MM[:SS], AAAA-MM-JJTHH:MM[:SS] "
        "ou JJ/MM/AAAA HH:MM[:SS], fuseau facultatif)"
    )


def _instant(match: re.Match[str]) -> datetime:
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
    return local.astimezone(UTC)


def read_decimal(text: str) -> Decimal:
    """``1234.5``, ``1234,5``, ``1 234,50`` (space or non-breaking space between thousands)."""
    cleaned = text.strip()
    for space in _GROUPING_SPACES:
        cleaned = cleaned.replace(space, " ")
    if not _DECIMAL.match(cleaned):
        raise ValueError("nombre illisible (attendu 1234.5, 1234,5 ou 1 234,50)")
    try:
        return Decimal(cleaned.replace(" ", "").replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
        raise ValueError("nombre illisible") from None


def read_int(text: str) -> int:
    """A whole number (thousands may be grouped by spaces)."""
    number = read_decimal(text)
    if number != number.to_integral_value():
        raise ValueError("nombre entier attendu")
    return int(number)


def read_bool(text: str) -> bool:
    """``1/0``, ``true/false``, ``yes/no``, ``oui/non``, ``y/n``, ``o/n``."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("booléen illisible (attendu oui/non, 1/0, true/false, yes/no, o/n, y/n)")


def read_email(text: str) -> str:
    """An e-mail address, trimmed and lower-cased."""
    email = text.strip().lower()
    if not _EMAIL.match(email):
        raise ValueError("adresse e-mail invalide")
    return email


def read_https_url(text: str) -> str:
    """An https URL (video rooms): any other scheme, and any control character inside, is refused."""
    url = text.strip()
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
