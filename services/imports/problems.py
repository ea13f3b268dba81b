"""What an import tells: the problems of a file (line, column, value, reason, in French), a file
refused as a whole (``ImportFileError``), the result of a file, and a row as read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_SHOWN_VALUE = 80


class ImportFileError(Exception):
    """A file that cannot be read as a contract CSV at all (empty, binary, unknown kind, over a limit…).

    ``line``, ``column`` and ``value`` say where, when a place in the file is the reason.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int = 1,
        column: str = "(fichier)",
        value: str = "",
        more: Sequence[Problem] = (),
        raw_text: bool = False,
    ) -> None:
        super().__init__(message)
        self.line, self.column, self.value = line, column, value
        #: ``value`` is the file's text from the place named on, not one cell (``Problem.raw_text``).
        self.raw_text = raw_text
        #: The other places of the same refusal (each line of another encoding, say).
        self.more = list(more)

    def problem(self) -> Problem:
        """The refusal as the one problem of its file (its first place)."""
        return Problem(self.line, self.column, self.value, str(self), self.raw_text)

    def problems(self) -> list[Problem]:
        """The refusal's problems: its first place, then the others."""
        return [self.problem(), *self.more]


@dataclass(frozen=True)
class Problem:
    """One bad row (or header): where, which column, which value, why."""

    line: int
    column: str
    value: str
    reason: str
    #: The value is not one cell of a column the contract knows: the file's text from a quote
    #: left open (the cells and rows it swallowed), or a cell of an unknown column. It may
    #: hold anyone's personal data, and is masked in the import history.
    raw_text: bool = False

    def describe(self, source: str) -> str:
        """``file:line: column: value: reason``, as the command line prints it."""
        value = self.value if len(self.value) <= MAX_SHOWN_VALUE else self.value[:MAX_SHOWN_VALUE] + "…"
        return f"{one_line(source)}:{self.line}: {one_line(self.column)}: {one_line(value)}: {self.reason}"


def one_line(text: str) -> str:
    """Text on one report line: control characters (CR, LF, tab…) written as ``\\r``, ``\\n``…"""
    if text.isprintable():
        return text
    return "".join(character if character.isprintable() else repr(character)[1:-1] for character in text)


@dataclass
class ImportResult:
    """What one file's import did (or would do, for a check)."""

    source: str
    kind: str
    accepted: bool = False
    #: Data rows read from the file (blank lines skipped).
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def describe_problems(self, most: int | None = None) -> list[str]:
        """Every problem (the first ``most``) as a ``file:line: column: value: reason`` line."""
        return [problem.describe(self.source) for problem in self.problems[:most]]


@dataclass(frozen=True)
class RawRow:
    """One data row of a file: its line number and its cells by (lower-cased) column name."""

    line: int
    cells: dict[str, str]
