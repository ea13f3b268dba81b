"""The shared scope filters as URL query parameters: read with fallbacks, written back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

import pandas as pd

from services.store import values
from services.store.events import latest_open_day
from services.store.scope import Scope


@dataclass(frozen=True)
class Selection:
    """What the sidebar filters hold: an event, a period, sites, programmes, and a comparison event."""

    event: str | None
    date_from: date
    date_to: date
    sites: tuple[str, ...] = ()
    programs: tuple[str, ...] = ()
    compare: str | None = None

    @property
    def scope(self) -> Scope:
        """The scope of every figure on the pages."""
        return Scope(self.date_from, self.date_to, self.event, self.sites, self.programs)


#: A notice for the user: a message key and the value that was ignored.
Notice = tuple[str, str]


def _first(params: Mapping[str, list[str]], name: str) -> str | None:
    found = params.get(name) or []
    return found[0].strip() if found and found[0].strip() else None


def read_selection(
    params: Mapping[str, list[str]],
    events: pd.DataFrame,
    sites: list[str],
    programs: list[str],
    default_scope: Callable[[str], Scope],
    default_compare: Callable[[str], str | None],
    today: date,
) -> tuple[Selection, list[Notice]]:
    """The selection a URL asks for; every bad value falls back to its default with a notice."""
    notices: list[Notice] = []
    codes = list(events["code"]) if not events.empty else []
    event = _first(params, "event")
    if event is not None and event not in codes:
        notices.append(("filters.bad_event", event))
        event = None
    if event is None and not events.empty:
        event = latest_open_day(events)
    fallback = default_scope(event) if event else Scope(date(today.year, 1, 1), today)
    period = []
    for name, default in (("from", fallback.date_from), ("to", fallback.date_to)):
        text = _first(params, name)
        try:
            period.append(values.read_date(text) if text else default)
        except ValueError:
            notices.append((f"filters.bad_{name}", text))
            period.append(default)
    date_from, date_to = period
    if date_to < date_from:
        notices.append(("filters.bad_period", f"{date_from} → {date_to}"))
        date_from, date_to = fallback.date_from, fallback.date_to
    chosen_sites = _known(params.get("site", []), sites, "filters.bad_site", notices)
    chosen_programs = _known(params.get("program", []), programs, "filters.bad_program", notices)
    compare = _first(params, "compare")
    if compare is not None and (compare not in codes or compare == event):
        notices.append(("filters.bad_compare", compare))
        compare = None
    if compare is None and event:
        compare = default_compare(event)
    return Selection(event, date_from, date_to, chosen_sites, chosen_programs, compare), notices


def _known(wanted: list[str], known: list[str], notice: str, notices: list[Notice]) -> tuple[str, ...]:
    kept = []
    for code in wanted:
        if code in known:
            if code not in kept:
                kept.append(code)
        else:
            notices.append((notice, code))
    return tuple(kept)


def params_of(selection: Selection) -> dict[str, str | list[str]]:
    """The query parameters that reopen the same view."""
    params: dict[str, str | list[str]] = {
        "from": selection.date_from.isoformat(),
        "to": selection.date_to.isoformat(),
    }
    if selection.event:
        params["event"] = selection.event
    if selection.sites:
        params["site"] = list(selection.sites)
    if selection.programs:
        params["program"] = list(selection.programs)
    if selection.compare:
        params["compare"] = selection.compare
    return params
