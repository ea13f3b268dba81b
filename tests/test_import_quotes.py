"""Quotes read strictly (issue 17, item 1): a quote left open never swallows the rows after it.

Before, the csv module read an unclosed quote as one cell running to the end of the file: the
rows after it were lost, a garbage value was stored, and the import said it was accepted. A
quoted cell must now end with its quote followed by the separator or the line's end, before
the end of the file, within ``contract.MAX_CELL_LINES`` lines; otherwise the file is refused
at the line (and column) where the quote was opened, in French, and nothing is written.
"""

from __future__ import annotations

from services.__main__ import main as command_line
from services.imports.importer import import_bytes
from services.store import contract
from tests.test_import_limits import contents


def refusal(data: bytes, engine, source: str = "sites.csv") -> list[str]:
    result = import_bytes(data, source=source, engine=engine)
    assert not result.accepted
    return result.describe_problems()


def test_a_quote_left_open_at_the_end_of_the_file_is_refused_at_its_line(scenario):
    before = contents(scenario)
    # Line 3 opens a quote that nothing closes: before, B's name was 'b\nC,c\n' and C was lost.
    data = b'code,name\nA,a\nB,"b\nC,c\n'
    assert refusal(data, scenario) == [
        'sites.csv:3: name: "b\\nC,c\\n: guillemet ouvert ligne 3 et jamais fermé : la cellule irait '
        "jusqu'à la fin du fichier et avalerait toutes les lignes qui suivent"
    ]
    assert contents(scenario) == before


def test_the_line_where_the_quote_opened_is_named_not_where_the_reader_gave_up(engine):
    # The file: a quote opened on line 51, 2,000 lines of touchpoint-like rows after it.
    # The csv module stops at its own 131,072-character limit around line 1,950 (in English).
    rows = "".join(f"R{n},{'x' * 60}\n" for n in range(2, 51))
    after = "".join(f"S{n},{'y' * 60}\n" for n in range(2_000))
    data = f'code,name\n{rows}OPEN,"Nancy\n{after}'.encode()
    [problem] = import_bytes(data, source="sites.csv", engine=engine).problems
    assert (problem.line, problem.column) == (51, "name")
    assert problem.reason.startswith("guillemet ouvert ligne 51 et jamais fermé")


def test_a_quote_that_closes_far_away_inside_another_cell_is_refused_at_its_opening(scenario):
    before = contents(scenario)
    # Line 3's quote is closed by the quote that opens line 5's cell, followed by "D": read
    # leniently, B's name was 'b\nC,c\nD,' + 'Dé' and C, D were lost.
    data = 'code,name\nA,a\nB,"b\nC,c\nD,"Dé, centre"\nE,e\n'.encode()
    [problem] = import_bytes(data, source="sites.csv", engine=scenario).problems
    assert (problem.line, problem.column) == (3, "name")
    assert problem.reason.startswith("guillemet ouvert ligne 3 puis fermé ligne 5 suivi de « D »")
    assert contents(scenario) == before


def test_a_quoted_cell_over_the_line_limit_is_refused_at_its_first_line(engine):
    most = contract.MAX_CELL_LINES  # 20: a 20-line cell is taken, a 21-line one refused
    taken = "\n".join(["l"] * most)
    refused = "\n".join(["l"] * (most + 1))
    assert import_bytes(f'code,name\nA,"{taken}"\n'.encode(), source="sites.csv", engine=engine).accepted
    [problem] = import_bytes(
        f'code,name\nA,a\nB,"{refused}"\nC,c\n'.encode(), source="sites.csv", engine=engine
    ).problems
    assert (problem.line, problem.column) == (3, "name")
    assert problem.reason.startswith(
        "guillemet ouvert ligne 3 : la cellule s'étend sur 21 lignes (au plus 20)"
    )


def test_quoted_line_breaks_and_doubled_quotes_are_still_read(engine):
    data = b'code,name\nA,"a\r\nb"\nB,"x ""y"" z"\nC,c\n'
    result = import_bytes(data, source="sites.csv", engine=engine)
    assert result.accepted and (result.inserted, result.rows) == (3, 3)


def test_a_blank_line_before_the_header_is_named(engine):
    # Before: "colonne obligatoire absente de l'en-tête" for code and name, at line 1.
    assert refusal(b"\ncode,name\nA,a\n", engine) == [
        "sites.csv:1: (en-tête): : ligne vide avant l'en-tête : les noms des colonnes doivent être sur "
        "la première ligne"
    ]


def test_the_command_line_exits_1_for_a_quote_left_open(engine, tmp_path, capsys):
    path = tmp_path / "sites.csv"
    path.write_bytes(b'code,name\nA,a\nB,"b\nC,c\n')
    assert command_line(["import", str(path)]) == 1
    assert "sites.csv:3: name:" in capsys.readouterr().err
