"""Analytical reads: DuckDB in worker processes over the SQLite file, the store itself otherwise."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from services import analytics, database
from services.models import Site

SITES = Site.__table__


def _sites(engine) -> list[str]:  # noqa: ANN001
    frame = analytics.read_frame(sa.select(SITES.c.code).order_by(SITES.c.code), engine)
    return list(frame["code"])


@pytest.mark.postgresql
def test_a_read_sees_every_committed_write_at_once(engine):
    # No copy is kept: a write is visible to the next read, whatever ran the read before.
    assert _sites(engine) == []
    with database.write_transaction(engine) as connection:
        connection.execute(SITES.insert().values(code="MAX", name="Maxéville"))
    assert _sites(engine) == ["MAX"]


def test_a_new_file_at_the_same_path_is_read_afresh(tmp_path, migrated_template):
    # A worker keeps files attached: a file replaced at the same path must not be read stale.
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
        assert _sites(engine) == [code]
    database.reset_engines()


def test_the_reads_run_outside_the_app_process(engine):
    # Two copies of SQLite in one process break each other's locks (see services/analytics.py):
    # DuckDB, which brings its own, must only ever run in the workers.
    _sites(engine)
    assert analytics._READERS == {}  # the app process attached nothing itself
    assert analytics._POOL is not None
