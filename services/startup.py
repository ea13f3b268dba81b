"""What the app does once per process before the first page: schema, demo data if empty, and
the end of the demo (its accounts disabled) in a store that holds more than the demo."""

from __future__ import annotations

import logging
from concurrent.futures import Future

from sqlalchemy.engine import Engine

from services import config, demo
from services.store import analytics, database

log = logging.getLogger(__name__)
#: The tables the analytical reads use (channels, results, schedule, the job dating's seekers),
#: copied for DuckDB as the app starts (in the background: pages render meanwhile; an analytical
#: read waits for these copies, the worker running one job at a time).
ANALYTICAL_TABLES = (
    "touchpoints",
    "bookings",
    "enrollments",
    "candidates",
    "advisors",
    "programs",
    "meetings",
)


def prepare_store(engine: Engine | None = None) -> bool:
    """Migrate the store and, when it is empty and demo data is allowed, seed it; a demo store that
    holds more than the demo ends its demo (``demo.end_if_more_than_demo``).

    Returns True when the store holds demo data.
    """
    engine = engine or database.get_engine()
    database.migrate(engine)
    if database.is_empty(engine) and config.demo_data_enabled():
        log.info("empty store: seeding demo data")
        results = demo.seed_demo(engine=engine)
        refused = [result.source for result in results if not result.accepted]
        if refused:
            raise RuntimeError(f"demo data refused by the importer: {', '.join(refused)}")
    elif demo.end_if_more_than_demo(engine):
        log.warning("the store holds more than the demo data: the demo accounts are disabled")
    if analytics.reads_in_duckdb(engine):
        analytics.start_workers()
        analytics.prepare_copies(ANALYTICAL_TABLES, engine).add_done_callback(_log_failed_copy)
    return database.holds_demo_data(engine)


def _log_failed_copy(copying: Future[None]) -> None:
    """Say in the log when the start-up copies failed (the first read will copy again)."""
    if copying.exception() is not None:
        log.warning("start-up copies for DuckDB failed: %s", type(copying.exception()).__name__)
