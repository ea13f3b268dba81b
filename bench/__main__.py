"""``python -m bench --scale S|M|L``: time the data behind each page, against naive pandas and DuckDB.

Builds the scale's store in a temporary SQLite file (unless ``--database`` names one), times the
seed against plain ``executemany`` of the same rows, then, per page: our code cold (caches
cleared) and warm (second call through services/app/cached.py), the naive approach (tables read
whole with ``pandas.read_sql``, figures computed in pandas) and DuckDB over a native columnar copy.
The three approaches' figures are compared: a wrong fast path fails the run. Last, each whole
page is run in AppTest, cold and warm (bench/render.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

SCALES = {"S": 3_000, "M": 200_000, "L": 2_000_000}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=SCALES, default="S", help="S (démo), M ou L")
    parser.add_argument("--candidates", type=int, help="nombre de candidats (remplace --scale)")
    parser.add_argument("--database", type=Path, help="fichier SQLite déjà rempli (sinon construit)")
    parser.add_argument("--repeat", type=int, default=3, help="mesures par chiffre (médiane)")
    parser.add_argument(
        "--pages-only",
        action="store_true",
        help="seulement les pages entières et la mémoire de l'application (sans naïf ni DuckDB, "
        "qui lisent les tables entières)",
    )
    parser.add_argument(
        "--pages",
        help="pages entières mesurées, séparées par des virgules (toutes par défaut ; noms de "
        "bench/render.py, ex. « résultats,canaux »)",
    )
    parser.add_argument(
        "--jobdating",
        type=int,
        metavar="F",
        help="seulement la planification job dating d'un réseau de F × (320 entreprises, 500 offres, "
        "1 700 candidats) : bench/jobdating.py",
    )
    return parser


def _processor_time() -> float:
    """The processor time of this process (its threads) and of its children waited for: the
    seed's process that draws the rows is one (``demo.seed_demo``)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _build(path: Path, candidates: int) -> None:
    """Seed the store in bulk and replay the same rows with plain executemany: print both."""
    from services import demo, demo_generator
    from services.store import channels, database

    engine = database.get_engine(f"sqlite:///{path}")
    database.migrate(engine)
    start, processor = time.perf_counter(), _processor_time()
    demo.seed_demo(candidates, engine=engine, bulk=True)
    seeding, seeding_processor = time.perf_counter() - start, _processor_time() - processor
    # The reference: the same rows as plain tuples, executemany into another empty store.
    rows = demo_generator.generate_rows(candidates)
    reference = database.get_engine(f"sqlite:///{path.with_suffix('.reference.db')}")
    database.migrate(reference)
    with reference.connect() as connection:
        rules = channels.load_rules(connection)
    tables = {kind: demo.table_rows(kind, kind_rows, "sqlite", rules) for kind, kind_rows in rows.items()}
    start, processor = time.perf_counter(), _processor_time()
    demo.insert_tables(tables.items(), reference)
    plain, plain_processor = time.perf_counter() - start, _processor_time() - processor
    counts = {kind: len(kind_rows) for kind, kind_rows in rows.items()}
    print(f"données : {counts}")
    print(f"seed {seeding:.1f} s · executemany seul {plain:.1f} s · rapport {seeding / plain:.2f}×")
    # The processor time of this process (its threads and children included) beside: on a
    # machine shared with other work, the load that changes between the two measures weighs less
    # on it.
    print(
        f"  temps processeur : seed {seeding_processor:.1f} s · executemany seul {plain_processor:.1f} s"
        f" · rapport {seeding_processor / plain_processor:.2f}×"
    )
    reference.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(str(path.with_suffix(".reference.db")) + suffix).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Build or open the store, measure every page, print the table (figures that disagree raise)."""
    args = _parser().parse_args(argv)
    candidates = args.candidates or SCALES[args.scale]
    folder = tempfile.TemporaryDirectory(prefix="bench-")
    path = args.database or Path(folder.name) / "bench.db"
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ["DEMO_DATA"] = "0"
    if args.jobdating:
        from bench import jobdating

        if args.database is None:
            jobdating.build(path, args.jobdating)
    elif args.database is None:
        _build(path, candidates)
    from streamlit import logger

    # Outside a Streamlit server, the caches and spinners say so on every call: quiet them.
    logger.set_log_level("error")
    from bench import commands, pages, render
    from services import startup
    from services.store import analytics, database, events

    database.migrate()  # a store given by --database may predate the latest revision
    # The app copies these tables for DuckDB as it starts, in the background: timed apart, so
    # that the first page measured does not include them (an import or a write makes the
    # next read copy the tables it wrote again: README, "Performances").
    start = time.perf_counter()
    analytics.prepare_copies(startup.ANALYTICAL_TABLES).result()
    tables = ", ".join(startup.ANALYTICAL_TABLES)
    print(f"copies en colonnes pour DuckDB ({tables}) : {time.perf_counter() - start:.1f} s")
    if args.jobdating:
        jobdating.measure(args.jobdating)
        args.pages = args.pages or "planification job dating"
    elif not args.pages_only:
        commands.measure(path, args.repeat)
        rows = pages.measure(args.repeat)
        print()
        print(pages.format_table(rows))
        print()
    rendered = render.measure(args.pages.split(",") if args.pages else None)
    print(render.format_table(rendered))
    peaks = render.peak_memory()  # the pages', before the limit's check of the app's figures
    channels = next((row for row in rendered if row["page"] == "canaux"), None)
    if channels:  # the page beside its limit, in the same run (a process of its own)
        scope = events.default_scope(pages.EVENT)
        print(pages.format_limit(channels["cold"], pages.channels_limit(path, scope, args.repeat)))
    print("mémoire de pointe : " + ", ".join(f"{name} {mb:.0f} Mo" for name, mb in peaks.items()))
    folder.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
