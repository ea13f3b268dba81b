"""The scales of issue 8: the bulk seed writes what the importer would, and the benchmark runs."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services import demo, demo_generator
from services.access import accounts
from services.access.accounts import AccountError
from services.metrics import attribution, bookings
from services.store import database
from services.store.contract import IMPORT_ORDER, SPECS
from services.store.models import Account, ImportRun, StoreState
from services.store.scope import Scope

ROOT = Path(__file__).resolve().parent.parent


def _store(tmp_path: Path, name: str, migrated_template: Path) -> Engine:
    path = tmp_path / name
    path.write_bytes(migrated_template.read_bytes())
    return database.get_engine(f"sqlite:///{path}")


def _contents(engine: Engine, kind: str) -> list[tuple]:
    """Every row of a contract table, without its surrogate id, in a stable order."""
    table = SPECS[kind].table
    columns = [column for column in table.c if column.name != "id"]
    with engine.connect() as connection:
        return sorted(connection.execute(sa.select(*columns)).all(), key=repr)


@pytest.mark.parametrize("processors", [2, 1], ids=["drawn by another process", "drawn here"])
@pytest.mark.parametrize("network", [False, True], ids=["demo", "network"])
def test_bulk_seed_writes_what_the_importer_writes(
    tmp_path: Path, migrated_template: Path, network: bool, processors: int, monkeypatch: pytest.MonkeyPatch
):
    if network:  # the network's profile (more sites, longer journeys) at a small scale
        monkeypatch.setattr(demo_generator, "NETWORK_FROM", 100)
    # In bulk, the rows come by parts of candidates, written as they come: 37 candidates a part,
    # eleven parts whose tables are interleaved in the load. Another process draws them, unless
    # this one may use one processor only.
    monkeypatch.setattr(demo_generator, "CANDIDATES_PER_PART", 37)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(processors)))
    in_a_process = demo._drawn_in_a_process
    started = []

    def drawn_in_a_process(*arguments):
        started.append(arguments)
        return in_a_process(*arguments)

    monkeypatch.setattr(demo, "_drawn_in_a_process", drawn_in_a_process)
    through_importer = _store(tmp_path, "importer.db", migrated_template)
    in_bulk = _store(tmp_path, "bulk.db", migrated_template)
    assert all(r.accepted for r in demo.seed_demo(400, seed=11, engine=through_importer, bulk=False))
    assert all(r.accepted for r in demo.seed_demo(400, seed=11, engine=in_bulk, bulk=True))
    assert len(started) == (1 if processors > 1 else 0)
    for kind in IMPORT_ORDER:
        assert _contents(in_bulk, kind) == _contents(through_importer, kind), kind
    # The demo's advisor account is tied to the first advisor of the advisors file, the first
    # row written, whichever path wrote it.
    for store in (in_bulk, through_importer):
        with store.connect() as connection:
            first = connection.execute(sa.text("SELECT email FROM advisors ORDER BY id LIMIT 1")).scalar_one()
        tied = accounts.list_accounts(store).set_index("email").loc["conseiller@demo.rencontres.fr"]
        assert tied["advisor_email"] == first
    april = Scope(date(2020, 3, 1), date(2020, 4, 30), event="POV-2020-04")
    assert bookings.funnel(april, in_bulk) == bookings.funnel(april, through_importer)
    assert bookings.status_totals(april, in_bulk) == bookings.status_totals(april, through_importer)
    assert (
        attribution.attribute(april, engine=in_bulk).credits
        == attribution.attribute(april, engine=through_importer).credits
    )
    assert database.holds_demo_data(in_bulk) and database.data_version(in_bulk) > 0


def test_network_scale_counts_follow_the_number_of_candidates():
    # 40,000 candidates: 14 sites (one per 2,857), about five touches and 0.4 bookings each.
    rows = demo_generator.generate_rows(40_000, seed=3)
    assert len(rows["candidates"]) == 40_000
    assert len(rows["sites"]) == 14
    assert 4.5 < len(rows["touchpoints"]) / 40_000 < 5.5
    assert 0.3 < len(rows["bookings"]) / 40_000 < 0.5
    assert len({row["email"] for row in rows["advisors"]}) == len(rows["advisors"])


def test_bench_runs_on_a_tiny_scale(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--candidates", "400", "--repeat", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "DuckDB" in done.stdout


def _schema(engine: Engine) -> list[tuple]:
    """Every table, index, trigger and view of a SQLite store as its SQL (constraints included)."""
    with engine.connect() as connection:
        return sorted(connection.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_master").all())


def test_a_bulk_seeded_store_has_the_schema_of_a_migrated_one(tmp_path: Path, migrated_template: Path):
    # The bulk seed builds the indexes after the load (docs/performance.md): the store must end
    # with every index, constraint and trigger a migration gives, their SQL unchanged.
    seeded = _store(tmp_path, "seeded.db", migrated_template)
    demo.seed_demo(300, engine=seeded, bulk=True)
    migrated = database.get_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    database.migrate(migrated)
    expected = _schema(migrated)
    assert any(kind == "index" and name.startswith("ix_touchpoints") for kind, name, _, _ in expected)
    assert _schema(seeded) == expected
    with seeded.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


@pytest.mark.postgresql
def test_the_bulk_seed_writes_on_every_engine(engine: Engine, monkeypatch: pytest.MonkeyPatch):
    """The bulk path binds each column as the engine's driver takes it (dates and decimals as
    such on PostgreSQL, text on SQLite): it writes the same counts the generator gives, part
    after part as another process draws them."""
    monkeypatch.setattr(demo_generator, "CANDIDATES_PER_PART", 50)
    rows = demo_generator.generate_rows(300)
    demo.seed_demo(300, engine=engine, bulk=True)
    with engine.connect() as connection:
        for kind in ("candidates", "touchpoints", "bookings", "campaigns"):
            count = connection.execute(sa.select(sa.func.count()).select_from(SPECS[kind].table)).scalar_one()
            assert count == len(rows[kind]), kind


def _nothing_written(engine: Engine) -> bool:
    """No row in any contract table, no import recorded, no account, the store not marked demo."""
    with engine.connect() as connection:
        tables = [SPECS[kind].table for kind in IMPORT_ORDER] + [ImportRun.__table__, Account.__table__]
        counts = [connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in tables]
        demo_data = connection.execute(sa.select(StoreState.__table__.c.demo_data)).scalar()
    return not any(counts) and not demo_data


def _with_a_duplicate_booking(parts):
    """``Builder.parts`` whose second part holding bookings repeats the first booking drawn."""

    def drawn(self):
        first = None
        for part in parts(self):
            if part.rows["bookings"]:
                if first is None:
                    first = part.rows["bookings"][0]
                else:
                    part.rows["bookings"].append(first)  # the same ref twice
            yield part

    return drawn


def _no_process_left(before: set[int]) -> bool:
    """No child process of this one left since ``before``, running or unwaited for (a zombie)."""
    return _children(os.getpid()) <= before


def _children(pid: int) -> set[int]:
    tasks = Path(f"/proc/{pid}/task")
    return {int(child) for task in tasks.iterdir() for child in (task / "children").read_text().split()}


def test_a_bulk_load_that_fails_raises_and_leaves_nothing_written(
    tmp_path: Path, migrated_template: Path, monkeypatch
):
    # The bulk seed loads its tables in one transaction: a booking written twice breaks the
    # unique ref after the sites, the first candidates, their touchpoints and bookings were
    # loaded; the seed raises the driver's error, naming the table, and none of those rows
    # stays (one transaction per table kept them, and the store, no longer empty, could not be
    # seeded again). The process drawing the rows, still running then, is ended.
    seeded = _store(tmp_path, "seeded.db", migrated_template)
    monkeypatch.setattr(demo_generator, "CANDIDATES_PER_PART", 50)
    monkeypatch.setattr(demo.Builder, "parts", _with_a_duplicate_booking(demo.Builder.parts))
    before = _children(os.getpid())
    with pytest.raises(sa.exc.IntegrityError, match="bookings.ref") as raised:
        demo.seed_demo(300, engine=seeded, bulk=True)
    assert "écriture en masse de la table bookings" in "".join(raised.value.__notes__)
    assert _nothing_written(seeded)
    assert _no_process_left(before)
    monkeypatch.undo()
    demo.seed_demo(300, engine=seeded, bulk=True)  # the empty store can be seeded again
    assert database.holds_demo_data(seeded)


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "importer"])
def test_a_password_failing_in_the_hashing_thread_stops_the_seed_before_any_write(
    tmp_path: Path, migrated_template: Path, monkeypatch, bulk: bool
):
    # The demo accounts' passwords are hashed in another thread while the rows are drawn: its
    # error is the seed's, raised before any row or account is written.
    seeded = _store(tmp_path, "seeded.db", migrated_template)

    def refused(password: str, *, email: str):
        raise AccountError(f"mot de passe refusé pour {email}")

    monkeypatch.setattr(accounts, "hashed_password", refused)
    with pytest.raises(AccountError, match="mot de passe refusé pour direction@"):
        demo.seed_demo(60, engine=seeded, bulk=bulk)
    assert _nothing_written(seeded)


def _failing_at_the_fourth_part(fail):
    """``Builder._handed_over`` that calls ``fail()`` instead of handing over the fourth part (in
    the drawing process: the seed's own process never draws in bulk)."""
    handed_over = demo.Builder._handed_over
    calls = []

    def failing(self, instants):
        calls.append(1)
        if len(calls) == 4 and multiprocessing.parent_process() is not None:
            fail()
        return handed_over(self, instants)

    return failing


@pytest.fixture
def drawn_by_another_process(monkeypatch):
    """The drawing process is what these tests are about: started whatever the processors this
    test may use (one, on some runners)."""
    monkeypatch.setattr(demo, "_processors", lambda: 2)


def test_a_drawing_process_that_fails_writes_nothing_and_says_where(
    tmp_path: Path, migrated_template: Path, monkeypatch, drawn_by_another_process
):
    # Parts: the reference data, candidates 1 to 50, 51 to 100; the fourth, from candidate 101,
    # fails in the drawing process after three parts were sent and loaded.
    seeded = _store(tmp_path, "seeded.db", migrated_template)
    monkeypatch.setattr(demo_generator, "CANDIDATES_PER_PART", 50)

    def fail():
        raise ValueError("tirage impossible")

    monkeypatch.setattr(demo.Builder, "_handed_over", _failing_at_the_fourth_part(fail))
    before = _children(os.getpid())
    with pytest.raises(demo.SeedError) as raised:
        demo.seed_demo(300, engine=seeded, bulk=True)
    message = str(raised.value)
    assert "le tirage des candidats à partir du n° 101" in message
    assert "ValueError: tirage impossible" in message and "rien n'est écrit" in message
    assert "_handed_over" in "".join(raised.value.__notes__)  # the drawing process's traceback
    assert _nothing_written(seeded)
    assert _no_process_left(before)


def test_a_table_failing_to_convert_in_the_drawing_process_is_named(
    tmp_path: Path, migrated_template: Path, monkeypatch, drawn_by_another_process
):
    seeded = _store(tmp_path, "seeded.db", migrated_template)
    monkeypatch.setattr(demo_generator, "CANDIDATES_PER_PART", 50)
    table_columns = demo._table_columns

    def failing(kind, *arguments):
        if kind == "bookings":
            raise ValueError("valeur inattendue")
        return table_columns(kind, *arguments)

    monkeypatch.setattr(demo, "_table_columns", failing)
    with pytest.raises(demo.SeedError) as raised:
        demo.seed_demo(300, engine=seeded, bulk=True)
    # The first part with bookings is that of candidates 1 to 50: the error says so, on one line.
    (line,) = str(raised.value).splitlines()
    assert "le tirage des candidats à partir du n° 1 " in line
    assert "ValueError: valeur inattendue; conversion de la table bookings" in line
    assert _nothing_written(seeded)


def test_a_drawing_process_killed_writes_nothing(
    tmp_path: Path, migrated_template: Path, monkeypatch, drawn_by_another_process
):
    seeded = _store(tmp_path, "seeded.db", migrated_template)
    monkeypatch.setattr(demo_generator, "CANDIDATES_PER_PART", 50)
    monkeypatch.setattr(
        demo.Builder,
        "_handed_over",
        _failing_at_the_fourth_part(lambda: os.kill(os.getpid(), signal.SIGKILL)),
    )
    before = _children(os.getpid())
    with pytest.raises(demo.SeedError, match="s'est arrêté avant la fin .arrêté par le signal SIGKILL."):
        demo.seed_demo(300, engine=seeded, bulk=True)
    assert _nothing_written(seeded)
    assert _no_process_left(before)


#: A seed whose load stops after its first table: it prints the drawing process's id and waits.
_STUCK_SEED = """
import sys, time
from services import demo, demo_generator
from services.store import database

demo_generator.CANDIDATES_PER_PART = 50

def stuck(tables, engine):
    next(iter(tables))
    print(*(child.pid for child in __import__("multiprocessing").active_children()), flush=True)
    time.sleep(600)

demo.insert_tables = stuck
demo.seed_demo(3000, engine=database.get_engine(f"sqlite:///{sys.argv[1]}"), bulk=True)
"""


def _ended(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in {"Z", "X"}  # a zombie has ended: only its exit status is left


def test_the_drawing_process_ends_when_the_seed_is_killed(tmp_path: Path, migrated_template: Path):
    # The seed's process killed (SIGKILL: nothing of it runs) while it loads: the drawing
    # process, blocked sending its next part or still drawing it, must end too.
    path = tmp_path / "seeded.db"
    path.write_bytes(migrated_template.read_bytes())
    seed = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_STUCK_SEED), str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        (drawer,) = map(int, seed.stdout.readline().split())
        assert not _ended(drawer)
        seed.kill()
        seed.wait(timeout=30)
        deadline = time.monotonic() + 30
        while not _ended(drawer) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _ended(drawer)
    finally:
        seed.kill()
        seed.wait()
        if "drawer" in locals() and not _ended(drawer):
            os.kill(drawer, signal.SIGKILL)  # left by a failure: not by this test


def test_where_the_system_does_not_say_its_processors_the_rows_are_drawn_here(monkeypatch):
    # macOS and Windows have no processor affinity (nor, on Windows, fork): a developer's seed
    # draws its rows in its own process rather than failing.
    monkeypatch.delattr(os, "sched_getaffinity")
    assert demo._processors() == 1
