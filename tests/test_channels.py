"""Channel rules: the contract's defaults, stored as data, and re-derivation when they change."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.store.channels import (
    DEFAULT_RULES,
    Rule,
    derive_channel,
    derived_groups,
    load_rules,
    preview_rules,
    save_rules,
)
from services.store.database import data_version
from services.store.models import Touchpoint
from tests.conftest import load

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL


@pytest.mark.parametrize(
    ("source", "medium", "channel", "rule"),
    [
        ("", "", "direct", 1),
        ("  ", None, "direct", 1),
        ("newsletter", "email", "email", 2),
        ("x", " E-Mail ", "email", 2),
        ("facebook", "email", "email", 2),  # rule 2 comes before rule 3
        ("anything", "paid_social", "social", 3),
        (" Facebook ", "", "social", 3),
        ("X", "referral", "social", 3),
        ("lorraineactu.fr", "", "newspaper", 4),
        ("www.estrepublicain.fr", "display", "newspaper", 4),
        ("blog", "presse", "newspaper", 4),
        ("google", "organic", "search", 5),
        ("Qwant", "", "search", 5),
        ("", "cpc", "search", 5),
        ("radio", "offline", "other", 6),
        ("estrepublicain.fr.evil.com", "", "other", 6),  # ends with, not contains
    ],
)
def test_default_rules(source, medium, channel, rule):
    rules = tuple(Rule(**{**r.__dict__, "position": i}) for i, r in enumerate(DEFAULT_RULES, start=1))
    assert derive_channel(rules, source, medium) == (channel, rule)


def test_the_store_starts_with_the_default_rules(engine):
    stored = load_rules()
    assert [rule.channel for rule in stored] == [rule.channel for rule in DEFAULT_RULES]
    assert stored == DEFAULT_RULES  # positions do not take part in equality


def _channels(engine) -> dict[tuple[str, str], tuple[str, bool]]:
    table = Touchpoint.__table__
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.candidate_ref, table.c.utm_source, table.c.channel, table.c.channel_explicit)
        )
        return {(ref, source): (channel, explicit) for ref, source, channel, explicit in rows}


def test_editing_rules_rederives_exactly_the_touchpoints_without_explicit_channel(engine):
    load("candidates", "ref,created_at\nA,2020-04-01 10:00\n", engine)
    load(
        "touchpoints",
        "candidate_ref,occurred_at,channel,utm_source,utm_medium\n"
        "A,2020-04-01 10:00,,lemag.fr,display\n"  # derived: other (rule 6)
        "A,2020-04-02 10:00,other,lemag2.fr,display\n"  # explicit other: must stay
        "A,2020-04-03 10:00,,facebook,social\n",
        engine,
    )  # derived social: unaffected by the change
    assert _channels(engine)[("A", "lemag.fr")] == ("other", False)
    # Marketing adds lemag.fr and lemag2.fr to the newspaper sites.
    rules = list(load_rules())
    newspaper = next(i for i, rule in enumerate(rules) if rule.channel == "newspaper")
    rules[newspaper] = Rule(
        "newspaper",
        medium_in=rules[newspaper].medium_in,
        source_ends_with=(*rules[newspaper].source_ends_with, "LeMag.fr ", "lemag2.fr"),
    )
    assert preview_rules(tuple(rules), derived_groups()) == {("other", "newspaper"): 1}
    version = data_version(engine)
    assert save_rules(tuple(rules)) == 1
    assert _channels(engine) == {
        ("A", "lemag.fr"): ("newspaper", False),
        ("A", "lemag2.fr"): ("other", True),
        ("A", "facebook"): ("social", False),
    }
    assert data_version(engine) > version
    # New imports use the stored rules too.
    load("touchpoints", "candidate_ref,occurred_at,utm_source\nA,2020-04-05 10:00,www.lemag.fr\n", engine)
    assert _channels(engine)[("A", "www.lemag.fr")] == ("newspaper", False)


def test_rules_with_an_unknown_channel_are_refused_and_nothing_changes(engine):
    with pytest.raises(ValueError, match="canal inconnu"):
        save_rules((Rule("radio"),))
    assert load_rules() == DEFAULT_RULES


def test_rules_that_would_merge_two_visits_are_refused_cleanly(engine):
    load("candidates", "ref,created_at\nA,2020-04-01 10:00\n", engine)
    load(
        "touchpoints",
        "candidate_ref,occurred_at,channel,utm_source\n"
        "A,2020-04-01 10:00,social,foo\n"  # explicit social
        "A,2020-04-01 10:00,,foo\n",
        engine,
    )  # derived: other
    rules = list(load_rules())
    rules.insert(0, Rule("social", source_in=("foo",)))
    with pytest.raises(ValueError, match="identiques"):
        save_rules(tuple(rules))
    assert load_rules() == DEFAULT_RULES
    with pytest.raises(ValueError, match="au moins une règle"):
        save_rules(())
