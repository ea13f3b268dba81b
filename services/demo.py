"""Deterministic demo data: a believable picture of the centre, written through the importer.

Seven sites in Lorraine, about thirty programme offerings, the classic open days of March
2019 and January 2020, the virtual open days of 14–17 April 2020 and a job-dating event in
May 2020; candidates (many minors) whose journeys mix social networks, local newspaper
sites, e-mail campaigns, search and direct visits, each channel converting in its own way.

The centre is described in ``demo_centre``, its rows drawn in ``demo_generator``; here, the
demo accounts, writing the rows (through the importer, or in bulk for the benchmark's scales)
and ending the demo when real data arrives.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.access import accounts
from services.access.accounts import DEMO_DOMAIN, SEED_ACTOR
from services.config import LOCAL_TZ
from services.demo_centre import DEFAULT_CANDIDATES, DEFAULT_SEED, NETWORK_FROM
from services.demo_generator import (
    Builder,
    Generated,
    cell_text,
    server_instants,
    sqlite_instants,
    wall_microseconds,
)
from services.imports.importer import gc_paused, import_rows, record_result
from services.imports.problems import ImportResult, RawRow
from services.store import channels, database
from services.store.contract import SPECS
from services.store.database import bump_data_version, get_engine, write_transaction
from services.store.models import Candidate, Enrollment, ImportRun, Meeting, SsoGroup, StoreState, UtcDateTime
from services.store.values import changed_by_cleaning


@dataclass(frozen=True)
class DemoAccount:
    """A sign-in of the demo, listed on the sign-in page while the store holds demo data only:
    once anything else is stored, ``accounts.end_demo`` disables it (its password is public)."""

    label: str
    email: str
    password: str
    role: str


#: One account per role; the advisor's is tied to the first advisor of the demo.
DEMO_ACCOUNTS = (
    DemoAccount("Direction", f"direction@{DEMO_DOMAIN}", "demo-direction", "director"),
    DemoAccount("Conseiller", f"conseiller@{DEMO_DOMAIN}", "demo-conseiller", "advisor"),
    DemoAccount("Marketing", f"marketing@{DEMO_DOMAIN}", "demo-marketing", "marketing"),
    DemoAccount("Administration", f"admin@{DEMO_DOMAIN}", "demo-administration", "admin"),
)


def _sqlite_instant(moment: datetime) -> str:
    # SQLAlchemy's SQLite storage of UtcDateTime, to the second as the contract files give it.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.000000")


def _server_instant(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _instant_column(values: Sequence, sqlite: bool) -> list:
    """UtcDateTime values as the driver takes them: wall-clock microseconds (an array) or
    Europe/Paris datetimes converted in one vectorised pass; other datetimes one by one."""
    if isinstance(values, np.ndarray):
        return sqlite_instants(values) if sqlite else server_instants(values)
    if all(value is not None and value.tzinfo is LOCAL_TZ for value in values):
        return _instant_column(wall_microseconds(list(values)), sqlite)
    convert = _sqlite_instant if sqlite else _server_instant
    return [None if value is None else convert(value) for value in values]


def _storage_column(column: sa.Column, values: Sequence, sqlite: bool) -> Sequence:
    """A column of generated values as the driver takes them (what SQLAlchemy would bind)."""
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return _instant_column(values, sqlite)
    if sqlite and isinstance(kind, sa.Date):
        return [None if value is None else value.isoformat() for value in values]
    if sqlite and isinstance(kind, sa.Numeric):
        return [None if value is None else float(value) for value in values]
    if isinstance(kind, sa.Integer | sa.Boolean):
        return values
    # Text as the importer stores a file's: without spaces or invisible characters at its ends;
    # the distinct values checked at once (channels, sources, codes repeat over a million rows;
    # references and e-mails need no cleaning), and only those the cleaning changes replaced.
    texts = {value for value in set(values) if isinstance(value, str)}  # dates, decimals stay as they are
    changed = changed_by_cleaning(texts)
    return [changed.get(value, value) for value in values] if changed else values


def _table_columns(
    kind: str,
    names: list[str],
    columns: list[Sequence],
    count: int,
    dialect: str,
    rules: tuple[channels.Rule, ...],
) -> tuple[list[str], list[tuple]]:
    """Columns and plain tuples for the INSERT of one table, from the generator's columns."""
    spec = SPECS[kind]
    names = list(names)
    sqlite = dialect == "sqlite"
    columns = [
        _storage_column(spec.table.c[name], values, sqlite)
        for name, values in zip(names, columns, strict=True)
    ]
    for column in spec.columns:
        if column.name not in names:
            names.append(column.name)
            columns.append([spec.new_row_default(column)] * count)
    if kind == "touchpoints":
        # The channel as the importer derives it: explicit when given, else by the rules.
        channel, explicit, rule = channels.channels_of(
            rules,
            columns[names.index("channel")],
            columns[names.index("utm_source")],
            columns[names.index("utm_medium")],
        )
        columns[names.index("channel")] = channel
        # channel_explicit is a column of the touchpoints file too (an export read back): the
        # derived value replaces its default.
        for name, derived in (("channel_explicit", explicit), ("channel_rule", rule)):
            if name in names:
                columns[names.index(name)] = derived
            else:
                names.append(name)
                columns.append(derived)
    return names, list(zip(*columns, strict=True)) if count else []


def table_rows(
    kind: str, rows: list[dict[str, object]], dialect: str, rules: tuple[channels.Rule, ...]
) -> tuple[list[str], list[tuple]]:
    """The columns and plain tuples that the importer would insert for these generated rows.

    No validation: the generator guarantees valid, unique rows. Columns the rows leave out get
    the contract's default; touchpoints get their channel derived by the rules, as on import.
    """
    if not rows:
        return [], []
    names = list(rows[0])
    columns = [[row[name] for row in rows] for name in names]
    return _table_columns(kind, names, columns, len(rows), dialect, rules)


Table = tuple[str, tuple[list[str], list[tuple]]]


def insert_tables(tables: Iterable[Table], engine: Engine) -> None:
    """``executemany`` of plain tuples, table after table in the order given, in one write
    transaction: every table or none.

    On SQLite, a table's own indexes (``CREATE INDEX``, not those of its UNIQUE constraints,
    which belong to the table) are dropped before its rows and built again after them, from the
    very SQL the migrations stored, in the same transaction: building an index once over sorted
    keys costs less than inserting a million rows into it one by one (docs/performance.md); the
    store ends with the schema a migration gives (tests/test_scale.py)."""
    with write_transaction(engine) as connection:
        for kind, (names, tuples) in tables:
            if not tuples:
                continue
            table = SPECS[kind].table
            try:
                indexes = _drop_indexes(connection, table.name)
                marks = ", ".join("?" if connection.dialect.paramstyle == "qmark" else "%s" for _ in names)
                statement = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"
                connection.exec_driver_sql(statement, tuples)
                for definition in indexes:
                    connection.exec_driver_sql(definition)
            except Exception as error:
                error.add_note(f"écriture en masse de la table {table.name} : échouée, rien n'est écrit")
                raise


def _drop_indexes(connection: sa.Connection, table: str) -> list[str]:
    """Drop a SQLite table's own indexes; their SQL, to build them again (none on PostgreSQL,
    whose bulk load keeps its indexes)."""
    if connection.dialect.name != "sqlite":
        return []
    indexes = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (table,),
    ).all()
    for name, _ in indexes:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    return [definition for _, definition in indexes]


def _write_tables(tables: Iterable[Table], counts: dict[str, int], engine: Engine) -> list[ImportResult]:
    insert_tables(tables, engine)
    results = [
        ImportResult(source=f"démo:{kind}.csv", kind=kind, accepted=True, rows=count, inserted=count)
        for kind, count in counts.items()
    ]
    with write_transaction(engine) as connection:
        bump_data_version(connection)
        for result in results:
            record_result(connection, result, SEED_ACTOR)
    return results


def _check_empty(kinds: Iterable[str], engine: Engine) -> tuple[channels.Rule, ...]:
    if any(_count(engine, SPECS[kind].table) for kind in kinds):
        raise ValueError("l'écriture en masse demande une base vide")
    with engine.connect() as connection:
        return channels.load_rules(connection)


def write_bulk(rows_by_kind: dict[str, list[dict[str, object]]], engine: Engine) -> list[ImportResult]:
    """Write generated rows into an empty store in bulk (no per-row ORM object nor validation)."""
    rules = _check_empty(rows_by_kind, engine)
    dialect = engine.dialect.name
    tables = [(kind, table_rows(kind, rows, dialect, rules)) for kind, rows in rows_by_kind.items()]
    return _write_tables(tables, {kind: len(rows) for kind, rows in rows_by_kind.items()}, engine)


def _write_generated(generated: Generated, engine: Engine) -> list[ImportResult]:
    """``write_bulk`` straight from the generator's columns (no dict per row on the way)."""
    rules = _check_empty(generated.rows, engine)
    dialect = engine.dialect.name
    names = generated.names
    tables = [
        (kind, _table_columns(kind, list(names[kind]), generated.columns(kind), len(rows), dialect, rules))
        for kind, rows in generated.rows.items()
        if rows
    ]
    return _write_tables(tables, {kind: len(rows) for kind, rows in generated.rows.items()}, engine)


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _write_through_importer(
    rows_by_kind: dict[str, list[dict[str, object]]], engine: Engine
) -> list[ImportResult]:
    results = []
    for kind, rows in rows_by_kind.items():
        header = list(rows[0]) if rows else []
        raw = [
            RawRow(line, {name: cell_text(value) for name, value in cells.items()})
            for line, cells in enumerate(rows, start=2)
        ]
        results.append(
            import_rows(kind, header, raw, source=f"démo:{kind}.csv", engine=engine, imported_by=SEED_ACTOR)
        )
    return results


#: Of the demo's seeking candidates, the share who accepted to be presented to companies, and
#: among them the share whose parent did too (needed under 15).
CONSENTING, PARENT_CONSENTING = 0.85, 0.8


def _record_consents(connection: sa.Connection, seed: int) -> None:
    """Record who accepted to be presented to companies at job datings, as advisors would: the
    consents are not in the import files. Most seeking candidates did (a parent too, for most),
    drawn from the seed, so that the demo's job dating can be planned."""
    seeking = (
        sa.select(Enrollment.__table__.c.candidate_ref)
        .where(Enrollment.__table__.c.status.in_(("pre_registered", "enrolled")))
        .distinct()
    )
    # Those the demo's job dating already presented had consented, a parent too.
    met = set(connection.execute(sa.select(Meeting.__table__.c.candidate_ref).distinct()).scalars())
    rnd = random.Random(seed)
    rows = []
    for ref in sorted(set(connection.execute(seeking).scalars()) | met):
        consent = ref in met or rnd.random() < CONSENTING
        parent = ref in met or (consent and rnd.random() < PARENT_CONSENTING)
        rows.append({"_ref": ref, "consent": consent, "parent": parent})
    if rows:
        candidates = Candidate.__table__
        connection.execute(
            candidates.update()
            .where(candidates.c.ref == sa.bindparam("_ref"))
            .values(
                presentation_consent=sa.bindparam("consent"),
                parent_presentation_consent=sa.bindparam("parent"),
            ),
            rows,
        )
        bump_data_version(connection)


def seed_demo(
    candidates: int = DEFAULT_CANDIDATES,
    seed: int = DEFAULT_SEED,
    engine: Engine | None = None,
    bulk: bool | None = None,
) -> list[ImportResult]:
    """Write the demo data and mark the store as demo: through the importer's validation path, or
    in bulk into an empty store (the default from ``NETWORK_FROM`` candidates)."""
    engine = engine or get_engine()
    if bulk is None:
        bulk = candidates > NETWORK_FROM
    # The accounts' passwords are hashed (Argon2, about a second for the four) in another thread
    # while the rows are drawn; a failure there is raised before anything is written.
    with ThreadPoolExecutor(1, thread_name_prefix="seed-passwords") as hasher:
        hashing = hasher.submit(_hashed_passwords)
        with gc_paused():  # millions of rows built: see gc_paused
            generated = Builder(candidates, seed).build()
            passwords = hashing.result()
            if bulk:
                results = _write_generated(generated, engine)
            else:
                results = _write_through_importer(generated.dicts(), engine)
            first_advisor = generated.rows["advisors"][0][generated.names["advisors"].index("email")]
            # Freed now, by reference counting: once resumed, the collector's first passes would
            # walk each of its million tuples, still alive.
            del generated
    if all(result.accepted for result in results):
        with write_transaction(engine) as connection:
            connection.execute(sa.update(StoreState.__table__).values(demo_data=True))
            _record_consents(connection, seed)
        existing = set(accounts.list_accounts(engine)["email"])
        for account in (account for account in DEMO_ACCOUNTS if account.email not in existing):
            accounts.add_account(
                email=account.email,
                role=account.role,
                password=passwords[account.email],
                actor=SEED_ACTOR,
                advisor_email=first_advisor if account.role == "advisor" else None,
                engine=engine,
            )
    return results


def _hashed_passwords() -> dict[str, accounts.HashedPassword]:
    return {
        account.email: accounts.hashed_password(account.password, email=account.email)
        for account in DEMO_ACCOUNTS
    }


def end_if_more_than_demo(engine: Engine | None = None) -> bool:
    """End the demo of a store that holds more than it already (rows imported or synced by
    someone else, a single sign-on group mapped: written before such writes ended the demo by
    themselves), so that its public accounts do not stay open. Whether it ended now."""
    engine = engine or get_engine()
    if not database.holds_demo_data(engine):
        return False
    runs = ImportRun.__table__
    stored_by_others = sa.select(runs.c.id).where(
        runs.c.accepted == sa.true(),
        runs.c.inserted + runs.c.updated > 0,
        sa.or_(runs.c.imported_by.is_(None), runs.c.imported_by != SEED_ACTOR),
    )
    with write_transaction(engine) as connection:
        if connection.execute(stored_by_others.limit(1)).first() is not None:
            reason = "import before this version"
        elif connection.execute(sa.select(SsoGroup.__table__.c.name).limit(1)).first() is not None:
            reason = "sso_group.map before this version"
        else:
            return False
        return accounts.end_demo(connection, actor="startup", reason=reason)
