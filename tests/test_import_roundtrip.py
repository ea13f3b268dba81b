"""The data page's export of a contract table, re-imported, changes nothing (issue 17, item 5).

Before, 6,853 of the demo's 7,214 touchpoints had their derived channel made explicit by a
re-import of their own export (the export writes the channel a rule gave, the import took any
channel written as given), so they stopped following changes of the channel rules. The export
also writes ``channel_explicit``; the import derives again the channels it says were derived.
"""

from __future__ import annotations

import sqlalchemy as sa

from services.documents import exports
from services.imports.importer import import_bytes
from services.store import channels
from services.store.contract import IMPORT_ORDER
from services.store.models import SQLModel, Touchpoint
from tests.conftest import load


def dump(engine) -> dict[str, list[tuple]]:
    """Every row of every contract table, ids and versions included, in id order."""
    tables = SQLModel.metadata.tables
    with engine.connect() as connection:
        return {
            name: connection.execute(sa.select(tables[name]).order_by(tables[name].c.id)).all()
            for name in IMPORT_ORDER
        }


def export_files(engine) -> dict[str, bytes]:
    """Each contract table as the data page's CSV download gives it."""
    return {name: exports.to_csv(exports.table_frame(name, engine)) for name in IMPORT_ORDER}


def derived_count(engine) -> int:
    table = Touchpoint.__table__
    with engine.connect() as connection:
        query = sa.select(sa.func.count()).where(table.c.channel_explicit.is_(False))
        return connection.execute(query).scalar_one()


def test_every_exported_contract_table_reimports_to_nothing_changed(demo_store):
    before = dump(demo_store)
    assert derived_count(demo_store) > 1_000  # the demo derives most touchpoints' channels
    files = export_files(demo_store)
    results = [import_bytes(files[name], source=f"{name}.csv", engine=demo_store) for name in IMPORT_ORDER]
    assert [(r.kind, r.accepted, r.inserted, r.updated) for r in results] == [
        (name, True, 0, 0) for name in IMPORT_ORDER
    ]
    assert all(r.unchanged == len(before[r.kind]) for r in results)
    assert dump(demo_store) == before


def test_an_old_export_after_a_rule_change_matches_the_rederived_rows(scenario):
    export = exports.to_csv(exports.table_frame("touchpoints", scenario))
    before_rows = dump(scenario)["touchpoints"]
    # Rule 1 (untagged → direct) now says "other": CB's untagged visit is re-derived "other".
    rules = tuple(
        channels.Rule("other", when_untagged=True) if rule.when_untagged else rule
        for rule in channels.DEFAULT_RULES
    )
    changed = channels.save_rules(rules, scenario)
    assert changed >= 1
    after_rules = dump(scenario)["touchpoints"]
    assert after_rules != before_rows
    # The export still says "direct" for that visit, but marks it derived: derived again, the
    # visit keeps its key, nothing is added nor updated.
    result = import_bytes(export, source="touchpoints.csv", engine=scenario)
    assert (result.accepted, result.inserted, result.updated) == (True, 0, 0)
    assert dump(scenario)["touchpoints"] == after_rules


def test_an_explicit_channel_still_stays_explicit(scenario):
    data = (
        b"candidate_ref,occurred_at,channel,channel_explicit,utm_source\n"
        b"CA,2020-05-01 10:00,search,true,facebook\n"
        b"CB,2020-05-01 10:00,search,,facebook\n"
        b"CC,2020-05-01 10:00,search,false,facebook\n"
    )
    result = import_bytes(data, source="touchpoints.csv", engine=scenario)
    assert result.accepted and result.inserted == 3
    table = Touchpoint.__table__
    with scenario.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.candidate_ref, table.c.channel, table.c.channel_explicit)
            .where(table.c.occurred_at >= sa.literal("2020-05-01"))
            .order_by(table.c.candidate_ref)
        ).all()
    # true or empty: the channel written is kept; false: derived (facebook → social by rule 3).
    assert [tuple(row) for row in rows] == [
        ("CA", "search", True),
        ("CB", "search", True),
        ("CC", "social", False),
    ]


def test_explicit_without_a_channel_is_refused(scenario):
    data = b"candidate_ref,occurred_at,channel,channel_explicit\nCA,2020-05-01 10:00,,oui\n"
    result = import_bytes(data, source="touchpoints.csv", engine=scenario)
    assert result.describe_problems() == [
        "touchpoints.csv:2: channel_explicit: oui: canal explicite sans valeur dans la colonne channel"
    ]


def test_values_an_export_protects_from_spreadsheets_read_back_unchanged(engine):
    # The export puts a ' before a cell or a line that starts a formula (=, +, -, @); read back,
    # that ' (Excel's text marker, which Excel drops too) is not part of the value.
    load("sites", 'code,name\nMAX,-Maxéville-\nYUT,"=Yutz\n@Thionville"\n')
    before = dump(engine)["sites"]
    export = exports.to_csv(exports.table_frame("sites", engine))
    assert b"'-Max" in export and b"'=Yutz" in export and b"'@Thionville" in export
    result = import_bytes(export, source="sites.csv", engine=engine)
    assert (result.accepted, result.inserted, result.updated) == (True, 0, 0)
    assert dump(engine)["sites"] == before


def test_an_instant_of_the_hour_that_comes_twice_reads_back_unchanged(engine):
    # 25 October 2020, clocks went back at 03:00 (CEST) to 02:00 (CET): 02:30 came twice, at
    # 00:30 and at 01:30 UTC. Exported without offset, both would read back as one of them.
    load("sites", "code,name\nMAX,Maxéville\n")
    load(
        "candidates",
        "ref,created_at\nA,2020-10-25 00:30:00Z\nB,2020-10-25 01:30:00Z\nC,2020-10-25 12:00:00Z\n",
    )
    before = dump(engine)["candidates"]
    export = exports.to_csv(exports.table_frame("candidates", engine)).decode("utf-8-sig")
    assert "2020-10-25 02:30:00+02:00" in export and "2020-10-25 02:30:00+01:00" in export
    assert "2020-10-25 13:00:00;" in export or "2020-10-25 13:00:00\r" in export  # no offset
    result = import_bytes(export.encode(), source="candidates.csv", engine=engine)
    assert (result.accepted, result.inserted, result.updated) == (True, 0, 0)
    assert dump(engine)["candidates"] == before
