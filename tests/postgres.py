"""A throwaway PostgreSQL cluster for the tests: Debian's binaries, a temporary directory, loopback.

tests/prepare.sh installs Debian's ``postgresql`` package; without it the PostgreSQL tests fail
and say so (they never skip). ``initdb`` refuses to run as root: as root, the cluster belongs to
the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from tests.browser import free_port

BINARIES = "/usr/lib/postgresql/*/bin"

#: Settings for a cluster whose data may be lost: no waiting for the disk.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here; the message says why and what to do."""


def _binaries() -> Path:
    found = sorted(glob.glob(BINARIES), key=lambda path: int(Path(path).parent.name))
    if not found or not Path(found[-1], "initdb").exists():
        raise PostgresUnavailable(
            f"PostgreSQL introuvable ({BINARIES}/initdb) : lancez « bash tests/prepare.sh », "
            "qui installe le paquet postgresql de Debian."
        )
    return Path(found[-1])


def _as_cluster_owner(command: list[str]) -> list[str]:
    """The command run by the ``postgres`` system user when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{part}'" for part in command)]


def _run(command: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(_as_cluster_owner(command), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        detail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        raise PostgresUnavailable(f"{what} a échoué ({done.returncode}) : {done.stderr.strip()}\n{detail}")


@contextmanager
def cluster() -> Iterator[str]:
    """Start a cluster on 127.0.0.1 (free port, trust authentication), yield the URL of its
    ``postgres`` database, stop and delete it at the end."""
    bin_dir = _binaries()
    root = Path(tempfile.mkdtemp(prefix="rencontres-pg-"))
    data, log = root / "data", root / "server.log"
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        _run(
            [str(bin_dir / "initdb"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "-D", str(data)],
            "initdb",
        )
        port = free_port()
        settings = {**SETTINGS, "port": str(port), "unix_socket_directories": f"'{root}'"}
        with (data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        _run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "start"],
            "pg_ctl start",
            log,
        )
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], "pg_ctl stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def database_url(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server_url``."""
    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """Create database ``name`` (a copy of ``template`` if given) and return its URL."""
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            statement = f'CREATE DATABASE "{name}"'
            if template:
                statement += f' TEMPLATE "{template}"'
                # Copying the files is 7 times faster here than PostgreSQL 15's default (WAL_LOG).
                if connection.dialect.server_version_info >= (15,):
                    statement += " STRATEGY FILE_COPY"
            for attempt in range(50):
                try:
                    connection.exec_driver_sql(statement)
                    break
                except sa.exc.OperationalError as error:
                    # The template is briefly in use while a closed connection winds down.
                    if "being accessed by other users" not in str(error) or attempt == 49:
                        raise
                    time.sleep(0.1)
    finally:
        engine.dispose()
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name``, closing whatever connections still use it."""
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()
