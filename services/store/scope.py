"""The scope of every figure: a period of local dates, and optional event, sites, programmes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from services.store.values import local_midnight


@dataclass(frozen=True)
class Scope:
    """A period ``[date_from, date_to]`` of Europe/Paris dates (both inclusive) and filters."""

    date_from: date
    date_to: date
    event: str | None = None
    sites: tuple[str, ...] = ()
    programs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.date_to < self.date_from:
            raise ValueError(f"période vide : {self.date_from} est après {self.date_to}")

    @property
    def start(self) -> datetime:
        """The first instant of the period (UTC)."""
        return local_midnight(self.date_from)

    @property
    def end(self) -> datetime:
        """The first instant after the period (UTC): the period is ``[start, end)``."""
        return local_midnight(self.date_to + timedelta(days=1))

    @property
    def narrowed_to_offerings(self) -> bool:
        """Whether a site or programme filter is set."""
        return bool(self.sites or self.programs)

    def within(self, column: sa.ColumnElement) -> sa.ColumnElement[bool]:
        """An instant column's local date is in the period."""
        return sa.and_(column >= self.start, column < self.end)

    def on_dates(self, column: sa.ColumnElement) -> sa.ColumnElement[bool]:
        """A date column is in the period."""
        return column.between(self.date_from, self.date_to)

    def offering_filters(self, site: sa.ColumnElement, program: sa.ColumnElement) -> list[sa.ColumnElement]:
        """The site and programme filters on the given columns (none when unset)."""
        filters = []
        if self.sites:
            filters.append(site.in_(self.sites))
        if self.programs:
            filters.append(program.in_(self.programs))
        return filters

    def as_dict(self) -> dict:
        """The scope as the report prints it."""
        return {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "event": self.event,
            "sites": list(self.sites),
            "programs": list(self.programs),
        }
