"""The only reader of environment variables: every setting of the product, with its default."""

from __future__ import annotations

import os
import secrets
import tomllib
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The centre's local time zone: dates in files and on screen are local dates.
LOCAL_TZ = ZoneInfo("Europe/Paris")

#: Every setting, its default and what it does (documented in docs/configuration.md).
SETTINGS: dict[str, tuple[str, str]] = {
    "DATABASE_URL": (
        "sqlite:///data/app.db",
        "SQLAlchemy URL of the store; a relative SQLite path is relative to the project root.",
    ),
    "DEMO_DATA": (
        "1",
        "1: the app seeds an empty database with demo data at start; 0: never.",
    ),
    "RETENTION_MONTHS": (
        "36",
        "Candidates never enrolled and without contact for this many months are anonymised by the purge.",
    ),
    "SESSION_IDLE_MINUTES": (
        "30",
        "A sign-in ends after this many minutes without activity.",
    ),
    "SECRET_KEY": (
        "",
        "Long random string that signs the sign-in cookie (also read as secret_key from "
        ".streamlit/secrets.toml). Unset: a random key per process, so sign-ins end when the app "
        "restarts and several servers cannot share them.",
    ),
    "CALCOM_API_URL": (
        "https://api.cal.com",
        "Base URL of the booking site's Cal.com API (also read from .streamlit/secrets.toml).",
    ),
    "CALCOM_API_KEY": (
        "",
        "Cal.com API key for the bookings sync (environment or .streamlit/secrets.toml; never logged).",
    ),
    "WHEREBY_API_URL": (
        "https://api.whereby.dev",
        "Base URL of the Whereby REST API (also read from .streamlit/secrets.toml).",
    ),
    "WHEREBY_API_KEY": (
        "",
        "Whereby API key for the video rooms and attendance (environment or .streamlit/secrets.toml; "
        "never logged).",
    ),
    "CALCOM_WEBHOOK_SECRET": (
        "",
        "Secret of the Cal.com webhook (POST /webhooks/calcom); unset: the route answers 404 "
        "(environment or .streamlit/secrets.toml; never logged).",
    ),
    "WHEREBY_WEBHOOK_SECRET": (
        "",
        "Signing secret of the Whereby webhook (POST /webhooks/whereby); unset: the route answers "
        "404 (environment or .streamlit/secrets.toml; never logged).",
    ),
    "SMTP_URL": (
        "",
        "Mail server of the job datings' schedules: smtp://user:password@host:587 (STARTTLS; plain "
        "only on loopback) or smtps://user:password@host:465 (implicit TLS); unset: nothing is sent "
        "(environment or .streamlit/secrets.toml; never logged).",
    ),
    "SMTP_FROM": (
        "",
        "Sender address of the job datings' schedules (needed with SMTP_URL).",
    ),
    "SMTP_PAUSE_MS": (
        "200",
        "Pause between two messages sent, in milliseconds (a mail server's rate limit).",
    ),
    "CALCOM_CONSENT_FIELDS": (
        "",
        "Slugs of the Cal.com booking questions holding the consents to be presented to companies: "
        "presentation_consent=SLUG,parent_presentation_consent=SLUG,consent_source=SLUG; unset: "
        "the sync reads no consent.",
    ),
    "SQLITE_BUSY_TIMEOUT_MS": (
        "30000",
        "How long a SQLite writer waits for another writer before giving up, in milliseconds.",
    ),
}


class SettingError(ValueError):
    """A setting that cannot be used: the message names it and says what is wrong."""


def _setting(name: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or SETTINGS[name][0]


def database_url() -> str:
    """The store's URL, with a relative SQLite path made absolute against the project root."""
    url = _setting("DATABASE_URL")
    prefix = "sqlite:///"
    # A URI-form path (``sqlite:///file:/srv/app.db?mode=ro&uri=true``) is no path: left as given,
    # for database.get_engine to refuse in one line (made absolute, it became a stray folder tree).
    uri = "uri=true" in url.partition("?")[2].lower()
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url and not uri:
        path = url[len(prefix) :]
        url = prefix + str(PROJECT_ROOT / path)
    return url


def demo_data_enabled() -> bool:
    """Whether the app may seed an empty database with demo data."""
    return _setting("DEMO_DATA").lower() not in {"0", "false", "no", "non", "off"}


def _whole_number(name: str, what: str, least: int = 0) -> int:
    text = _setting(name)
    # At most 2**31 - 1: what SQLite's busy timeout, and a timedelta of minutes, can hold.
    if not (text.isascii() and text.isdigit()) or not least <= int(text) < 2**31:
        raise SettingError(f"{name} : « {text} » n'est pas un nombre entier de {what} (≥ {least})")
    return int(text)


def sqlite_busy_timeout_ms() -> int:
    """Milliseconds a SQLite connection waits for a lock."""
    return _whole_number("SQLITE_BUSY_TIMEOUT_MS", "millisecondes")


#: What ``CALCOM_CONSENT_FIELDS`` may name: a candidates.csv column per booking question.
CONSENT_FIELD_NAMES = ("presentation_consent", "parent_presentation_consent", "consent_source")


def calcom_consent_fields() -> dict[str, str]:
    """``CALCOM_CONSENT_FIELDS`` read: column → booking question slug (empty when unset)."""
    text = integration_setting("CALCOM_CONSENT_FIELDS")
    fields: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, equals, slug = (piece.strip() for piece in item.partition("="))
        if not equals or name not in CONSENT_FIELD_NAMES or not slug:
            raise SettingError(
                f"CALCOM_CONSENT_FIELDS : « {item} » illisible (attendu colonne=slug, colonnes "
                f"{', '.join(CONSENT_FIELD_NAMES)})"
            )
        fields[name] = slug
    return fields


def smtp_pause_ms() -> int:
    """Milliseconds between two messages sent."""
    return _whole_number("SMTP_PAUSE_MS", "millisecondes")


def session_idle_minutes() -> int:
    """Minutes of inactivity after which a sign-in ends."""
    return int(_setting("SESSION_IDLE_MINUTES"))


def retention_months() -> int:
    """Months without contact after which a candidate who never enrolled is anonymised (≥ 1)."""
    text = _setting("RETENTION_MONTHS")
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"RETENTION_MONTHS : « {text} » n'est pas un nombre entier de mois ≥ 1")
    return int(text)


#: The secrets file Streamlit reads too (git-ignored); settings may come from it or the environment.
SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"


@cache
def _random_key() -> str:
    return secrets.token_urlsafe(48)


def _secrets_file() -> dict:
    try:
        with SECRETS_FILE.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        return {}


def secret_key() -> str:
    """The key that signs the sign-in cookie: SECRET_KEY, else secrets.toml, else per process."""
    return _setting("SECRET_KEY") or str(_secrets_file().get("secret_key", "")) or _random_key()


def integration_setting(name: str) -> str:
    """An integration's URL or key: the environment, else the same key in secrets.toml, else
    its default (an empty key means the integration is not configured)."""
    return os.environ.get(name, "").strip() or str(_secrets_file().get(name, "")).strip() or SETTINGS[name][0]
