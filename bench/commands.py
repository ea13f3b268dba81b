"""The command line as a user runs it: ``report --json`` over the whole range of the data, against
the time the command line needs to start (``python -m services --help``), each in a new process,
side by side (the median of ``repeat`` runs of each, alternated)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Wider than any data the generator writes (2019 and 2020).
WHOLE_RANGE = ("--from", "2000-01-01", "--to", "2099-12-31")


def _run(arguments: list[str], database: Path) -> float:
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DEMO_DATA": "0"}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "services", *arguments],
        cwd=ROOT,
        env=environment,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def measure(database: Path, repeat: int) -> dict[str, float]:
    """Seconds (medians) of the command line's start and of ``report --json`` on the whole range."""
    times: dict[str, list[float]] = {"start": [], "report": []}
    for _ in range(repeat):
        times["start"].append(_run(["--help"], database))
        times["report"].append(_run(["report", "--json", *WHOLE_RANGE], database))
    medians = {name: sorted(values)[len(values) // 2] for name, values in times.items()}
    print(
        f"ligne de commande : démarrage {medians['start']:.2f} s, report --json (toute la période) "
        f"{medians['report']:.2f} s, rapport {medians['report'] / medians['start']:.2f}×",
        flush=True,
    )
    return medians
