"""Channel rules: derive a touchpoint's channel from its utm columns, first matching rule wins."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.store import analytics
from services.store.database import bump_data_version, get_engine, write_transaction
from services.store.models import CHANNELS, ChannelRule, Touchpoint


@dataclass(frozen=True)
class Rule:
    """One rule; it matches when any of its conditions holds, or always when it has none."""

    channel: str
    when_untagged: bool = False
    medium_in: tuple[str, ...] = ()
    source_in: tuple[str, ...] = ()
    source_ends_with: tuple[str, ...] = ()
    position: int = field(default=0, compare=False)

    def matches(self, source: str, medium: str) -> bool:
        """Whether a touchpoint with these (trimmed, lower-cased) utm values matches."""
        if not (self.when_untagged or self.medium_in or self.source_in or self.source_ends_with):
            return True
        return (
            (self.when_untagged and not source and not medium)
            or medium in self.medium_in
            or source in self.source_in
            or (bool(source) and source.endswith(self.source_ends_with))
        )


#: The contract's default rules, in order.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("direct", when_untagged=True),
    Rule("email", medium_in=("email", "e-mail", "newsletter", "mail")),
    Rule(
        "social",
        medium_in=("social", "social-paid", "paid_social", "social_media"),
        source_in=(
            "facebook",
            "fb",
            "instagram",
            "ig",
            "linkedin",
            "tiktok",
            "snapchat",
            "youtube",
            "twitter",
            "x",
        ),
    ),
    Rule(
        "newspaper",
        medium_in=("press", "newspaper", "presse"),
        source_ends_with=(
            "estrepublicain.fr",
            "republicain-lorrain.fr",
            "vosgesmatin.fr",
            "lasemaine.fr",
            "lorraineactu.fr",
        ),
    ),
    Rule(
        "search",
        medium_in=("organic", "cpc", "ppc", "paidsearch"),
        source_in=("google", "bing", "qwant", "duckduckgo", "ecosia", "yahoo"),
    ),
    Rule("other"),
)

#: The channel when no rule matches (a rule set without a catch-all).
FALLBACK_CHANNEL = "other"


def derive_channel(
    rules: tuple[Rule, ...], utm_source: str | None, utm_medium: str | None
) -> tuple[str, int | None]:
    """The channel the rules give these utm values, and the position of the rule that matched."""
    source = (utm_source or "").strip().lower()
    medium = (utm_medium or "").strip().lower()
    for rule in rules:
        if rule.matches(source, medium):
            return rule.channel, rule.position
    return FALLBACK_CHANNEL, None


def channels_of(
    rules: tuple[Rule, ...], given: Sequence[str | None], sources: Sequence[str], mediums: Sequence[str]
) -> tuple[list[str], list[bool], list[int | None]]:
    """Each touchpoint's channel, whether it was given (explicit), and the position of the rule
    that derived it otherwise: what the importer stores, worked out once per distinct triple."""
    triples = list(zip(given, sources, mediums, strict=True))
    derived = {}
    for triple in set(triples):
        channel, source, medium = triple
        if channel:
            derived[triple] = (channel, True, None)
        else:
            derived_channel, position = derive_channel(rules, source, medium)
            derived[triple] = (derived_channel, False, position)
    if not triples:
        return [], [], []
    channel, explicit, rule = (list(part) for part in zip(*map(derived.__getitem__, triples), strict=True))
    return channel, explicit, rule


def rule_rows(rules: tuple[Rule, ...]) -> list[dict]:
    """The rules as rows of the channel_rules table, positions 1…n in order."""
    return [
        {
            "position": position,
            "channel": rule.channel,
            "when_untagged": rule.when_untagged,
            "medium_in": json.dumps(list(rule.medium_in)),
            "source_in": json.dumps(list(rule.source_in)),
            "source_ends_with": json.dumps(list(rule.source_ends_with)),
        }
        for position, rule in enumerate(rules, start=1)
    ]


def load_rules(connection: sa.Connection | None = None) -> tuple[Rule, ...]:
    """The stored rules, in order."""
    query = sa.select(ChannelRule.__table__).order_by(ChannelRule.position)
    if connection is None:
        with get_engine().connect() as own:
            rows = own.execute(query).mappings().all()
    else:
        rows = connection.execute(query).mappings().all()
    return tuple(
        Rule(
            channel=row["channel"],
            when_untagged=bool(row["when_untagged"]),
            medium_in=tuple(json.loads(row["medium_in"])),
            source_in=tuple(json.loads(row["source_in"])),
            source_ends_with=tuple(json.loads(row["source_ends_with"])),
            position=row["position"],
        )
        for row in rows
    )


def validate_rules(rules: tuple[Rule, ...]) -> list[str]:
    """Problems that make a rule set unusable (unknown channel); empty when it is fine."""
    return [
        f"règle {position} : canal inconnu « {rule.channel} »"
        for position, rule in enumerate(rules, start=1)
        if rule.channel not in CHANNELS
    ]


def normalise_rule(rule: Rule) -> Rule:
    """The rule with its values trimmed and lower-cased, as they are compared."""

    def clean(values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.strip().lower() for v in values if v.strip()))

    return Rule(
        channel=rule.channel,
        when_untagged=rule.when_untagged,
        medium_in=clean(rule.medium_in),
        source_in=clean(rule.source_in),
        source_ends_with=clean(rule.source_ends_with),
    )


def rederive(connection: sa.Connection, rules: tuple[Rule, ...]) -> int:
    """Re-derive every stored touchpoint without an explicit channel; returns how many changed."""
    table = Touchpoint.__table__
    pairs = connection.execute(
        sa.select(table.c.utm_source, table.c.utm_medium, table.c.channel, table.c.channel_rule)
        .where(table.c.channel_explicit.is_(False))
        .distinct()
    ).all()
    changed = 0
    for source, medium, channel, rule_position in pairs:
        new_channel, new_position = derive_channel(rules, source, medium)
        if (new_channel, new_position) == (channel, rule_position):
            continue
        result = connection.execute(
            table.update()
            .where(
                table.c.channel_explicit.is_(False),
                table.c.utm_source == source,
                table.c.utm_medium == medium,
                table.c.channel == channel,
            )
            .values(channel=new_channel, channel_rule=new_position)
        )
        changed += result.rowcount
    return changed


def derived_groups(engine: Engine | None = None) -> list[tuple[str, str, str, int]]:
    """The derived (not explicit) touchpoints counted by utm_source, utm_medium and channel:
    what ``preview_rules`` works on (one read of every touchpoint, in DuckDB on a SQLite store:
    ``services/store/analytics.py``)."""
    table = Touchpoint.__table__
    tags = (table.c.utm_source, table.c.utm_medium, table.c.channel)
    query = sa.select(*tags, sa.func.count().label("touchpoints")).where(table.c.channel_explicit.is_(False))
    frame = analytics.read_frame(query.group_by(*tags), engine)
    rows = frame.itertuples(index=False)
    return [(source, medium, channel, int(count)) for source, medium, channel, count in rows]


def preview_rules(
    rules: tuple[Rule, ...], groups: list[tuple[str, str, str, int]]
) -> dict[tuple[str, str], int]:
    """How many derived touchpoints (``derived_groups``) would move from one channel to another
    under ``rules``."""
    rules = tuple(
        Rule(**{**normalise_rule(rule).__dict__, "position": position})
        for position, rule in enumerate(rules, start=1)
    )
    moves: dict[tuple[str, str], int] = {}
    for source, medium, channel, count in groups:
        new_channel, _ = derive_channel(rules, source, medium)
        if new_channel != channel:
            moves[(channel, new_channel)] = moves.get((channel, new_channel), 0) + count
    return moves


def save_rules(rules: tuple[Rule, ...], engine: Engine | None = None) -> int:
    """Replace the stored rules and re-derive the touchpoints they govern, in one transaction."""
    rules = tuple(normalise_rule(rule) for rule in rules)
    problems = validate_rules(rules)
    if problems:
        raise ValueError("; ".join(problems))
    if not rules:
        raise ValueError("il faut au moins une règle (la dernière peut tout classer en « other »)")
    try:
        with write_transaction(engine) as connection:
            connection.execute(ChannelRule.__table__.delete())
            connection.execute(ChannelRule.__table__.insert(), rule_rows(rules))
            changed = rederive(connection, load_rules(connection))
            bump_data_version(connection)
    except sa.exc.IntegrityError:
        # The channel is part of a touchpoint's key: two visits would become the same one.
        raise ValueError(
            "ces règles rendraient deux visites identiques (même candidat, heure, canal, source et "
            "campagne) : rien n'a été changé"
        ) from None
    return changed


def rules_frame(rules: tuple[Rule, ...]) -> pd.DataFrame:
    """The rules as an editable table (lists as comma-separated text), in order."""
    return pd.DataFrame(
        [
            {
                "channel": rule.channel,
                "when_untagged": rule.when_untagged,
                "medium_in": ", ".join(rule.medium_in),
                "source_in": ", ".join(rule.source_in),
                "source_ends_with": ", ".join(rule.source_ends_with),
            }
            for rule in rules
        ],
        columns=["channel", "when_untagged", "medium_in", "source_in", "source_ends_with"],
    )


def rules_from_frame(frame: pd.DataFrame) -> tuple[Rule, ...]:
    """Rules read back from an edited table (rows without a channel are dropped), positions 1…n."""

    def values(text: object) -> tuple[str, ...]:
        return tuple(part for part in str(text or "").split(",") if part.strip())

    rules = []
    for row in frame.to_dict("records"):
        if not row.get("channel") or (isinstance(row["channel"], float)):
            continue
        rule = normalise_rule(
            Rule(
                str(row["channel"]),
                bool(row.get("when_untagged") or False),
                values(row.get("medium_in")),
                values(row.get("source_in")),
                values(row.get("source_ends_with")),
            )
        )
        rules.append(Rule(**{**rule.__dict__, "position": len(rules) + 1}))
    return tuple(rules)
