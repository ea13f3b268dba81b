"""Cell readers against the contract's "General rules": every accepted format, every refusal."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services import values
from services.config import LOCAL_TZ


def utc(*parts: int) -> datetime:
    """An aware UTC instant."""
    return datetime(*parts, tzinfo=UTC)


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize("text", ["2020-04-14", "14/04/2020", " 14/04/2020 "])
def test_read_date_accepts_iso_and_french_dates(text: str) -> None:
    assert values.read_date(text) == date(2020, 4, 14)


@pytest.mark.parametrize(
    "text",
    [
        "2020-02-30",  # no 30 February
        "13/13/2020",  # no month 13
        "2020/04/14",  # neither YYYY-MM-DD nor DD/MM/YYYY
        "14-04-2020",
        "14/4/2020",
        "abc",
    ],
)
def test_read_date_refuses_other_text(text: str) -> None:
    with pytest.raises(ValueError):
        values.read_date(text)


# ---------------------------------------------------------------- date-times

# April 2020 is summer time in Paris (UTC+2): 10:00 local is 08:00 UTC.
_APRIL_14_10H = utc(2020, 4, 14, 8, 0)


@pytest.mark.parametrize(
    "text",
    [
        "2020-04-14 10:00",
        "2020-04-14 10:00:00",
        "2020-04-14T10:00",
        "2020-04-14T10:00:00",
        "14/04/2020 10:00",
        "14/04/2020 10:00:00",
        "2020-04-14 10:00+02:00",  # an explicit offset, same instant
        "2020-04-14T10:00:00+02:00",
        "14/04/2020 10:00:00+02:00",
        "2020-04-14T08:00:00Z",  # UTC
        "2020-04-14 08:00Z",
    ],
)
def test_read_datetime_accepts_every_contract_format(text: str) -> None:
    instant = values.read_datetime(text)
    assert instant == _APRIL_14_10H
    assert instant.tzinfo is not None  # the store keeps instants unambiguously


def test_read_datetime_keeps_seconds() -> None:
    assert values.read_datetime("2020-04-14 10:00:30") == utc(2020, 4, 14, 8, 0, 30)


def test_read_datetime_reads_a_winter_local_time_as_utc_plus_one() -> None:
    # January is winter time in Paris (UTC+1): 10:00 local is 09:00 UTC.
    assert values.read_datetime("2020-01-14 10:00") == utc(2020, 1, 14, 9, 0)


def test_read_datetime_reads_the_spring_forward_gap_with_fold_0() -> None:
    # On 29 March 2020 Paris clocks jump from 02:00 to 03:00: 02:30 does not exist.
    # zoneinfo with fold=0 applies the offset before the jump (+01:00): 01:30 UTC,
    # which is 03:30 summer time.
    instant = values.read_datetime("2020-03-29 02:30")
    assert instant == utc(2020, 3, 29, 1, 30)
    assert instant.astimezone(LOCAL_TZ).strftime("%H:%M %z") == "03:30 +0200"


def test_read_datetime_reads_the_autumn_overlap_as_the_first_occurrence() -> None:
    # On 25 October 2020 Paris clocks go back from 03:00 to 02:00: 02:30 happens twice.
    # fold=0 is the first one, still summer time (+02:00): 00:30 UTC (the second is 01:30).
    assert values.read_datetime("2020-10-25 02:30") == utc(2020, 10, 25, 0, 30)


def test_read_datetime_honours_a_negative_offset() -> None:
    assert values.read_datetime("2020-04-14 10:00-05:00") == utc(2020, 4, 14, 15, 0)


@pytest.mark.parametrize(
    "text",
    [
        "2020-04-14",  # a date is not a date-time
        "2020-02-30 10:00",  # no 30 February
        "13/13/2020 10:00",
        "2020-04-14 25:00",
        "2020-04-14 10h00",
        "abc",
    ],
)
def test_read_datetime_refuses_other_text(text: str) -> None:
    with pytest.raises(ValueError):
        values.read_datetime(text)


# ---------------------------------------------------------------- decimals


@pytest.mark.parametrize(
    "text",
    [
        "1234.5",
        "1234,5",
        "1 234,50",
        "1 234.50",
        "1\u00a0234,50",  # non-breaking space, what French Excel writes
        "1\u202f234,50",  # narrow non-breaking space
        " 1234,5 ",
    ],
)
def test_read_decimal_accepts_point_comma_and_grouped_thousands(text: str) -> None:
    assert values.read_decimal(text) == Decimal("1234.5")


def test_read_decimal_reads_several_groups() -> None:
    assert values.read_decimal("1 234 567,89") == Decimal("1234567.89")


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "1,234.5",  # a comma is the decimal mark, not a thousands separator
        "1.234,5",
        "12 34",  # groups are of three digits
        "",
    ],
)
def test_read_decimal_refuses_other_text(text: str) -> None:
    with pytest.raises(ValueError):
        values.read_decimal(text)


def test_read_int_accepts_grouped_thousands_and_refuses_fractions() -> None:
    assert values.read_int("1 200") == 1200
    with pytest.raises(ValueError):
        values.read_int("2,5")


# ---------------------------------------------------------------- booleans


@pytest.mark.parametrize("word", ["1", "true", "yes", "oui", "y", "o"])
def test_read_bool_true_words_in_any_case(word: str) -> None:
    assert values.read_bool(word) is True
    assert values.read_bool(word.upper()) is True
    assert values.read_bool(word.capitalize()) is True


@pytest.mark.parametrize("word", ["0", "false", "no", "non", "n"])
def test_read_bool_false_words_in_any_case(word: str) -> None:
    assert values.read_bool(word) is False
    assert values.read_bool(word.upper()) is False
    assert values.read_bool(word.capitalize()) is False


@pytest.mark.parametrize("word", ["maybe", "2", "vrai", "si"])
def test_read_bool_refuses_other_words(word: str) -> None:
    with pytest.raises(ValueError):
        values.read_bool(word)


# ---------------------------------------------------------------- emails and URLs


def test_read_email_trims_and_lower_cases() -> None:
    assert values.read_email("  Anne.Conseil@Example.ORG ") == "anne.conseil@example.org"


@pytest.mark.parametrize(
    "text", ["anne", "anne@", "@example.org", "anne@example", "anne conseil@example.org"]
)
def test_read_email_refuses_malformed_addresses(text: str) -> None:
    with pytest.raises(ValueError):
        values.read_email(text)


def test_read_https_url_accepts_https() -> None:
    assert values.read_https_url("https://centre.whereby.com/max-ba") == "https://centre.whereby.com/max-ba"


@pytest.mark.parametrize(
    "text",
    [
        "http://centre.whereby.com/max-ba",
        "ftp://centre.example.org/x",
        "centre.whereby.com/max-ba",
        "https://",
    ],
)
def test_read_https_url_refuses_anything_but_https(text: str) -> None:
    with pytest.raises(ValueError):
        values.read_https_url(text)


@pytest.mark.parametrize(
    "text",
    [
        # A line break inside a room link would end the .ics line and start a forged one.
        "https://centre.whereby.com/max-ba\r\nATTENDEE:mailto:x@evil.example",
        "https://centre.whereby.com/max-ba\nDESCRIPTION:x",
        "https://centre.whereby.com/max-ba\rX",
        "https://centre.whereby.com/max\tba",
        "https://centre.whereby.com/max\x00ba",
        "https://centre.whereby.com/max\x1bba",
        "https://centre.whereby.com/max\x7fba",
        "https://centre.whereby.com/max\u2028ba",  # Unicode's line separator
        "https://centre.whereby.com/max\u00a0ba",  # a non-breaking space
    ],
)
def test_read_https_url_refuses_control_characters_inside(text: str) -> None:
    with pytest.raises(ValueError, match="caractère de contrôle"):
        values.read_https_url(text)


# ---------------------------------------------------------------- local dates


def test_local_date_and_midnight_use_paris_time() -> None:
    # 23:30 UTC on 13 April is 01:30 on 14 April in Paris (UTC+2).
    assert values.local_date(utc(2020, 4, 13, 23, 30)) == date(2020, 4, 14)
    # Paris midnight of 14 April is 22:00 UTC the day before.
    assert values.local_midnight(date(2020, 4, 14)) == utc(2020, 4, 14) - timedelta(hours=2)
