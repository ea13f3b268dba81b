"""Several people at once: a long import runs while advisors save outcomes and pages read.

SQLite has one writer at a time. An import reads and checks its file without the write lock,
then writes it whole (all or nothing) in one short write transaction; the advisors' saves go on
while it checks, wait for its write (busy timeout, then a bounded retry) and must all land; the
pages read a snapshot (WAL) and never see half an import. On PostgreSQL (the first test runs on
both) the import locks only its own rows: saves go on.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from services.advising import outcomes, schedule
from services.advising.outcomes import Outcome
from services.imports import importer as importing
from services.imports.importer import import_bytes
from services.metrics import report, results
from services.store import database
from services.store.database import data_version, write_transaction
from services.store.models import Booking, BookingChange, BookingNote, Candidate, StoreState, Touchpoint
from services.store.scope import Scope

#: Rows of the imported touchpoints file: about 5 s of import on a 2-core machine.
IMPORTED_TOUCHPOINTS = 100_000
WRITERS = 4
BOOKINGS_PER_WRITER = 5
READERS = 2
#: The virtual open days of the demo.
SCOPE = Scope(date(2020, 4, 14), date(2020, 4, 17))
TOGGLE = {"attended": "no_show", "no_show": "attended"}


def _touchpoints_file(candidate_refs: list[str], rows: int) -> bytes:
    """A touchpoints file of new rows (2021, after everything the demo holds) on existing candidates."""
    start = datetime(2021, 1, 1, tzinfo=UTC)
    lines = ["candidate_ref,occurred_at,utm_source,utm_medium,utm_campaign"]
    lines += [
        f"{candidate_refs[number % len(candidate_refs)]},"
        f"{(start + timedelta(seconds=number)).strftime('%Y-%m-%dT%H:%M:%SZ')},"
        f"facebook,social,charge-{number % 7}"
        for number in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def _count(engine: sa.Engine, table: type, *where: sa.ColumnElement[bool]) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar()


@pytest.mark.postgresql
def test_saves_and_reads_go_on_while_a_long_import_runs(demo_store, monkeypatch):
    engine = demo_store
    # When the import takes the write lock (SQLite) to write what it has checked.
    writing: list[float] = []
    retry_write = importing.retry_write

    def write_phase(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        writing.append(time.perf_counter())
        return retry_write(*args, **kwargs)

    monkeypatch.setattr(importing, "retry_write", write_phase)
    with engine.connect() as connection:
        candidate_refs = list(connection.execute(sa.select(Candidate.ref).order_by(Candidate.ref)).scalars())
        # Past interviews whose outcome is set: each save toggles attended ↔ no_show, which the
        # rules allow at any time, so every save changes the status (one history row each).
        owned = connection.execute(
            sa.select(Booking.ref, Booking.status, Booking.version)
            .where(Booking.status.in_(TOGGLE))
            .order_by(Booking.ref)
            .limit(WRITERS * BOOKINGS_PER_WRITER)
        ).all()
    assert len(owned) == WRITERS * BOOKINGS_PER_WRITER
    touchpoints_before = _count(engine, Touchpoint)
    figures_before = results.key_figures(SCOPE, engine)
    data = _touchpoints_file(candidate_refs, IMPORTED_TOUCHPOINTS)

    errors: list[tuple[str, BaseException]] = []
    import_started, import_done, stop = threading.Event(), threading.Event(), threading.Event()
    import_result = []
    import_seconds = []
    # Per writer: what it believes each of its bookings is (status, version), its saves, its waits.
    believed: list[dict[str, tuple[str, int]]] = [
        {ref: (status, version) for ref, status, version in owned[w::WRITERS]} for w in range(WRITERS)
    ]
    saves: list[dict[str, int]] = [dict.fromkeys(mine, 0) for mine in believed]
    waits: list[list[float]] = [[] for _ in range(WRITERS)]
    saves_during_import = [0] * WRITERS
    saves_while_checking = [0] * WRITERS
    observed: list[list[tuple[int, int, int]]] = [[] for _ in range(READERS)]

    def guarded(name: str, work) -> threading.Thread:  # noqa: ANN001
        def run() -> None:
            try:
                work()
            except BaseException as error:  # noqa: BLE001 - every failure of a thread fails the test
                errors.append((name, error))
                stop.set()

        return threading.Thread(target=run, name=name)

    def importer() -> None:
        import_started.set()
        started = time.perf_counter()
        try:
            import_result.append(
                import_bytes(data, source="touchpoints.csv", engine=engine, imported_by="test")
            )
        finally:
            import_seconds.append(time.perf_counter() - started)
            import_done.set()

    def writer(number: int) -> None:
        import_started.wait()
        mine = believed[number]
        # Save until the import is over, and at least one full round after it.
        rounds_after = 0
        while rounds_after < 2 and not stop.is_set():
            finished_before_round = import_done.is_set()
            for ref, (status, version) in mine.items():
                new_status = TOGGLE[status]
                started = time.perf_counter()
                version = outcomes.record_outcome(
                    ref,
                    outcome=Outcome(status=new_status, note=f"sauvegarde {saves[number][ref] + 1}"),
                    author=f"conseiller-{number}@test.rencontres.fr",
                    read_version=version,
                    engine=engine,
                )
                waits[number].append(time.perf_counter() - started)
                mine[ref] = (new_status, version)
                saves[number][ref] += 1
                if not import_done.is_set():
                    saves_during_import[number] += 1
                    if not writing:
                        saves_while_checking[number] += 1
            if finished_before_round:
                rounds_after += 1

    def reader(number: int) -> None:
        import_started.wait()
        while not stop.is_set():
            finished = import_done.is_set()
            figures = results.key_figures(SCOPE, engine)
            day = schedule.interviews(date(2020, 4, 14), date(2020, 4, 14), engine=engine)
            built = report.build_report(SCOPE, engine=engine)
            # Outcomes change statuses, never how many bookings there are.
            assert figures["bookings"] == figures_before["bookings"] == built["bookings"]["total"]
            assert sum(built["bookings"]["by_status"].values()) == built["bookings"]["total"]
            assert not day.empty
            observed[number].append((data_version(engine), _count(engine, Touchpoint), len(day)))
            if finished:
                break

    threads = [guarded("import", importer)]
    threads += [guarded(f"writer-{n}", lambda n=n: writer(n)) for n in range(WRITERS)]
    threads += [guarded(f"reader-{n}", lambda n=n: reader(n)) for n in range(READERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread is still running after 2 minutes"
    assert not errors, errors

    # The import landed whole.
    (imported,) = import_result
    assert imported.accepted, imported.describe_problems()[:5]
    assert imported.inserted == IMPORTED_TOUCHPOINTS
    assert _count(engine, Touchpoint) == touchpoints_before + IMPORTED_TOUCHPOINTS

    # Every save landed: the store holds each writer's last status and version, and one history
    # row and one note per save.
    with engine.connect() as connection:
        stored = {
            ref: (status, version)
            for ref, status, version in connection.execute(
                sa.select(Booking.ref, Booking.status, Booking.version)
            )
        }
    for number in range(WRITERS):
        for ref, (status, version) in believed[number].items():
            assert stored[ref] == (status, version), ref
            assert _count(engine, BookingChange, BookingChange.booking_ref == ref) == saves[number][ref]
            assert _count(engine, BookingNote, BookingNote.booking_ref == ref) == saves[number][ref]
    assert sum(saves_during_import) > 0, "no save overlapped the import: the test proves nothing"
    if engine.dialect.name == "sqlite":
        # The file is read and checked without the write lock: saves landed meanwhile.
        assert writing, "the import never took the write lock"
        assert sum(saves_while_checking) > 0, "no save landed while the import was checking its file"

    # Readers never saw half an import, nor a count or a data version going back.
    for seen in observed:
        assert seen, "a reader never finished a round"
        counts = [count for _, count, _ in seen]
        assert set(counts) <= {touchpoints_before, touchpoints_before + IMPORTED_TOUCHPOINTS}
        assert counts == sorted(counts)
        versions = [version for version, _, _ in seen]
        assert versions == sorted(versions)

    longest_wait = max(max(w) for w in waits)
    print(
        f"\nimport of {IMPORTED_TOUCHPOINTS} touchpoints: {import_seconds[0]:.1f} s; "
        f"{sum(map(len, waits))} saves ({sum(saves_during_import)} during the import, "
        f"{sum(saves_while_checking)} of them before it took the write lock), "
        f"longest wait of a save {longest_wait:.2f} s; "
        f"{sum(map(len, observed))} reader rounds; all in {time.perf_counter() - started:.1f} s"
    )


def _hold_write_lock(engine: sa.Engine, seconds: float, taken: threading.Event) -> threading.Thread:
    """A thread that holds SQLite's write lock for ``seconds``, as a long import does."""

    def hold() -> None:
        with write_transaction(engine) as connection:
            connection.execute(sa.update(StoreState).values(demo_data=StoreState.demo_data))
            taken.set()
            time.sleep(seconds)

    thread = threading.Thread(target=hold)
    thread.start()
    taken.wait()
    return thread


def _past_outcome(engine: sa.Engine) -> tuple[str, str, int]:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(Booking.ref, Booking.status, Booking.version).where(Booking.status.in_(TOGGLE)).limit(1)
        ).one()


def test_a_save_waits_out_a_lock_longer_than_the_busy_timeout(demo_store, monkeypatch):
    # Busy timeout 0.2 s, lock held 0.6 s: the first try gives up, a later one (after the
    # backoff) gets the lock; 4 tries wait at least 4 × 0.2 s plus the backoff.
    monkeypatch.setenv("SQLITE_BUSY_TIMEOUT_MS", "200")
    database.reset_engines()
    engine = database.get_engine()
    ref, status, version = _past_outcome(engine)
    holder = _hold_write_lock(engine, 0.6, threading.Event())
    new_version = outcomes.record_outcome(
        ref, outcome=Outcome(status=TOGGLE[status]), author="test", read_version=version, engine=engine
    )
    holder.join()
    assert new_version == version + 1
    assert _count(engine, BookingChange, BookingChange.booking_ref == ref) == 1


def test_without_the_retry_the_same_save_fails_with_database_is_locked(demo_store, monkeypatch):
    # The test above is not vacuous: one try only, and the same lock makes the save fail.
    monkeypatch.setenv("SQLITE_BUSY_TIMEOUT_MS", "200")
    monkeypatch.setattr(database, "WRITE_ATTEMPTS", 1)
    database.reset_engines()
    engine = database.get_engine()
    ref, status, version = _past_outcome(engine)
    holder = _hold_write_lock(engine, 0.6, threading.Event())
    with pytest.raises(sa.exc.OperationalError, match="database is locked"):
        outcomes.record_outcome(
            ref, outcome=Outcome(status=TOGGLE[status]), author="test", read_version=version, engine=engine
        )
    holder.join()
    assert _count(engine, BookingChange, BookingChange.booking_ref == ref) == 0
