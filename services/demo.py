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

import multiprocessing
import os
import queue
import random
import signal
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from multiprocessing.reduction import ForkingPickler

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.access import accounts
from services.access.accounts import DEMO_DOMAIN, SEED_ACTOR
from services.config import LOCAL_TZ
from services.demo_centre import DEFAULT_CANDIDATES, DEFAULT_SEED, NETWORK_FROM
from services.demo_generator import (
    Builder,
    cell_text,
    server_instants,
    sqlite_instants,
    wall_microseconds,
)
from services.imports.importer import gc_paused, import_rows, record_result
from services.imports.problems import ImportResult, RawRow
from services.store import channels, database
from services.store.contract import IMPORT_ORDER, SPECS
from services.store.database import bump_data_version, get_engine, write_transaction
from services.store.models import (
    Candidate,
    Enrollment,
    ImportRun,
    Meeting,
    SsoGroup,
    StoreState,
    UtcDateTime,
)
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
    """``executemany`` of plain tuples in the order given, a table in one part or several (as
    the rows are drawn: ``seed_demo``), in one write transaction: every table or none.

    On SQLite, a table's own indexes (``CREATE INDEX``, not those of its UNIQUE constraints,
    which belong to the table) are dropped before its first rows and built again after the
    last table, from the very SQL the migrations stored, in the same transaction: building an
    index once over sorted keys costs less than inserting a million rows into it one by one
    (docs/performance.md); the store ends with the schema a migration gives
    (tests/test_scale.py)."""
    with write_transaction(engine) as connection:
        dropped: dict[str, list[str]] = {}
        for kind, (names, tuples) in tables:
            if not tuples:
                continue
            table = SPECS[kind].table
            with _naming_the_table(table.name):
                if table.name not in dropped:
                    dropped[table.name] = _drop_indexes(connection, table.name)
                marks = ", ".join("?" if connection.dialect.paramstyle == "qmark" else "%s" for _ in names)
                statement = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"
                connection.exec_driver_sql(statement, tuples)
        for name, indexes in dropped.items():
            with _naming_the_table(name):
                for definition in indexes:
                    connection.exec_driver_sql(definition)


@contextmanager
def _naming_the_table(name: str) -> Iterator[None]:
    try:
        yield
    except Exception as error:
        error.add_note(f"écriture en masse de la table {name} : échouée, rien n'est écrit")
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


def _write_tables(tables: Iterable[Table], engine: Engine) -> list[ImportResult]:
    """``insert_tables``, then one import recorded per contract file (none of whose rows is
    checked: the generator guarantees valid, unique rows)."""
    counts = dict.fromkeys(IMPORT_ORDER, 0)

    def counted() -> Iterator[Table]:
        for kind, (names, tuples) in tables:
            counts[kind] += len(tuples)
            yield kind, (names, tuples)

    insert_tables(counted(), engine)
    results = [
        ImportResult(source=f"démo:{kind}.csv", kind=kind, accepted=True, rows=count, inserted=count)
        for kind, count in counts.items()
    ]
    with write_transaction(engine) as connection:
        bump_data_version(connection)
        for result in results:
            record_result(connection, result, SEED_ACTOR)
    return results


def _check_empty(engine: Engine) -> tuple[channels.Rule, ...]:
    if any(_count(engine, SPECS[kind].table) for kind in IMPORT_ORDER):
        raise ValueError("l'écriture en masse demande une base vide")
    with engine.connect() as connection:
        return channels.load_rules(connection)


class SeedError(RuntimeError):
    """The demo's rows could not be drawn (their process failed or stopped): nothing is written."""


@dataclass(frozen=True)
class _Failure:
    """What the drawing process sends instead of its next rows when it fails."""

    drawing: str
    error: str
    details: str


def _drawn_tables(
    candidates: int, seed: int, dialect: str, rules: tuple[channels.Rule, ...]
) -> Iterator[list[Table]]:
    """The tables of each part of the demo's rows (``Builder.parts``), converted for the driver."""
    for part in Builder(candidates, seed).parts():
        tables = []
        for kind, rows in part.rows.items():
            if rows:
                names, columns = list(part.names[kind]), part.columns(kind)
                try:
                    tables.append((kind, _table_columns(kind, names, columns, len(rows), dialect, rules)))
                except Exception as error:
                    error.add_note(f"conversion de la table {SPECS[kind].table.name}")
                    raise
        yield tables


def _bulk_tables(candidates: int, seed: int, engine: Engine) -> AbstractContextManager[Iterator[Table]]:
    """The demo's tables for an empty store, part after part: drawn by another process while
    this one writes; drawn here if this process may use one processor only (the rows' transfer
    would add its cost to the same processor: docs/performance.md), or where the system says
    nothing of it or cannot fork (macOS, Windows: a developer's machine)."""
    rules = _check_empty(engine)
    if _processors() > 1 and "fork" in multiprocessing.get_all_start_methods():
        return _drawn_in_a_process(candidates, seed, engine.dialect.name, rules)
    return nullcontext(chain.from_iterable(_drawn_tables(candidates, seed, engine.dialect.name, rules)))


def _processors() -> int:
    """The processors this process may use (Linux); 1 where the system does not say."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


#: Parts the drawing process may have drawn and not yet sent (about 2 MB each at 5,000 candidates).
PARTS_AHEAD = 8


def _draw_parts(
    reader: multiprocessing.connection.Connection,
    writer: multiprocessing.connection.Connection,
    candidates: int,
    seed: int,
    dialect: str,
    rules: tuple[channels.Rule, ...],
) -> None:
    """In the drawing process: each part of the rows (``Builder.parts``), its tables converted
    for the driver (``_table_columns``), sent as soon as drawn; then ``None``, or a ``_Failure``."""
    # The parent's end, copied by the fork: closed, so that once the parent is gone (killed
    # included) sending fails and this process ends instead of drawing for no one.
    reader.close()
    outbox = _Outbox(writer)
    drawing = "le tirage des sites, formations, conseillers, opérations et campagnes"
    drawn = 0
    try:
        with gc_paused():  # paused in the parent too (copied by the fork): said here
            for tables in _drawn_tables(candidates, seed, dialect, rules):
                outbox.put(tables)
                drawn += sum(len(tuples) for kind, (_, tuples) in tables if kind == "candidates")
                drawing = (
                    f"le tirage des candidats à partir du n° {drawn + 1} (et de leurs contacts, rendez-vous…)"
                    if drawn < candidates
                    else "le tirage des entreprises, offres et rencontres du job dating"
                )
        outbox.put(None)  # all drawn
    except BaseException as error:  # whatever it is, the parent says it and writes nothing
        what = "; ".join([f"{type(error).__name__}: {error}", *getattr(error, "__notes__", ())])
        failure = _Failure(drawing, what, "".join(traceback.format_exception(error)))
        try:
            outbox.put(failure)
        except OSError:  # the parent is gone
            pass
    finally:
        outbox.close()


class _Outbox:
    """The drawing process's messages, pickled as they are made and written to the pipe by a
    thread of their own (the GIL released while it writes): drawing goes on, up to
    ``PARTS_AHEAD`` parts ahead, while the seed's process writes a part, instead of waiting for
    it to read each one (docs/performance.md)."""

    def __init__(self, writer: multiprocessing.connection.Connection) -> None:
        self._queue: queue.Queue[memoryview | None] = queue.Queue(PARTS_AHEAD)
        self._sender = threading.Thread(target=self._send_all, args=(writer,), name="seed-send", daemon=True)
        self._sender.start()

    def _send_all(self, writer: multiprocessing.connection.Connection) -> None:
        try:
            while (data := self._queue.get()) is not None:
                writer.send_bytes(data)
        except OSError:  # the seed's process is gone: ``put`` sees this thread ended
            pass
        finally:
            writer.close()

    def put(self, message: object) -> None:
        """Queue a message; ``BrokenPipeError`` once the seed's process no longer reads."""
        self._put(ForkingPickler.dumps(message))

    def _put(self, data: memoryview | None) -> None:
        while self._sender.is_alive():
            try:
                self._queue.put(data, timeout=0.1)
                return
            except queue.Full:
                continue
        raise BrokenPipeError("le processus du seed ne lit plus les lignes tirées")

    def close(self) -> None:
        """Wait until every message queued is written (or the seed's process is gone)."""
        try:
            self._put(None)
        except BrokenPipeError:
            pass
        self._sender.join()


@contextmanager
def _drawn_in_a_process(
    candidates: int, seed: int, dialect: str, rules: tuple[channels.Rule, ...]
) -> Iterator[Iterator[Table]]:
    """The demo's tables, part after part, as another process draws and converts them
    (``_draw_parts``): this one writes a part while the next is drawn (docs/performance.md).

    Iterating raises ``SeedError`` if that process fails or stops before the last part; on
    leaving, the process is ended if it still runs, and waited for: it never outlives the seed.
    Forked (its start costs nothing, the generator's modules already imported), before any other
    thread of the seed starts: a fork copies only the thread that forks, and a lock another
    thread held at that moment would stay taken in the child. Hence a bulk seed belongs to a
    single-threaded process: the command line (``seed``) and the benchmark, never the server
    (whose demo is seeded through the importer, under ``NETWORK_FROM`` candidates).
    """
    fork = multiprocessing.get_context("fork")
    reader, writer = fork.Pipe(duplex=False)
    drawer = fork.Process(
        target=_draw_parts,
        args=(reader, writer, candidates, seed, dialect, rules),
        name="seed-draw",
        daemon=True,  # ended by multiprocessing if this interpreter exits first
    )
    drawer.start()
    writer.close()  # its only writer is the drawing process: once it ends, reading meets the end
    try:
        yield _received(reader, drawer)
    finally:
        reader.close()
        drawer.join(timeout=5)  # after the last part, it only has to end; after a failure, ended
        if drawer.is_alive():
            drawer.kill()
        drawer.join()


def _received(
    reader: multiprocessing.connection.Connection, drawer: multiprocessing.Process
) -> Iterator[Table]:
    while True:
        try:
            message = reader.recv()
        except EOFError:
            drawer.join()
            raise SeedError(
                "données de démonstration : le processus qui tire les lignes s'est arrêté avant la fin "
                f"({_ending(drawer.exitcode)}) ; rien n'est écrit"
            ) from None
        if message is None:
            return
        if isinstance(message, _Failure):
            failure = SeedError(
                f"données de démonstration : échec pendant {message.drawing}, dans le processus qui "
                f"tire les lignes ({message.error}) ; rien n'est écrit"
            )
            failure.add_note(message.details)
            raise failure
        yield from message


def _ending(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"arrêté par le signal {signal.Signals(-exitcode).name}"
    return f"code de sortie {exitcode}"


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
    # In bulk, another process draws the rows, part after part, while this one writes them; it
    # is forked before the hashing thread starts.
    drawing = _bulk_tables(candidates, seed, engine) if bulk else nullcontext()
    # The accounts' passwords are hashed (Argon2, about a second for the four) in another thread
    # meanwhile; a failure there is raised before anything is committed.
    with (
        drawing as tables,
        ThreadPoolExecutor(1, thread_name_prefix="seed-passwords") as hasher,
    ):
        hashing = hasher.submit(_hashed_passwords)
        with gc_paused():  # millions of rows built: see gc_paused
            if tables is not None:
                results = _write_tables(_then(tables, hashing.result), engine)
            else:
                generated = Builder(candidates, seed).build()
                hashing.result()
                results = _write_through_importer(generated.dicts(), engine)
                # Freed now, by reference counting: once resumed, the collector's first passes
                # would walk each of its tuples, still alive.
                del generated
        passwords = hashing.result()
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
                advisor_email=_first_advisor(candidates, seed) if account.role == "advisor" else None,
                engine=engine,
            )
    return results


def _then(tables: Iterable[Table], check: Callable[[], object]) -> Iterator[Table]:
    """The tables, then ``check()`` before the load is committed: its error rolls it back."""
    yield from tables
    check()


def _first_advisor(candidates: int, seed: int) -> str:
    """The demo's first advisor (the first row of its advisors file), to whom the demo's advisor
    account is tied: drawn again, with the rest of the reference data that come first (a few
    milliseconds), whatever else the store holds and whichever path wrote the rows."""
    reference = next(Builder(candidates, seed).parts())
    return reference.rows["advisors"][0][reference.names["advisors"].index("email")]


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
