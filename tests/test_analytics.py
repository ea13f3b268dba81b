"""Analytical reads: DuckDB in a worker process on copies of the SQLite file's tables, refreshed
table by table from their versions; the store itself otherwise (and in a one-shot command, a small
SQLite file)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from services.store import analytics, columnar, database
from services.store.models import Event, Program, Site

SITES = Site.__table__
PROGRAMS = Program.__table__
EVENTS = Event.__table__


def _sites(engine) -> list[tuple[str, str]]:  # noqa: ANN001
    query = sa.select(SITES.c.code, SITES.c.name).order_by(SITES.c.code)
    return list(analytics.read_frame(query, engine).itertuples(index=False, name=None))


def _programs(engine) -> list[str]:  # noqa: ANN001
    frame = analytics.read_frame(sa.select(PROGRAMS.c.code).order_by(PROGRAMS.c.code), engine)
    return list(frame["code"])


def _write(engine, *statements: sa.Executable) -> None:  # noqa: ANN001
    with database.write_transaction(engine) as connection:
        for statement in statements:
            connection.execute(statement)


@pytest.mark.postgresql
def test_a_read_sees_every_committed_write_at_once(engine):
    # Whatever ran the read before, and whatever the write: insert, update or delete.
    assert _sites(engine) == []
    _write(engine, SITES.insert().values(code="MAX", name="Maxéville"))
    assert _sites(engine) == [("MAX", "Maxéville")]
    _write(engine, SITES.insert().values(code="NAN", name="Nancy"))
    assert _sites(engine) == [("MAX", "Maxéville"), ("NAN", "Nancy")]
    _write(engine, SITES.update().where(SITES.c.code == "MAX").values(name="Maxéville-Centre"))
    assert _sites(engine) == [("MAX", "Maxéville-Centre"), ("NAN", "Nancy")]
    _write(engine, SITES.delete().where(SITES.c.code == "NAN"))
    assert _sites(engine) == [("MAX", "Maxéville-Centre")]
    with database.write_transaction(engine) as connection:  # text, as the bulk writers send it
        connection.exec_driver_sql("UPDATE sites SET name = 'Maxéville' WHERE code = 'MAX'")
    assert _sites(engine) == [("MAX", "Maxéville")]


def test_a_write_rolled_back_is_not_seen_and_bumps_nothing(engine):
    _write(engine, SITES.insert().values(code="MAX", name="Maxéville"))
    assert _sites(engine) == [("MAX", "Maxéville")]
    before = database.table_versions(["sites"], engine)
    with pytest.raises(RuntimeError), database.write_transaction(engine) as connection:
        connection.execute(SITES.delete())
        raise RuntimeError
    assert database.table_versions(["sites"], engine) == before
    assert _sites(engine) == [("MAX", "Maxéville")]


def test_a_table_is_copied_again_only_when_it_was_written(engine):
    _write(engine, SITES.insert().values(code="MAX", name="Maxéville"))
    _write(engine, PROGRAMS.insert().values(code="BTS-MCO", name="BTS MCO", site_code="MAX"))
    assert _sites(engine) == [("MAX", "Maxéville")]
    assert _programs(engine) == ["BTS-MCO"]
    made = analytics.copies_made(engine)
    assert made == {"sites": 1, "programs": 1}
    # Reads without a write in between use the copies as they are.
    assert _sites(engine) == [("MAX", "Maxéville")]
    assert _programs(engine) == ["BTS-MCO"]
    assert analytics.copies_made(engine) == made
    # A write to sites: the next reads copy sites again, not programs.
    _write(engine, SITES.update().values(name="Maxéville-Centre"))
    assert _sites(engine) == [("MAX", "Maxéville-Centre")]
    assert _programs(engine) == ["BTS-MCO"]
    assert analytics.copies_made(engine) == {"sites": 2, "programs": 1}


def test_tables_copied_ahead_are_not_copied_again_by_the_first_read(engine):
    # What the app does as it starts (services/startup.py): the copies are made in the
    # background, and the first read of those tables finds them fresh.
    _write(engine, SITES.insert().values(code="MAX", name="Maxéville"))
    analytics.prepare_copies(["sites"], engine).result()
    assert analytics.copies_made(engine) == {"sites": 1}
    assert _sites(engine) == [("MAX", "Maxéville")]
    assert analytics.copies_made(engine) == {"sites": 1}


def test_the_tables_of_subqueries_are_copied_too(engine):
    _write(
        engine,
        SITES.insert().values(code="MAX", name="Maxéville"),
        EVENTS.insert().values(
            code="POV",
            name="Portes ouvertes",
            kind="virtual",
            starts_on=date(2020, 4, 14),
            ends_on=date(2020, 4, 17),
        ),
    )
    named = sa.select(EVENTS.c.code).where(EVENTS.c.name.like("Portes%")).subquery()
    query = sa.select(SITES.c.code).where(
        sa.exists(sa.select(named.c.code)), SITES.c.code.in_(sa.select(SITES.c.code))
    )
    assert analytics.tables_read(query) == {"sites", "events"}
    assert list(analytics.read_frame(query, engine)["code"]) == ["MAX"]
    _write(engine, EVENTS.delete())
    assert analytics.read_frame(query, engine).empty


def test_a_table_named_only_in_text_is_never_read_stale(engine):
    # No version is found for it, so it is not copied: the read fails rather than read an old copy.
    _write(engine, SITES.insert().values(code="MAX", name="Maxéville"))
    assert _sites(engine) == [("MAX", "Maxéville")]
    with pytest.raises(Exception, match="sites"):
        analytics.read_frame(sa.select(sa.text("code")).select_from(sa.text("sites")), engine)


def test_reads_from_several_threads_queue_in_the_worker_while_writes_go_on(engine):
    _write(engine, SITES.insert().values(code="S000", name="0"))
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for number in range(1, 31):
                _write(engine, SITES.insert().values(code=f"S{number:03}", name=str(number)))
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            done.set()

    def reader() -> None:
        try:
            seen = 0
            while not done.is_set() or seen < 31:
                count = len(_sites(engine))
                assert count >= seen  # never an older copy than a read before
                seen = count
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a read or a write is stuck"
    assert errors == []
    assert len(_sites(engine)) == 31


def test_a_new_file_at_the_same_path_is_read_afresh(tmp_path, migrated_template):
    # The worker keeps copies per file: a file replaced at the same path must not be read stale,
    # though the system may give it the old one's inode number, and the same writes were made.
    path = tmp_path / "store.db"
    for code in ("AAA", "BBB"):
        database.reset_engines()
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"store.db{suffix}").unlink(missing_ok=True)
        path.write_bytes(migrated_template.read_bytes())
        engine = database.get_engine(f"sqlite:///{path}")
        with database.write_transaction(engine) as connection:
            connection.execute(SITES.insert().values(code=code, name=code))
        assert analytics.reads_in_duckdb(engine)
        assert _sites(engine) == [(code, code)]
    database.reset_engines()


def _store_bytes(engine) -> int:  # noqa: ANN001
    """The SQLite file's size with its write-ahead log, as the engine choice counts it."""
    path = Path(engine.url.database)
    return sum(name.stat().st_size for name in (path, Path(f"{path}-wal")) if name.exists())


def test_a_one_shot_command_reads_a_small_file_in_sqlite_a_large_one_in_duckdb_same_figures(
    scenario, monkeypatch
):
    # A server always reads in DuckDB, on its copies; a command, on the file itself: in SQLite
    # under ONE_SHOT_IN_DUCKDB_FROM bytes (file and write-ahead log), in DuckDB from it.
    from services.metrics.report import build_report
    from services.store.scope import Scope

    size = _store_bytes(scenario)
    assert 0 < size < analytics.ONE_SHOT_IN_DUCKDB_FROM  # the hand-made centre is a small store
    assert analytics.reads_in_duckdb(scenario)
    scopes = [
        Scope(date(2020, 4, 1), date(2020, 4, 30)),
        Scope(date(2000, 1, 1), date(2099, 12, 31), sites=("MAX",)),
    ]

    def reports() -> list[dict]:
        return [
            build_report(scope, goal, engine=scenario)
            for scope in scopes
            for goal in ("booking", "enrollment")
        ]

    with analytics.without_copies():
        monkeypatch.setattr(analytics, "ONE_SHOT_IN_DUCKDB_FROM", size + 1)
        assert not analytics.reads_in_duckdb(scenario)
        with monkeypatch.context() as inside:
            # Proof that SQLite answered: the worker cannot.
            inside.setattr(analytics, "_in_worker", lambda *_: pytest.fail("read sent to DuckDB"))
            in_sqlite = reports()
        monkeypatch.setattr(analytics, "ONE_SHOT_IN_DUCKDB_FROM", size)
        assert analytics.reads_in_duckdb(scenario)
        in_duckdb = reports()
    assert analytics.copies_made(scenario) == {}  # the command's reads copied nothing
    assert in_sqlite == in_duckdb
    # And both are the figures worked out by hand in tests/test_bookings.py (April 2020: six
    # bookings, MAX three, YUT three; candidates reached 7, booked 5, attended 3, enrolled 2).
    april = in_sqlite[0]
    assert april["bookings"] == {
        "total": 6,
        "by_status": {"booked": 1, "attended": 3, "no_show": 1, "cancelled": 1},
        "by_site": {"MAX": 3, "YUT": 3},
    }
    assert april["funnel"] == {"reached": 7, "booked": 5, "attended": 3, "enrolled": 2}


def test_a_read_by_index_runs_in_sqlite_in_a_one_shot_command_only(engine, monkeypatch):
    # The funnel's count, which SQLite answers from an index faster than DuckDB scans the file,
    # runs in SQLite in a command whatever the file's size; a server reads its DuckDB copies.
    _write(engine, SITES.insert().values(code="MAX", name="Maxéville"))
    query = sa.select(SITES.c.code, SITES.c.name).order_by(SITES.c.code)
    analytics.read_frame(query, engine, by_index=True)
    assert analytics.copies_made(engine) == {"sites": 1}
    with analytics.without_copies():
        monkeypatch.setattr(analytics, "ONE_SHOT_IN_DUCKDB_FROM", 0)  # a large file: DuckDB
        assert analytics.reads_in_duckdb(engine)
        with monkeypatch.context() as inside:
            inside.setattr(analytics, "_in_worker", lambda *_: pytest.fail("read sent to DuckDB"))
            frame = analytics.read_frame(query, engine, by_index=True)
    assert list(frame.itertuples(index=False, name=None)) == [("MAX", "Maxéville")]


def test_a_one_shot_command_counts_the_write_ahead_log_in_the_store_size(engine, monkeypatch):
    # Rows written since the last checkpoint are in the -wal file, and read too.
    path = Path(engine.url.database)
    with engine.connect() as connection:  # a reader holds the log open: no checkpoint empties it
        connection.execute(sa.select(sa.func.count()).select_from(SITES)).all()  # its snapshot
        _write(engine, *(SITES.insert().values(code=f"S{n:03}", name="x" * 500) for n in range(200)))
        log = Path(f"{path}-wal").stat().st_size
        assert log > 0
        with analytics.without_copies():
            monkeypatch.setattr(analytics, "ONE_SHOT_IN_DUCKDB_FROM", path.stat().st_size + log)
            assert analytics.reads_in_duckdb(engine)
            monkeypatch.setattr(analytics, "ONE_SHOT_IN_DUCKDB_FROM", path.stat().st_size + log + 1)
            assert not analytics.reads_in_duckdb(engine)


def test_the_reads_run_outside_the_app_process(engine):
    # Two copies of SQLite in one process break each other's locks (see services/store/analytics.py):
    # DuckDB, which brings its own, must only ever run in the worker.
    _sites(engine)
    assert columnar._FILES == {}  # the app process attached nothing itself
    assert analytics._POOL is not None


def test_a_failed_start_up_copy_is_logged_without_its_message(caplog):
    # The message could name the store's file; the log says what failed and its kind only.
    from concurrent.futures import Future

    from services import startup

    copying = Future()
    copying.set_exception(OSError("/srv/rencontres/store.db: disk I/O error"))
    with caplog.at_level("WARNING", logger="services.startup"):
        startup._log_failed_copy(copying)
    assert caplog.messages == ["start-up copies for DuckDB failed: OSError"]


def _running(pid: int) -> bool:
    """True while the process exists and is not a zombie (reaped by init once it ends)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_the_worker_ends_when_the_app_process_is_killed(tmp_path):
    # A server killed outright runs no clean-up: its DuckDB worker must not stay behind.
    script = tmp_path / "app.py"
    script.write_text(
        "import time\n"
        "from services.store import analytics\n"
        "if __name__ == '__main__':\n"
        "    analytics.start_workers()\n"
        "    print(*analytics._POOL._processes, flush=True)\n"
        "    time.sleep(60)\n"
    )
    root = Path(__file__).resolve().parent.parent
    environment = {**os.environ, "PYTHONPATH": str(root)}
    app = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=environment)
    worker = int(app.stdout.readline().split()[0])
    assert _running(worker)
    app.kill()
    app.wait()
    deadline = time.monotonic() + 30
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(worker)


def test_aware_instants_are_sent_to_duckdb_as_naive_utc():
    # The copies hold naive UTC instants; an aware parameter made DuckDB convert the column row
    # by row. 12:00 in Paris on 1 April 2020 (summer time, UTC+2) is 10:00 UTC.
    paris = datetime(2020, 4, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))
    assert analytics._for_duckdb(paris) == datetime(2020, 4, 1, 10)  # noqa: SLF001
    assert analytics._for_duckdb("2020-04-01") == "2020-04-01"  # noqa: SLF001


def test_text_is_ordered_by_code_points_on_every_engine():
    # PostgreSQL orders text by its locale unless told otherwise ("Zeta" after "alpha" in
    # fr_FR); Python, SQLite and DuckDB by code points ("Zeta" first).
    column = sa.column("utm_source", sa.String)
    query = sa.select(column).order_by(database.binary_order(column))
    assert str(query.compile(dialect=postgresql.dialect())).endswith('ORDER BY utm_source COLLATE "C"')
    assert str(query.compile(dialect=sqlite.dialect())).endswith("ORDER BY utm_source")
