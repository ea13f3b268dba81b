"""Whole pages as a user gets them: the dashboard run in AppTest, signed in as an admin (who sees
everything), each page rendered the first time in the process, cold (caches cleared again),
then warm (a rerun, as after a click).

The data rows of bench/pages.py time the services behind a page; this times everything the page
script does (every figure, table and chart it builds), so that no slow part hides between them.
"""

from __future__ import annotations

import math
import secrets
import time
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from services.access import accounts
from services.store import analytics
from tests.apptest_browser import browser, signed_in_cookies

APP = Path(__file__).resolve().parent.parent / "dashboard.py"
PAGES = {
    "résultats": "pages/directors/results.py",
    "job dating": "pages/directors/jobdating.py",
    "planning": "pages/advisors/schedule.py",
    "planification job dating": "pages/advisors/jobdating_planning.py",
    "canaux": "pages/marketing/channels.py",
    "données": "pages/admin/data.py",
    "journal": "pages/admin/audit.py",
    "données personnelles": "pages/admin/privacy.py",
}
#: The page the others are compared with (issue 19: none over twice its time, cold).
REFERENCE = "résultats"
#: An account of the benchmark's own, created in the measured store if missing.
EMAIL = "bench@bench.rencontres.fr"


def _token() -> str:
    """A sign-in session of the benchmark's admin account."""
    password = secrets.token_urlsafe(16)
    if EMAIL in set(accounts.list_accounts()["email"]):
        accounts.set_password(email=EMAIL, password=password, actor="bench")
    else:
        accounts.add_account(email=EMAIL, role="admin", password=password, actor="bench")
    return accounts.open_session(accounts.authenticate(EMAIL, password))


def measure(names: list[str] | None = None) -> list[dict]:
    """Per page (``names``, all by default): seconds of its first render in the process (imports
    and first-time set-up included, caches empty), of a render with caches emptied again (cold:
    what a user meets after a write, on a running server), then of a rerun (warm)."""
    cookies = signed_in_cookies(_token())
    rows = []
    with browser():  # AppTest signs in by the browser's cookie, as the dashboard reads it
        for name, page in PAGES.items():
            if names and name not in names:
                continue
            app = AppTest.from_file(str(APP), default_timeout=600)
            app.cookies = cookies
            app.run()
            if "account" not in app.session_state:
                raise AssertionError(f"{name}: the benchmark's admin is not signed in")
            times = {}
            for label in ("first", "cold", "warm"):
                if label != "warm":
                    st.cache_data.clear()
                    st.cache_resource.clear()
                start = time.perf_counter()
                if label == "first":
                    app.switch_page(page)
                app.run()
                times[label] = time.perf_counter() - start
                if app.exception:
                    raise AssertionError(f"{name}: {app.exception}")
            rows.append({"page": name, **times})
            print(
                f"  page {name} : {times['first']:.2f} s la première fois, {times['cold']:.2f} s à froid, "
                f"{times['warm'] * 1000:.0f} ms à chaud",
                flush=True,
            )
    return rows


def format_table(rows: list[dict]) -> str:
    """The whole pages as a Markdown table."""
    reference = next((row["cold"] for row in rows if row["page"] == REFERENCE), float("nan"))
    lines = [
        f"| page entière | première fois (s) | froid (s) | froid / {REFERENCE} | chaud (ms) |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = "—" if math.isnan(reference) else f"{row['cold'] / reference:.1f}×"
        lines.append(
            f"| {row['page']} | {row['first']:.2f} | {row['cold']:.2f} | {ratio} | {row['warm'] * 1000:.0f} |"
        )
    return "\n".join(lines)


def peak_memory() -> dict[str, float]:
    """Peak resident memory (MB, Linux /proc) of this process and of each DuckDB worker."""

    def high_water_mark(pid: int | str) -> float:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    workers = analytics._POOL._processes if analytics._POOL else {}  # noqa: SLF001
    peaks = {"application": high_water_mark("self")}
    for number, pid in enumerate(workers, start=1):
        peaks["processus DuckDB" + (f" n° {number}" if len(workers) > 1 else "")] = high_water_mark(pid)
    return peaks
