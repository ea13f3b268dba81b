"""The store: migrations, constraints, SQLite settings, instants in UTC."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from services.store import database
from services.store.models import Booking, Candidate, Site
from tests.conftest import load


@pytest.mark.postgresql
def test_migrations_build_exactly_the_models_schema(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


@pytest.mark.postgresql
def test_migrate_again_keeps_the_data(engine):
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    database.migrate(engine)
    with engine.connect() as connection:
        assert connection.execute(sa.select(Site.__table__.c.name)).scalar_one() == "Maxéville"


def test_sqlite_settings(engine):
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


@pytest.mark.postgresql
def test_foreign_keys_are_enforced_by_the_database(engine):
    with pytest.raises(sa.exc.IntegrityError), database.write_transaction(engine) as connection:
        connection.execute(
            Booking.__table__.insert().values(
                ref="B1",
                candidate_ref="nobody",
                site_code="NOPE",
                status="booked",
                starts_at=datetime(2020, 4, 14, 8, tzinfo=UTC),
                booked_at=datetime(2020, 4, 1, 8, tzinfo=UTC),
                duration_min=45,
                attendees=1,
            )
        )


@pytest.mark.postgresql
def test_instants_come_back_as_the_same_utc_instant(engine):
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load("candidates", "ref,created_at\nC1,2020-04-14 10:00\n", engine)  # CEST: 08:00 UTC
    load(
        "bookings",
        "ref,candidate_ref,site_code,starts_at,status,booked_at\n"
        "B1,C1,MAX,2020-10-25 02:30,booked,2020-10-01 12:00+02:00\n",
        engine,
    )
    with engine.connect() as connection:
        starts_at, booked_at = connection.execute(
            sa.select(Booking.__table__.c.starts_at, Booking.__table__.c.booked_at)
        ).one()
    # 25/10/2020 02:30 happens twice; fold=0 reads the first one, still summer time (+02:00).
    assert starts_at == datetime(2020, 10, 25, 0, 30, tzinfo=UTC)
    assert booked_at == datetime(2020, 10, 1, 10, 0, tzinfo=UTC)
    assert starts_at.tzinfo is not None


@pytest.mark.postgresql
def test_naive_instants_are_refused_by_the_store(engine):
    with pytest.raises(sa.exc.StatementError), database.write_transaction(engine) as connection:
        connection.execute(sa.insert(Booking.__table__).values(starts_at=datetime(2020, 4, 14, 10)))


def test_database_url_relative_sqlite_path_is_under_the_project(monkeypatch):
    from services import config

    monkeypatch.setenv("DATABASE_URL", "sqlite:///data/app.db")
    assert config.database_url() == f"sqlite:///{config.PROJECT_ROOT / 'data' / 'app.db'}"
    monkeypatch.delenv("DATABASE_URL")
    assert config.database_url().endswith("/data/app.db")


@pytest.mark.postgresql
def test_data_version_grows_on_writes_only(engine):
    before = database.data_version(engine)
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    after_insert = database.data_version(engine)
    load("sites", "code,name\nMAX,Maxéville\n", engine)  # unchanged: no bump
    assert after_insert == before + 1
    assert database.data_version(engine) == after_insert


def test_the_head_revision_read_from_the_files_is_alembics():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(database.MIGRATIONS_DIR))
    assert database.head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_the_revision_lines_are_read_as_alembic_writes_them(tmp_path, monkeypatch):
    # Two branches from 0001 (a merge to come): no single head, Alembic decides.
    versions = tmp_path / "versions"
    versions.mkdir()
    for name, text in {
        "0001_first.py": 'revision = "0001"\ndown_revision = None\n',
        "0002_second.py": "revision: str = '0002'\ndown_revision: Union[str, None] = '0001'\n",
    }.items():
        (versions / name).write_text(f'"""Revision ID: x\nRevises: y\n"""\n{text}')
    monkeypatch.setattr(database, "MIGRATIONS_DIR", tmp_path)
    assert database.head_revision() == "0002"
    (versions / "0003_branch.py").write_text('revision = "0003"\ndown_revision = "0001"\n')
    assert database.head_revision() is None
    (versions / "0003_branch.py").write_text('revision = make_revision()\ndown_revision = "0002"\n')
    assert database.head_revision() is None


@pytest.mark.postgresql
def test_a_store_at_the_latest_revision_is_checked_without_alembic(engine):
    # Every command checks the schema; a store already at the head needs no import of Alembic
    # (0.2 to 0.6 s a command): a new process tells which modules the check loaded.
    script = (
        "import sys\n"
        "from services.store import database\n"
        "database.migrate()\n"
        "print('alembic' in sys.modules)\n"
    )
    checked = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False)},
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == "False"
    with database.write_transaction(engine) as connection:  # a store one revision behind
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0012'")
    assert not database._at_head(engine)  # noqa: SLF001


def test_upgrading_an_older_store_keeps_every_row(tmp_path):
    """A store created at the first revision, filled, then brought up to date loses nothing."""
    from alembic import command
    from alembic.config import Config

    from services.imports.importer import import_path
    from tests.conftest import SCENARIO

    old = database.get_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(database.MIGRATIONS_DIR))
    with database.write_transaction(old) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    # Rows written with the first revision's columns only.
    with database.write_transaction(old) as connection:
        connection.exec_driver_sql("INSERT INTO sites (code, name) VALUES ('MAX', 'Maxéville')")
        connection.exec_driver_sql(
            "INSERT INTO candidates (ref, marketing_consent, created_at) "
            "VALUES ('C1', 0, '2020-04-01 08:00:00.000000')"
        )
        connection.exec_driver_sql(
            "INSERT INTO bookings (ref, candidate_ref, site_code, starts_at, duration_min, status, booked_at,"
            " attendees) VALUES ('B1', 'C1', 'MAX', '2020-04-14 08:00:00.000000', 45, 'attended',"
            " '2020-04-01 08:00:00.000000', 2)"
        )
    database.migrate(old)
    with old.connect() as connection:
        row = (
            connection.execute(sa.select(Booking.__table__).where(Booking.__table__.c.ref == "B1"))
            .mappings()
            .one()
        )
        parent_consent = connection.execute(sa.select(Candidate.__table__.c.parent_consent)).scalar_one()
    assert (row["status"], row["attendees"], row["version"]) == ("attended", 2, 0)
    assert parent_consent is False  # revision 0004 gives the rows already stored no parent consent
    assert all(result.accepted for result in import_path(SCENARIO, engine=old))
