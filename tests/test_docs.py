"""The project documents itself: every report key, every import column, every setting."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from services.config import SETTINGS
from services.metrics.report import build_report
from services.store.contract import FILES
from services.store.models import CHANNELS
from services.store.scope import Scope

DOCS = Path(__file__).resolve().parent.parent / "docs"
#: Keys whose children are data (site codes, channel names), not metric names.
DATA_KEYED = {"by_site", "spend"}


def _backticked(path: Path) -> set[str]:
    """Names written as inline code, outside fenced code blocks."""
    text = re.sub(r"^(```|~~~).*?^\1", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    return set(re.findall(r"`([^`\n]+)`", text))


def _metric_keys(value: object, parent: str = "") -> set[str]:
    if not isinstance(value, dict):
        return set()
    keys = set()
    for key, child in value.items():
        if parent in DATA_KEYED or key in CHANNELS:
            continue
        keys.add(key)
        keys |= _metric_keys(child, key)
    return keys


def test_every_report_key_is_documented(scenario):
    report = build_report(Scope(date(2020, 4, 1), date(2020, 4, 30)), engine=scenario)
    keys = _metric_keys(report)
    assert {"show_rate", "markov", "uncovered_candidates", "contract_signed"} <= keys  # the walk reaches deep
    missing = keys - _backticked(DOCS / "metrics.md")
    assert not missing, f"keys of report --json missing from docs/metrics.md: {sorted(missing)}"


@pytest.mark.parametrize("spec", FILES, ids=lambda spec: spec.kind)
def test_every_import_column_is_documented(spec):
    documented = _backticked(DOCS / "import-formats.md")
    assert f"{spec.kind}.csv" in documented
    missing = {column.name for column in spec.columns} - documented
    assert not missing, f"{spec.kind}.csv columns missing from docs/import-formats.md: {sorted(missing)}"


def test_every_setting_is_documented():
    missing = set(SETTINGS) - _backticked(DOCS / "configuration.md")
    assert not missing, f"settings missing from docs/configuration.md: {sorted(missing)}"


def test_every_channel_is_documented():
    assert set(CHANNELS) <= _backticked(DOCS / "import-formats.md")
