"""A header line repeated as data is refused (issue 17, item 3): two exports put end to end.

Before, the second header was imported as a row: a site of code ``code`` (or ``\\ufeffcode``, the
second file's BOM). It is refused naming its line rather than skipped: the file after it may
have its columns in another order, which skipping would read under the first header.
"""

from __future__ import annotations

import sqlalchemy as sa

from services.documents import exports
from services.imports.importer import import_bytes
from services.store.models import Site
from tests.test_import_limits import contents

REASON = (
    "ligne d'en-tête répétée (deux fichiers mis bout à bout ?) : un fichier n'a qu'un en-tête, sur sa "
    "première ligne ; supprimez cette ligne (et vérifiez que les colonnes qui suivent sont dans le même "
    "ordre)"
)
#: The same rows twice (tests/test_import_excel.py).
SAME = " : la même ligne deux fois (un doublon d'export ?) ; supprimez l'une des deux"


def test_two_exports_put_end_to_end_are_refused_at_the_second_header(scenario):
    before = contents(scenario)
    export = exports.to_csv(exports.table_frame("sites", scenario))  # BOM, ";", CRLF: 1 header + 2 rows
    result = import_bytes(export + export, source="sites.csv", engine=scenario)
    assert not result.accepted
    # The second file's BOM starts its header (shown escaped, so that it can be seen); its two
    # rows are the first file's again.
    assert result.describe_problems() == [
        f"sites.csv:4: (ligne): \\ufeffcode;name;city;department: {REASON}",
        f"sites.csv:5: code: MAX: clé en double dans le fichier (déjà ligne 2){SAME}",
        f"sites.csv:6: code: YUT: clé en double dans le fichier (déjà ligne 3){SAME}",
    ]
    assert contents(scenario) == before


def test_a_repeated_header_in_another_order_is_refused(engine):
    data = b"code,name\nA,a\nName , CODE\nb,B\n"
    result = import_bytes(data, source="sites.csv", engine=engine)
    assert [(p.line, p.reason) for p in result.problems] == [(3, REASON)]
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(Site)).scalar() == 0


def test_a_row_with_one_cell_named_like_a_column_is_data(engine):
    # Only a row whose filled cells (two at least) are all column names is a header.
    result = import_bytes(b"code,name,city\nNAME,name,Nancy\nCITY,city,\n", source="sites.csv", engine=engine)
    assert not result.accepted
    assert [p.line for p in result.problems] == [3]
    result = import_bytes(b"code,name,city\nNAME,name,Nancy\n", source="sites.csv", engine=engine)
    assert result.accepted


def test_a_bom_or_zero_width_space_around_a_header_name_is_not_part_of_it(engine):
    # Two BOMs (a file saved twice as UTF-8 with BOM): the second one stayed before "code".
    data = "\ufeff\ufeffcode,name\u200b\nA,a\n".encode()
    result = import_bytes(data, source="sites.csv", engine=engine)
    assert result.accepted, result.describe_problems()
