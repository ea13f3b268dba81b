"""Checking typed rows against a snapshot of the store, step 2 of an import: channel rules,
duplicate keys, references and the rows already stored; the result is a plan of plain tuples,
the rows to insert and those to update, as the database driver takes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import sqlalchemy as sa

from services.imports.columns import TypedFile, utc_text
from services.imports.problems import Problem
from services.store import channels
from services.store.contract import SPECS, FileSpec, Reference
from services.store.models import UtcDateTime

#: Keys looked up per query (well under SQLite's and PostgreSQL's limits on parameters).
_CHUNK = 2000


def _driver_values(column: sa.Column, typed: list, dialect: sa.Dialect) -> list:
    """Typed values as the driver takes them and gives them back: what SQLAlchemy would bind
    (on SQLite an instant is its UTC text, a date its ISO text, a decimal a float)."""
    if isinstance(column.type, UtcDateTime) and dialect.name == "sqlite":
        # The readers give UTC datetimes: "YYYY-MM-DD HH:MM:SS.ffffff+00:00" less the offset.
        return [
            None
            if value is None
            else value.isoformat(" ", "microseconds")[:26]
            if value.tzinfo is UTC
            else utc_text(value)
            for value in typed
        ]
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return typed
    # A bind processor depends on the value alone: once per distinct value.
    processed = {value: process(value) for value in set(typed)}
    return [processed[value] for value in typed]


@dataclass
class _Prepared:
    """A typed file made ready for the store with a set of channel rules: the driver's value of
    every column the insert writes, each row's natural key, and the duplicate keys."""

    typed: TypedFile
    rules: tuple[channels.Rule, ...]
    #: Column name → driver value per passed row (every contract column, defaults included).
    columns: dict[str, list]
    #: Columns an update writes: those of the header, the key, and the derived channel's.
    written: list[str]
    keys: list[tuple]
    problems: list[Problem]


def _complete_touchpoints(typed: TypedFile, rules: tuple[channels.Rule, ...]) -> dict[str, list]:
    """utm values ('' when missing) and the channel: given (explicit) or derived by the rules."""
    count = len(typed.rows)
    columns = {
        name: [value or "" for value in typed.columns[name]] if typed.present(name) else [""] * count
        for name in ("utm_source", "utm_medium", "utm_campaign")
    }
    given = typed.columns["channel"] if typed.present("channel") else [None] * count
    if typed.present("channel_explicit"):
        # The data page's export says which channels the rules derived: those are derived again
        # (with the rules of now, as the stored rows were when the rules changed), so that
        # re-importing an export changes nothing (issue 17, item 5).
        given = [
            None if flag is False else channel
            for channel, flag in zip(given, typed.columns["channel_explicit"], strict=True)
        ]
    channel, explicit, rule = channels.channels_of(rules, given, columns["utm_source"], columns["utm_medium"])
    return columns | {"channel": channel, "channel_explicit": explicit, "channel_rule": rule}


def _explicit_without_channel(typed: TypedFile) -> list[Problem]:
    """The touchpoints whose ``channel_explicit`` is true with no channel to keep."""
    if not typed.present("channel_explicit"):
        return []
    given = typed.columns["channel"] if typed.present("channel") else [None] * len(typed.rows)
    return [
        Problem(
            typed.line(index),
            "channel_explicit",
            typed.raw("channel_explicit", index),
            "canal explicite sans valeur dans la colonne channel",
        )
        for index, (flag, channel) in enumerate(zip(typed.columns["channel_explicit"], given, strict=True))
        if flag is True and not channel
    ]


def prepare(typed: TypedFile, rules: tuple[channels.Rule, ...], dialect: sa.Dialect) -> _Prepared:
    spec, count = typed.spec, len(typed.rows)
    table = spec.table
    written = [c.name for c in spec.columns if typed.present(c.name) or c.name in spec.key]
    values = {
        column.name: typed.columns[column.name] if typed.present(column.name) else [column.default] * count
        for column in spec.columns
    }
    problems = []
    if spec.kind == "touchpoints":
        values |= _complete_touchpoints(typed, rules)
        written += [name for name in ("channel_explicit", "channel_rule") if name not in written]
        problems = _explicit_without_channel(typed)
    columns = {
        name: typed_values if name in typed.stored else _driver_values(table.c[name], typed_values, dialect)
        for name, typed_values in values.items()
    }
    # A key column absent from the header counts as None in the key (the touchpoints' utm
    # values and channel are always there once completed).
    key_columns = [
        columns[name] if typed.present(name) or spec.kind == "touchpoints" else [None] * count
        for name in spec.key
    ]
    keys = list(zip(*key_columns, strict=True)) if count else []
    prepared = _Prepared(typed, rules, columns, written, keys, problems)
    if len(set(keys)) != len(keys):
        prepared.problems += _duplicate_problems(typed, keys)
    return prepared


def _duplicate_problems(typed: TypedFile, keys: list[tuple]) -> list[Problem]:
    """A problem for each row whose key a row above has, saying whether the two rows are the
    same (a CRM export that repeats a row: delete one) or differ (choose the right one)."""
    spec = typed.spec
    first: dict[tuple, int] = {}
    problems = []

    def cells(index: int) -> list[str]:
        return [typed.raw(name, index).strip() for name in typed.sheet.header]

    for index, key in enumerate(keys):
        if key in first:
            shown = ", ".join(typed.raw(name, index) for name in spec.key)
            if cells(index) == cells(first[key]):
                advice = " : la même ligne deux fois (un doublon d'export ?) ; supprimez l'une des deux"
            else:
                advice = " avec d'autres valeurs : gardez la bonne ligne et supprimez l'autre"
            problems.append(
                Problem(
                    typed.line(index),
                    "+".join(spec.key),
                    shown,
                    f"clé en double dans le fichier (déjà ligne {typed.line(first[key])}){advice}",
                )
            )
        else:
            first[key] = index
    return problems


#: Rows planned by the files checked before, in a check of several files (nothing is written):
#: table name → natural key → column → driver value.
Overlay = dict[str, dict[tuple, dict[str, Any]]]


class Snapshot:
    """What a file is checked against: the rows of one connection's transaction, and in a
    check of several files the rows the files before it would write (``overlay``)."""

    def __init__(self, connection: sa.Connection, overlay: Overlay | None = None) -> None:
        self.connection = connection
        self.overlay = overlay
        self.mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        self.quote = connection.dialect.identifier_preparer.quote

    def select(
        self,
        table: sa.Table,
        names: Sequence[str],
        wanted: Iterable,
        where: tuple[tuple[str, Any], ...] = (),
    ) -> Iterator[sa.Row]:
        """Raw rows (driver values) of ``names`` whose first column is one of ``wanted``."""
        quote, mark = self.quote, self.mark
        columns = ", ".join(quote(name) for name in names)
        condition = "".join(f" AND {quote(name)} = {mark}" for name, _ in where)
        extra = tuple(value for _, value in where)
        wanted = sorted(wanted)
        for start in range(0, len(wanted), _CHUNK):
            chunk = tuple(wanted[start : start + _CHUNK])
            statement = (
                f"SELECT {columns} FROM {quote(table.name)} "
                f"WHERE {quote(names[0])} IN ({', '.join([mark] * len(chunk))}){condition}"
            )
            yield from self.connection.exec_driver_sql(statement, chunk + extra)

    def keys(self, reference: Reference, wanted: set[tuple]) -> set[tuple]:
        """The referenced keys among ``wanted`` that exist (with the reference's condition)."""
        target = reference.target
        rows = self.select(reference.table, target, {key[0] for key in wanted}, reference.where)
        found = {tuple(row) for row in rows}
        planned = (self.overlay or {}).get(reference.table.name)
        if planned:
            # The rows a file before would write stand in for the stored ones with their key.
            if _SPECS_BY_TABLE[reference.table.name].key == target:
                found -= set(planned)
            found |= {
                tuple(row.get(name) for name in target)
                for row in planned.values()
                if all(row.get(name) == value for name, value in reference.where)
            }
        return found & wanted

    def near(self, reference: Reference, values: set[str]) -> dict[str, str]:
        """The target values of a one-column reference that differ from these only by case or
        spaces (a CRM's « ca » for the stored « CA »): folded value (``_fold``) → a stored value.

        Run only for a file refused for unknown references, for at most ``_CHUNK`` of them (one
        query: the folded column has no index, and a file of a million unknown references must
        not scan the table 500 times for a hint). SQLite's ``lower`` folds ASCII letters only, as
        ``_fold`` does; PostgreSQL's folds more, and the folded value is taken from the query
        itself, so that no engine finds what the other would not call the same.
        """
        (target,) = reference.target
        quote, mark = self.quote, self.mark
        folded_sql = f"lower(replace({quote(target)}, ' ', ''))"
        condition = "".join(f" AND {quote(name)} = {mark}" for name, _ in reference.where)
        extra = tuple(value for _, value in reference.where)
        wanted = tuple(sorted({_fold(value) for value in values})[:_CHUNK])
        found: dict[str, str] = {}
        statement = (
            f"SELECT {folded_sql}, {quote(target)} FROM {quote(reference.table.name)} "
            f"WHERE {folded_sql} IN ({', '.join([mark] * len(wanted))}){condition} "
            f"ORDER BY {quote(target)}"
        )
        for folded, stored in self.connection.exec_driver_sql(statement, wanted + extra) if wanted else ():
            found.setdefault(folded, stored)
        for row in ((self.overlay or {}).get(reference.table.name) or {}).values():
            stored = row.get(target)
            if isinstance(stored, str) and all(row.get(name) == value for name, value in reference.where):
                found.setdefault(_fold(stored), stored)
        return found

    def rows(self, spec: FileSpec, names: list[str], keys: list[tuple]) -> dict[tuple, tuple]:
        """The stored rows of these natural keys: key → the row's ``names`` (driver values);
        ``names`` starts with the natural key's columns."""
        found = {}
        width = len(spec.key)
        for row in self.select(spec.table, names, {key[0] for key in keys}):
            found[tuple(row[:width])] = tuple(row)
        planned = (self.overlay or {}).get(spec.table.name)
        if planned:
            wanted = set(keys)
            for key, row in planned.items():
                if key in wanted:
                    found[key] = tuple(row.get(name) for name in names)
        return found


_SPECS_BY_TABLE = {spec.table.name: spec for spec in SPECS.values()}
#: Why a reference that differs from a stored one by its case or its spaces is unknown.
_CASE_AND_SPACES = "les majuscules et les espaces comptent dans une référence"
#: ASCII capitals to small letters, as SQLite's ``lower`` folds them.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(value: str) -> str:
    """A reference without its spaces and with its ASCII letters small: how ``Snapshot.near``
    compares a reference the store lacks with the stored ones."""
    return value.replace(" ", "").translate(_ASCII_LOWER)


def _reference_problems(prepared: _Prepared, store: Snapshot) -> list[Problem]:
    typed = prepared.typed
    problems = []
    for reference in typed.spec.references:
        if not all(typed.present(name) for name in reference.columns):
            continue  # an optional column absent from the header refers to nothing
        columns = [prepared.columns[name] for name in reference.columns]
        keys = list(zip(*columns, strict=True)) if len(columns) > 1 else None
        if keys is None:
            wanted = {(value,) for value in set(columns[0]) if value is not None}
        else:
            wanted = {key for key in set(keys) if all(part is not None for part in key)}
        missing = wanted - store.keys(reference, wanted) if wanted else set()
        if not missing:
            continue
        column = reference.columns[0] if len(reference.columns) == 1 else "+".join(reference.columns)
        near: dict[str, str] = {}
        if keys is None:
            near = store.near(reference, {value for (value,) in missing if isinstance(value, str)})
        for index in range(len(columns[0])):
            if (keys[index] if keys is not None else (columns[0][index],)) in missing:
                shown = ", ".join(typed.raw(name, index) for name in reference.columns)
                reason = reference.reason
                meant = near.get(_fold(columns[0][index])) if near else None
                if meant is not None:
                    reason += f" (« {meant} » existe : {_CASE_AND_SPACES})"
                problems.append(Problem(typed.line(index), column, shown, reason))
    return problems


@dataclass
class Plan:
    """What writing a checked file does: plain tuples for ``executemany``."""

    prepared: _Prepared
    #: The stored rows the plan was made against, by natural key: their ``existing_names``
    #: columns (the key, the id and the written columns; every column in a check).
    existing: dict[tuple, tuple]
    existing_names: list[str]
    insert_names: list[str]
    inserts: list[tuple]
    #: The written columns' values then the row's id.
    updates: list[tuple]
    #: Natural keys of the updated rows, in the order of ``updates``.
    updated_keys: list[tuple]
    unchanged: int

    def consents_before(self) -> dict[str, tuple[bool | None, bool | None]]:
        """The candidates whose consents to be presented to companies this plan changes, with
        their consents before it (False for a new candidate; None for a column not written)."""
        written = self.prepared.written
        names = ("presentation_consent", "parent_presentation_consent")
        if self.prepared.typed.spec.kind != "candidates" or not set(names) & set(written):
            return {}
        ref_at = self.insert_names.index("ref")
        before: dict[str, tuple[bool | None, bool | None]] = {
            row[ref_at]: (False, False)
            for row in self.inserts
            if any(row[self.insert_names.index(name)] for name in names)
        }
        shown = [name for name in names if name in written]
        stored_at = [self.existing_names.index(name) for name in shown]
        new_at = [written.index(name) for name in shown]
        for key, update in zip(self.updated_keys, self.updates, strict=True):
            current = self.existing[key]
            was = [bool(current[at]) for at in stored_at]
            if was != [bool(update[at]) for at in new_at]:
                given = dict(zip(shown, was, strict=True))
                before[key[0]] = (given.get(names[0]), given.get(names[1]))
        return before


def _kept(spec: FileSpec) -> set[str]:
    """The columns whose empty cells keep the stored value (``Column.kept``)."""
    return {column.name for column in spec.columns if column.kept}


def _insert_columns(prepared: _Prepared, dialect: sa.Dialect) -> tuple[list[str], list[list]]:
    """Every column an insert writes: the contract's (and the derived channel's), then the
    table's other columns that have a Python default, as SQLAlchemy's insert adds them; an
    empty cell of a kept column gets the table's default."""
    spec, count = prepared.typed.spec, len(prepared.keys)
    table = spec.table
    names = list(prepared.columns)
    columns = list(prepared.columns.values())
    for at, name in enumerate(names):
        if name in _kept(spec) and None in columns[at]:  # a new row gets the table's default
            fill = _driver_values(table.c[name], [spec.new_row_default(spec.column(name))], dialect)[0]
            columns[at] = [fill if value is None else value for value in columns[at]]
    for column in table.c:
        if column.name not in prepared.columns and column.default is not None and column.default.is_scalar:
            names.append(column.name)
            columns.append(_driver_values(column, [column.default.arg] * count, dialect))
    return names, columns


def make_plan(
    prepared: _Prepared, store: Snapshot, *, refused: bool = False, earlier: Plan | None = None
) -> tuple[Plan | None, list[Problem]]:
    """Check the references, then find the stored rows: the plan, or None and the problems.

    ``refused``: the file already has problems (only the references are checked, to report
    them). ``earlier``: a plan made against an older snapshot, kept when the stored rows it
    found are still the same.
    """
    problems = _reference_problems(prepared, store)
    if problems or prepared.problems or refused:
        return None, problems
    spec = prepared.typed.spec
    table = spec.table
    if store.overlay is None:
        names = [*spec.key, "id", *(name for name in prepared.written if name not in spec.key)]
    else:  # a check remembers whole rows (``add_to_overlay``)
        names = [*spec.key, *(column.name for column in table.c if column.name not in spec.key)]
    existing = store.rows(spec, names, prepared.keys)
    if earlier is not None and earlier.prepared is prepared and earlier.existing_names == names:
        if earlier.existing == existing:
            return earlier, []
    insert_names, columns = _insert_columns(prepared, store.connection.dialect)
    if not existing:
        inserts = list(zip(*columns, strict=True))
        return Plan(prepared, existing, names, insert_names, inserts, [], [], 0), []
    id_at = names.index("id")
    stored_at = [names.index(name) for name in prepared.written]
    written_at = [insert_names.index(name) for name in prepared.written]
    kept = [(at, prepared.columns[name]) for at, name in enumerate(prepared.written) if name in _kept(spec)]
    inserts, updates, updated_keys, unchanged = [], [], [], 0
    for index, (key, row) in enumerate(zip(prepared.keys, zip(*columns, strict=True), strict=True)):
        current = existing.get(key)
        if current is None:
            inserts.append(row)
            continue
        new = [row[at] for at in written_at]
        for at, given in kept:
            if given[index] is None:  # an empty cell: the stored value stays
                new[at] = current[stored_at[at]]
        stored = tuple(current[at] for at in stored_at)
        if tuple(new) != stored:
            updates.append((*new, current[id_at]))
            updated_keys.append(key)
        else:
            unchanged += 1
    plan = Plan(prepared, existing, names, insert_names, inserts, updates, updated_keys, unchanged)
    return plan, []


def add_to_overlay(overlay: Overlay, plan: Plan) -> None:
    """Remember a checked file's rows for the files checked after it (nothing is written)."""
    spec = plan.prepared.typed.spec
    planned = overlay.setdefault(spec.table.name, {})
    key_at = [plan.insert_names.index(name) for name in spec.key]
    for row in plan.inserts:
        planned[tuple(row[at] for at in key_at)] = dict(zip(plan.insert_names, row, strict=True))
    for key, update in zip(plan.updated_keys, plan.updates, strict=True):
        stored = dict(zip(plan.existing_names, plan.existing[key], strict=True))
        planned[key] = stored | dict(zip(plan.prepared.written, update[:-1], strict=True))
