"""``python -m services jobdating plan`` on the hand-made job dating of tests/pairing_data.py
(the plan itself is worked out in tests/test_meeting_plan.py: 7 meetings, S1 3, S2 4)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.__main__ import main
from services.store.models import Meeting
from tests.pairing_data import S1, S2, load_job_dating

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL


def _meetings(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(Meeting)).scalar_one()


def test_dry_run_prints_the_plan_and_writes_nothing(engine, capsys):
    load_job_dating(engine)
    assert main(["jobdating", "plan", "JD", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines() == [
        "JD : 7 rencontre(s) planifiée(s)",
        "par entreprise :",
        f"  {S1} : 3 (part 3)",
        f"  {S2} : 4 (part 4)",
        "par jour :",
        "  11 mai 2020 : 7",
        "aperçu : rien n'a été écrit",
    ]
    assert _meetings(engine) == 3


def test_plan_writes_the_meetings_then_finds_nothing_left(engine, capsys):
    load_job_dating(engine)
    assert main(["jobdating", "plan", "JD"]) == 0
    assert capsys.readouterr().out.endswith("7 rencontre(s) enregistrée(s)\n")
    assert _meetings(engine) == 10
    # Now every suggested pair has its meeting: nothing left to plan, a clear error, exit 1.
    assert main(["jobdating", "plan", "JD"]) == 1
    error = capsys.readouterr().err
    assert "planning impossible pour JD, rien n'a été écrit" in error
    assert "aucune paire à planifier" in error
    assert _meetings(engine) == 10


def test_limit_per_candidate(engine, capsys):
    # At most one meeting each: CB has one already; CA, CD, CF get one each (S1 2, S2 1).
    load_job_dating(engine)
    assert main(["jobdating", "plan", "JD", "--max-per-candidate", "1", "--dry-run"]) == 0
    assert "JD : 3 rencontre(s) planifiée(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [
        (["jobdating", "plan", "NOPE"], 2, "erreur : opération inconnue : NOPE"),
        (["jobdating", "plan", "POV"], 2, "erreur : l'opération POV n'est pas un job dating (virtual)"),
    ],
)
def test_unknown_event_or_another_kind_is_refused(engine, capsys, arguments, status, message):
    load_job_dating(engine)
    assert main(arguments) == status
    assert capsys.readouterr().err.strip() == message
    assert _meetings(engine) == 3


def test_bad_limit_is_refused(engine, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["jobdating", "plan", "JD", "--max-per-candidate", "0"])
    assert raised.value.code == 2
    assert "attendu un entier d'au moins 1" in capsys.readouterr().err
