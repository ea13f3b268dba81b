"""Cell readers against the contract's "General rules": every accepted format, every refusal."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.config import LOCAL_TZ
from services.store import values


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


# ---------------------------------------------------------------- issue 17: hostile values
# Each test below imports through the real importer (``import_bytes``) where the rule is about
# what reaches the store, and says what today's code did.

import sqlalchemy as sa  # noqa: E402

from services.imports.importer import check_files, import_bytes  # noqa: E402
from services.store import contract  # noqa: E402
from services.store.models import Campaign, Company, ImportRun, Site  # noqa: E402
from tests.conftest import load  # noqa: E402


def _refused(kind: str, text: str) -> list[str]:
    """Import ``text`` as ``kind``; the problems of a refusal (fails the test if accepted)."""
    result = import_bytes(text.encode("utf-8"), source=f"{kind}.csv")
    assert not result.accepted, f"{kind}.csv accepted"
    return result.describe_problems()


def _rows(engine, table: sa.Table) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.select(table).order_by(*table.primary_key))]


# -- item 4: invisible characters


@pytest.mark.parametrize(
    "text",
    [
        "\ufeffMAX",  # a BOM that Excel left on a row
        "MAX\u200b",  # zero-width space
        "\u00a0MAX\u202f",  # non-breaking and narrow non-breaking spaces
        "\u2003MAX\u2060",  # em space, word joiner
        "\u200e MAX \u200f",  # bidirectional marks
    ],
)
def test_clean_text_strips_invisible_characters_and_unicode_spaces_at_the_ends(text: str) -> None:
    assert values.clean_text(text) == "MAX"
    assert values.read_code(text) == "MAX"


def test_clean_text_composes_to_nfc() -> None:
    # "e" + combining acute accent (what macOS writes) is the same name as "é".
    assert values.clean_text("Maxe\u0301ville") == "Maxéville"


@pytest.mark.parametrize("text", ["\u200b", "\ufeff", "\u200b\u200c\u200d\u2060", "\u3164"])
def test_read_code_refuses_a_code_of_invisible_characters_only(text: str) -> None:
    with pytest.raises(ValueError, match="code vide"):
        values.read_code(text)


@pytest.mark.parametrize("text", ["MA\u200bX", "MA\ufeffX", "MA\tX", "MA\x00X", "MA\u00a0X", "MA\u2028X"])
def test_read_code_refuses_invisible_or_control_characters_inside(text: str) -> None:
    with pytest.raises(ValueError, match="invisible ou de contrôle"):
        values.read_code(text)


def test_a_bom_before_a_code_updates_the_site_instead_of_adding_a_second_one(engine) -> None:
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    # Today: a second site whose code is "\ufeffMAX", shown as MAX.
    result = load("sites", "code,name\n\ufeffMAX,Maxéville \u00a0\n", engine)
    assert (result.inserted, result.unchanged) == (0, 1)
    assert [row[1:3] for row in _rows(engine, Site.__table__)] == [("MAX", "Maxéville")]


def test_a_code_made_of_zero_width_spaces_is_refused_at_its_line_and_column(engine) -> None:
    problems = _refused("sites", "code,name\nMAX,Maxéville\n\u200b,Zéro\nA\u200bB,Deux\n")
    assert problems[0].startswith("sites.csv:3: code: ") and "code vide" in problems[0]
    assert problems[1].startswith("sites.csv:4: code: ") and "U+200B" in problems[1]
    assert _rows(engine, Site.__table__) == []


def test_an_optional_reference_of_invisible_characters_is_refused_not_taken_as_empty(engine) -> None:
    problems = _refused("campaigns", "code,name,channel,event_code\nK1,Kermesse,email,\u200b\u200b\n")
    assert problems[0].startswith("campaigns.csv:2: event_code: ") and "code vide" in problems[0]


# -- item 6: integers and date-times beyond what the store holds


def test_every_integer_column_of_the_contract_is_an_integer_column_the_bound_fits() -> None:
    # values.MAX_INT is PostgreSQL's INTEGER (SQLite's INTEGER holds 64 bits): a BIGINT column
    # would need a bigger bound, a smaller type a smaller one.
    for spec in contract.FILES:
        for column in spec.columns:
            try:
                typed = column.read("1")
            except ValueError:
                continue
            if type(typed) is int:
                assert type(spec.table.c[column.name].type) is sa.Integer, (spec.kind, column.name)
    assert values.MAX_INT == 2**31 - 1


@pytest.mark.postgresql
def test_integers_are_bounded_to_what_the_column_holds_on_every_engine(engine) -> None:
    # Today 2**63 passed validation and the write crashed (a traceback, nothing in the history).
    for number in (2**31, 2**63, 2**64 + 1, 10**30):
        problems = _refused("campaigns", f"code,name,channel,sent\nK1,Kermesse,email,{number}\n")
        limit = "au plus 2\u202f147\u202f483\u202f647"
        assert problems == [f"campaigns.csv:2: sent: {number}: nombre trop grand : {limit}"]
    with engine.connect() as connection:
        history = connection.execute(sa.select(ImportRun.__table__.c.accepted)).scalars().all()
    assert history == [False] * 4  # each refusal is in the import history
    load("campaigns", f"code,name,channel,sent\nK1,Kermesse,email,{2**31 - 1}\n", engine)
    with engine.connect() as connection:
        assert connection.execute(sa.select(Campaign.__table__.c.sent)).scalar_one() == 2**31 - 1


@pytest.mark.parametrize(
    "cell",
    [
        "9999-12-31 23:30-01:00",  # today: OverflowError once moved to UTC
        "9999-12-31 23:30:00",  # the plain form the importer reads itself
        "2201-01-01 10:00:00",
        "2200-12-31 23:30-01:00",  # 2201 in UTC
        "0001-01-01 00:05:00",  # today: OverflowError (Paris's 1st-century offset)
        "1899-12-31 23:00",
        "31/12/9999 23:59",
    ],
)
@pytest.mark.parametrize("kind", ["candidates", "enrollments"])  # as SQLite text, and as datetimes
def test_date_times_outside_the_years_1900_to_2200_are_refused_at_validation(engine, cell, kind) -> None:
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load("programs", "code,name,site_code\nBTS,BTS,MAX\n", engine)
    if kind == "candidates":
        text, column = f"ref,created_at\nC1,{cell}\n", "created_at"
    else:
        load("candidates", "ref,created_at\nC1,2020-01-01 10:00\n", engine)
        text, column = f"candidate_ref,program_code,site_code,enrolled_at\nC1,BTS,MAX,{cell}\n", "enrolled_at"
    problems = _refused(kind, text)
    assert len(problems) == 1 and problems[0].startswith(f"{kind}.csv:2: {column}: {cell}: ")
    assert "1900 à 2200" in problems[0]


def test_the_data_page_check_refuses_an_overflowing_date_time_too(engine) -> None:
    # Today the check said "accepted", then the import crashed.
    [result] = check_files([("candidates.csv", "candidates", b"ref,created_at\nC1,9999-12-31 23:30-01:00\n")])
    assert not result.accepted
    assert result.describe_problems()[0].startswith("candidates.csv:2: created_at: ")


@pytest.mark.parametrize("text", ["1900-01-01 12:00", "2200-12-31 22:00Z", "2200-06-01 10:00:00"])
def test_date_times_at_the_ends_of_the_range_are_accepted(text: str) -> None:
    assert values.FIRST_YEAR <= values.read_datetime(text).year <= values.LAST_YEAR


@pytest.mark.parametrize("text", ["9999-12-31", "0001-01-01", "31/12/2201", "1899-12-31"])
def test_dates_outside_the_years_1900_to_2200_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="1900 à 2200"):
        values.read_date(text)


# -- item 7: amounts


def test_the_amount_bounds_are_the_columns_numeric_precision_and_scale() -> None:
    column_type = Campaign.__table__.c.spend_eur.type
    assert (column_type.precision, column_type.scale) == (values.AMOUNT_DIGITS, values.AMOUNT_PLACES)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1" + "0" * 309, "montant trop grand"),  # today: stored as Inf
        ("123456789012345678,99", "montant trop grand"),  # today: silently rounded
        ("1 000 000 000 000", "montant trop grand"),
        ("12,345", "au plus 2 décimales"),
        ("0,001", "au plus 2 décimales"),
    ],
)
def test_read_decimal_refuses_what_the_amount_column_would_not_hold_exactly(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        values.read_decimal(text)


@pytest.mark.postgresql
def test_the_largest_amount_is_stored_exactly(engine) -> None:
    problems = _refused("campaigns", f"code,name,channel,spend_eur\nK1,K,email,{'1' + '0' * 309}\n")
    assert problems[0].startswith("campaigns.csv:2: spend_eur: ") and "montant trop grand" in problems[0]
    text = "code;name;channel;spend_eur\nK1;K;email;999 999 999 999,99\nK2;K;email;12,50\n"
    load("campaigns", text, engine)
    spend = Campaign.__table__.c.spend_eur
    with engine.connect() as connection:
        stored = connection.execute(sa.select(spend).order_by("code")).scalars().all()
    assert stored == [Decimal("999999999999.99"), Decimal("12.50")]


# -- item 8: SIRET


@pytest.mark.parametrize(
    "siret",
    [
        "١٢٣٤٥٦٧٨٩٠١٢٣٤",  # Arabic-Indic digits: str.isdigit() is true
        "１２３４５６７８９０１２３４",  # full-width digits
        "1234567890123\u0663",
    ],
)
def test_a_siret_of_other_digits_than_0_to_9_is_refused(engine, siret: str) -> None:
    problems = _refused("companies", f"siret,name\n{siret},Acme\n")
    assert problems == [f"companies.csv:2: siret: {siret}: chiffre autre que 0-9 dans un code"]
    assert _rows(engine, Company.__table__) == []


def test_a_siret_of_ascii_digits_is_accepted(engine) -> None:
    load("companies", "siret,name\n12345678901234,Acme\n", engine)


def test_the_siret_reader_itself_takes_ascii_digits_only() -> None:
    # Whatever reads the cell before it (the codes' cleaning), the SIRET's own check holds.
    from services.store.contract import _digits

    with pytest.raises(ValueError, match="14 chiffres"):
        _digits(14, "SIRET")("١٢٣٤٥٦٧٨٩٠١٢٣٤")
    assert _digits(14, "SIRET")("12345678901234") == "12345678901234"


# -- item 9: the e-mail check is linear


def test_read_email_refuses_invisible_characters_and_over_long_addresses() -> None:
    for text in ["a\u200b@x.fr", "a@x\u00a0y.fr", "a@x.fr\u0000"]:
        with pytest.raises(ValueError):
            values.read_email(text)
    with pytest.raises(ValueError, match="trop longue"):
        values.read_email("a" * 250 + "@x.fr")


def test_the_email_check_is_linear_on_hostile_cells() -> None:
    # The former pattern ^[^@\s]+@[^@\s]+\.[^@\s]+$ backtracked at every dot of the domain:
    # 0.17 s for one 4,000-character cell, and 4 times more each time the length doubles. The
    # cells below hold 10 million characters in all, in cells of 4,000 (the importer's limit)
    # and of 1,000,000: a quadratic check would take hours on them (about 0.17 s × 2,000 cells,
    # then 0.17 s × 250² for the long one); a linear one takes well under a second.
    hostile = ["a@" + "." * (3_997 - len(str(i))) + "@" + str(i) for i in range(2_000)]
    hostile += ["a@" + "a." * 1_998 + " x", "a@" + "." * 999_996 + "@x"]
    for cell in hostile:
        with pytest.raises(ValueError, match="invalide"):
            values.read_email(cell)
    assert len(hostile[0]) == contract.MAX_CELL_CHARS


# ---------------------------------------------------------------- cleaning many texts at once


_TEXTS = st.text(alphabet=st.sampled_from("ab'= \t\n\r\x00\x1f\x0b\u00a0\ufeffé\u0301"), max_size=6)


@given(st.sets(_TEXTS, max_size=8))
def test_changed_by_cleaning_is_clean_text_of_each(texts):
    # The one-pass check over the joined texts may only skip texts that clean_text leaves as they
    # are: the texts it changes are exactly those, with clean_text's result.
    expected = {text: values.clean_text(text) for text in texts if values.clean_text(text) != text}
    assert values.changed_by_cleaning(texts) == expected


def test_changed_by_cleaning_of_generated_references_is_empty():
    # References, e-mails and phones as the generator writes them: nothing to clean, in one pass.
    texts = {f"C{number:05d}" for number in range(1000)} | {"lea.martin1@exemple.fr", "06 12 34 56 78"}
    assert values.changed_by_cleaning(texts) == {}
    # One value with a space at its end among them is found.
    assert values.changed_by_cleaning(texts | {"Facebook "}) == {"Facebook ": "Facebook"}
