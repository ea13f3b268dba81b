"""The command line never shows a traceback (issue 17, items 10, 11 and Ctrl-C): edge dates and
numbers are usage errors (exit 2), store and settings problems one line naming the setting
(exit 3), an interrupted import writes nothing (exit 130)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.__main__ import main
from services.imports import importer
from services.store import database
from services.store.models import Campaign, ImportRun, Site
from tests.conftest import load

ROOT = Path(__file__).resolve().parent.parent
PERIOD = ["--from", "2020-04-01", "--to", "2020-04-30"]


def _one_line(capsys: pytest.CaptureFixture[str], status: int, expected: int) -> str:
    """The one line main() wrote on stderr, checking its exit status and that it is no traceback."""
    err = capsys.readouterr().err
    assert status == expected, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _command_line(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        timeout=120,
    )


# ---------------------------------------------------------------- item 10: edge dates and numbers


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--from", "0001-01-01", "--to", "2020-01-01"], "année 1 hors des années permises"),
        (["report", "--from", "9999-12-30", "--to", "9999-12-31"], "année 9999 hors des années permises"),
        (["report", "--from", "2020-01-01", "--to", "9999-12-31"], "année 9999 hors des années permises"),
        ([*["report", *PERIOD], "--lookback", "999999999"], "attendu un entier de 0 à 365"),
        ([*["report", *PERIOD], "--lookback", "-1"], "attendu un entier de 0 à 365"),
        ([*["report", *PERIOD], "--lookback", "abc"], "attendu un entier de 0 à 365"),
        (["sync", "bookings", "--since", "0001-01-01"], "année 1 hors des années permises"),
        (["sync", "attendance", "--since", "0001-01-01"], "année 1 hors des années permises"),
        (["sync", "bookings", "--since", "9999-12-31 23:30"], "année 9999 hors des années permises"),
        (["jobdating", "plan", "JD", "--max-per-candidate", "0"], "attendu un entier d'au moins 1"),
    ],
)
def test_edge_dates_and_numbers_are_one_usage_line(capsys, args, message) -> None:
    # Today: OverflowError tracebacks (exit 1) for the dates and the lookback.
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert message in _one_line(capsys, exit_.value.code, 2)


def test_the_last_day_of_the_range_is_a_report(capsys, engine) -> None:
    assert main(["report", "--from", "2200-12-01", "--to", "2200-12-31", "--json"]) == 0
    assert '"from": "2200-12-01"' in capsys.readouterr().out


# ---------------------------------------------------------------- item 11: store and settings


def _not_sqlite(tmp_path: Path) -> str:
    path = tmp_path / "notes.db"
    path.write_text("ceci n'est pas une base\n" * 100, encoding="utf-8")
    return f"sqlite:///{path}"


def _truncated(tmp_path: Path) -> str:
    whole = tmp_path / "whole.db"
    with sqlite3.connect(whole) as connection:
        connection.execute("CREATE TABLE t (x)")
        connection.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
    path = tmp_path / "truncated.db"
    path.write_bytes(whole.read_bytes()[:5000])
    return f"sqlite:///{path}"


def _parent_is_a_file(tmp_path: Path) -> str:
    (tmp_path / "data").write_text("a file, not a folder", encoding="utf-8")
    return f"sqlite:///{tmp_path / 'data' / 'app.db'}"


STORES = {
    "not sqlite": (
        _not_sqlite,
        "DATABASE_URL : base de données illisible ou endommagée (file is not a database)",
    ),
    "truncated": (_truncated, "DATABASE_URL : base de données illisible ou endommagée"),
    "parent is a file": (_parent_is_a_file, "DATABASE_URL : le dossier de la base"),
    "no scheme": (lambda _: "app.db", "DATABASE_URL : adresse de base illisible"),
    "bad port": (
        lambda _: "postgresql+psycopg://u:secret@host:abc/db",
        "DATABASE_URL : adresse de base illisible",
    ),
    "unknown engine": (
        lambda _: "oracle+nope://u:secret@host/db",
        "DATABASE_URL : adresse de base illisible",
    ),
    "uri form": (lambda _: "sqlite:///file:/tmp/x.db?mode=ro&uri=true", "DATABASE_URL : la forme URI"),
}
COMMANDS = {
    "migrate": ["migrate"],
    "import": ["import", "sites.csv"],
    "report": ["report", *PERIOD, "--json"],
    "sync": ["sync", "bookings", "--dry-run"],
    "users": ["users", "list"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("store", STORES)
def test_a_store_that_cannot_be_used_is_one_line_and_exit_3(
    capsys, monkeypatch, tmp_path, store, command
) -> None:
    # Today: sqlite3.DatabaseError, FileExistsError, ArgumentError… tracebacks with exit 1.
    make_url, message = STORES[store]
    (tmp_path / "sites.csv").write_text("code,name\nMAX,Maxéville\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", make_url(tmp_path))
    line = _one_line(capsys, main(COMMANDS[command]), 3)
    assert line.startswith("erreur : ") and message in line
    assert "secret" not in line  # a URL's password is never shown
    assert not (tmp_path / "file:").exists()  # today the URI form made a folder tree here


@pytest.mark.parametrize("value", ["abc", "-5", "1e3", "99999999999"])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_busy_timeout_that_is_no_number_is_one_line_and_exit_3(capsys, monkeypatch, value, command) -> None:
    monkeypatch.setenv("SQLITE_BUSY_TIMEOUT_MS", value)
    database.reset_engines()
    line = _one_line(capsys, main(COMMANDS[command]), 3)
    assert (
        line
        == f"erreur : SQLITE_BUSY_TIMEOUT_MS : « {value} » n'est pas un nombre entier de millisecondes (≥ 0)"
    )


def test_the_uri_form_makes_no_folder_in_the_working_directory(tmp_path) -> None:
    # Through the real command line: the URL was made absolute against the project, and the
    # folders of "file:/…" created under the working directory and the project.
    here = tmp_path / "here"
    here.mkdir()
    result = _command_line(
        "migrate", cwd=here, DATABASE_URL="sqlite:///file:/tmp/rencontres-uri.db?mode=ro&uri=true"
    )
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert result.stderr.startswith("erreur : DATABASE_URL : la forme URI de SQLite")
    assert list(here.iterdir()) == []
    assert not (ROOT / "file:").exists()


def test_a_store_problem_through_the_real_command_line(tmp_path) -> None:
    result = _command_line("report", *PERIOD, DATABASE_URL=_not_sqlite(tmp_path))
    assert (result.returncode, result.stdout) == (3, "")
    assert result.stderr == (
        "erreur : DATABASE_URL : base de données illisible ou endommagée (file is not a database)\n"
    )


# ---------------------------------------------------------------- item 7: report --json is JSON


def test_report_json_never_prints_infinity(capsys, engine) -> None:
    # A store written before amounts were bounded: a 310-digit amount became Infinity, and
    # report --json printed "Infinity" (not JSON) with exit 0.
    load("campaigns", "code,name,channel,starts_on\nK1,Kermesse,email,2020-04-02\n", engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE campaigns SET spend_eur = 9e999")
        assert connection.execute(sa.select(Campaign.__table__.c.spend_eur)).scalar_one().is_infinite()
    line = _one_line(capsys, main(["report", *PERIOD, "--json"]), 3)
    assert "dépense non finie" in line and "campaigns.csv" in line


# ---------------------------------------------------------------- Ctrl-C during an import's write


@pytest.mark.parametrize("folder", [False, True])
def test_ctrl_c_during_an_import_write_writes_nothing_and_exits_130(
    capsys, monkeypatch, engine, tmp_path, folder
) -> None:
    load("sites", "code,name\nYUT,Yutz\n", engine)
    (tmp_path / "sites.csv").write_text("code,name\nMAX,Maxéville\nYUT,Yutz-Thionville\n", encoding="utf-8")
    write = importer._write

    def interrupted(connection, plan) -> None:  # noqa: ANN001
        write(connection, plan)  # every row sent, then Ctrl-C before the commit
        raise KeyboardInterrupt

    monkeypatch.setattr(importer, "_write", interrupted)
    with engine.connect() as connection:
        runs = connection.execute(sa.select(sa.func.count()).select_from(ImportRun)).scalar_one()
    line = _one_line(capsys, main(["import", str(tmp_path if folder else tmp_path / "sites.csv")]), 130)
    if folder:
        assert line.startswith("import interrompu : rien n'a été enregistré du fichier en cours")
    else:
        assert line == "import interrompu : rien n'a été enregistré"
    with engine.connect() as connection:
        assert connection.execute(sa.select(Site.__table__.c.code, Site.__table__.c.name)).all() == [
            ("YUT", "Yutz")
        ]
        assert connection.execute(sa.select(sa.func.count()).select_from(ImportRun)).scalar_one() == runs
