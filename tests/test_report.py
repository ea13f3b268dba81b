"""``python -m services`` end to end: import the hand-made directory, then ``report --json``.

Every expected figure is worked out by hand in tests/test_bookings.py and
tests/test_attribution.py (same data, same scope); money and job dating are worked out here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.metrics.money import email_campaigns
from services.store.scope import Scope
from tests.conftest import SCENARIO

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL


ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    """Run the command line on the test's database (DATABASE_URL set by the fixture)."""
    return subprocess.run(
        [sys.executable, "-m", "services", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )


@pytest.fixture
def report(engine) -> dict:
    imported = run("import", str(SCENARIO))
    assert imported.returncode == 0, imported.stderr
    printed = run("report", "--json", "--from", "2020-04-01", "--to", "2020-04-30")
    assert printed.returncode == 0, printed.stderr
    return json.loads(printed.stdout)


def test_report_scope_bookings_and_funnel(report):
    assert report["scope"] == {
        "from": "2020-04-01",
        "to": "2020-04-30",
        "event": None,
        "sites": [],
        "programs": [],
    }
    assert report["bookings"] == {
        "total": 6,
        "by_status": {"booked": 1, "attended": 3, "no_show": 1, "cancelled": 1},
        "by_site": {"MAX": 3, "YUT": 3},
    }
    assert report["show_rate"] == pytest.approx(0.75)
    assert report["funnel"] == {"reached": 7, "booked": 5, "attended": 3, "enrolled": 2}


def test_report_attribution(report):
    attribution = report["attribution"]
    assert (attribution["goal"], attribution["lookback_days"], attribution["conversions"]) == (
        "booking",
        30,
        5,
    )
    assert set(attribution["credits"]) == {
        "first_touch",
        "last_touch",
        "linear",
        "position_based",
        "time_decay",
        "markov",
    }
    assert attribution["credits"]["linear"] == pytest.approx(
        {"social": 2 / 3, "newspaper": 1 / 3, "email": 4 / 3, "direct": 5 / 3, "search": 1.0}
    )
    assert attribution["credits"]["markov"]["email"] == pytest.approx(48 / 41)
    for credits in attribution["credits"].values():
        assert sum(credits.values()) == pytest.approx(5)


def test_report_money(report):
    # Campaigns starting in April: SOC-1 social "1 000,50", MAIL-1 email 200, NEWS-1 newspaper 300
    # (SOC-0 starts on 31/03: out).
    assert report["spend"] == pytest.approx(
        {"social": 1000.5, "newspaper": 300.0, "email": 200.0, "search": 0.0, "direct": 0.0}
    )
    linear = report["cost_per_conversion"]["linear"]
    # spend / linear credit: 1000.5 / (2/3), 300 / (1/3), 200 / (4/3), 0 / 1, 0 / (5/3)
    assert linear == pytest.approx(
        {"social": 1500.75, "newspaper": 900.0, "email": 150.0, "search": 0.0, "direct": 0.0}
    )
    # markov: social credit 36/41 → 1000.5 × 41 / 36
    assert report["cost_per_conversion"]["markov"]["social"] == pytest.approx(1000.5 * 41 / 36)
    assert set(report["cost_per_conversion"]) == set(report["attribution"]["credits"])


def test_report_job_dating(report):
    # Offers published in April: O1 (2 positions), O2 (1), O3 (3) → 6; O4 is from March.
    # Seeking: pre_registered or enrolled (CA, CC, CE, CF) without a signed contract (CA signed) → 3.
    # Meetings in April: M1 held/contract_signed, M2 held/both_interested, M3 no_show, M4 cancelled.
    # Show rate 2 / (2 + 1); mutual interest 2 held of 2; contracts: CA → 1.
    # Uncovered: O3 has no meeting → 1 offer; CE has no meeting → 1 candidate.
    assert report["job_dating"] == {
        "positions": 6,
        "seeking_candidates": 3,
        "meetings": {
            "total": 4,
            "by_status": {"planned": 0, "held": 2, "no_show": 1, "cancelled": 1},
            "by_outcome": {
                "none": 2,
                "company_interested": 0,
                "candidate_interested": 0,
                "both_interested": 1,
                "contract_signed": 1,
            },
        },
        "meeting_show_rate": pytest.approx(2 / 3),
        "mutual_interest_rate": 1.0,
        "contracts_signed": 1,
        "uncovered_offers": 1,
        "uncovered_candidates": 1,
    }


def test_report_with_filters_and_goal(engine):
    assert run("import", str(SCENARIO)).returncode == 0
    printed = run(
        "report",
        "--json",
        "--from",
        "01/04/2020",
        "--to",
        "30/04/2020",
        "--site",
        "YUT",
        "--goal",
        "enrollment",
        "--lookback",
        "90",
    )
    assert printed.returncode == 0, printed.stderr
    report = json.loads(printed.stdout)
    assert report["scope"]["sites"] == ["YUT"]
    assert report["bookings"]["by_site"] == {"YUT": 3}
    # YUT bookings in scope: BC (CC, booked), BD1 (CD, cancelled), BD2 (CD, attended): reached CC, CD;
    # booked CC, CD; attended CD; enrolled none (CC pre-registered, CD withdrawn).
    assert report["funnel"] == {"reached": 2, "booked": 2, "attended": 1, "enrolled": 0}
    assert report["attribution"]["goal"] == "enrollment"
    assert report["attribution"]["lookback_days"] == 90
    assert report["attribution"]["conversions"] == 1  # CE's enrollment at YUT
    # Job dating, YUT offers only: O2 (1) and O3 (3); meetings on O2: M3 no_show, M4 cancelled.
    assert report["job_dating"]["positions"] == 4
    assert report["job_dating"]["meetings"]["total"] == 2


def test_report_text_is_readable(engine):
    assert run("import", str(SCENARIO)).returncode == 0
    printed = run("report", "--from", "2020-04-01", "--to", "2020-04-30")
    assert printed.returncode == 0
    assert "taux de présence     75,0 %" in printed.stdout
    assert "Entonnoir" in printed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--from", "2020-04-31", "--to", "2020-05-01"], "date impossible"),
        (["report", "--from", "2020-05-01", "--to", "2020-04-01"], "période vide"),
        (["report", "--from", "2020-04-01", "--to", "2020-04-30", "--event", "NOPE"], "événement inconnu"),
        (["report", "--from", "2020-04-01", "--to", "2020-04-30", "--site", "NOPE"], "site inconnu"),
        (["report", "--from", "2020-04-01", "--to", "2020-04-30", "--goal", "visit"], "invalid choice"),
        (["import", "/no/such/file.csv"], "fichier introuvable"),
        (["import", str(SCENARIO / "README.md")], "type de fichier inconnu"),
        (["import", str(SCENARIO / "sites.csv"), "--kind", "robots"], "type de fichier inconnu"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_user_mistakes_are_one_line_and_a_failure(engine, args, message):
    result = run(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_rejected_import_exits_1_and_reports_every_bad_row(engine, tmp_path):
    bad = tmp_path / "sites.csv"
    bad.write_text("code,name\nMAX,\n,Yutz\n", encoding="utf-8")
    result = run("import", str(bad))
    assert result.returncode == 1
    assert f"{bad}:2: name: : valeur obligatoire manquante" in result.stderr
    assert f"{bad}:3: code: : valeur obligatoire manquante" in result.stderr


def test_reimport_changes_nothing(engine):
    assert run("import", str(SCENARIO)).returncode == 0
    again = run("import", str(SCENARIO))
    assert again.returncode == 0
    assert " 0 ajoutée(s), 0 mise(s) à jour" in again.stdout
    assert "ajoutée(s)" in again.stdout and all(" 0 ajoutée(s)" in line for line in again.stdout.splitlines())


def test_email_campaign_rates(scenario):
    from datetime import date

    frame = email_campaigns(Scope(date(2020, 4, 1), date(2020, 4, 30)), scenario)
    row = frame.set_index("code").loc["MAIL-1"]
    assert row["open_rate"] == pytest.approx(300 / 1000)
    assert row["click_rate"] == pytest.approx(50 / 1000)
