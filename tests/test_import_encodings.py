"""A file is one encoding (issue 17, item 2): never correct text rewritten into mojibake.

Before, one Windows-1252 line in a UTF-8 file made the whole file read as Windows-1252, and
stored rows were updated to it (``Maxéville`` → ``MaxÃ©ville``). Now: UTF-8 when the whole
file is; Windows-1252 when no line is UTF-8 with an accent (Excel's « CSV » on Windows, as the
contract allows); a mix is refused naming each line that is not UTF-8. UTF-16 (Excel's
« Texte Unicode ») is named as such, not taken for binary content.
"""

from __future__ import annotations

import sqlalchemy as sa

from services.imports.importer import import_bytes
from services.store.models import Site
from tests.test_import_limits import contents

ADVICE = "enregistrez-le en « CSV UTF-8 » (Excel : Enregistrer sous, CSV UTF-8)"
NOT_UTF8 = (
    "ligne qui n'est pas en UTF-8 comme le reste du fichier (Windows-1252 ?) : un fichier n'a qu'un "
    f"encodage ; {ADVICE}"
)


def site_names(engine) -> dict[str, str]:
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(Site.code, Site.name)).all())


def test_one_windows_1252_line_in_a_utf8_file_is_refused_and_named(scenario):
    before = contents(scenario)
    # MAX is stored as "Maxéville"; line 3 was pasted from a Windows-1252 file.
    data = "code,name,city\nMAX,Maxéville,Maxéville\n".encode() + "LUN,Lunéville,Lunéville\n".encode("cp1252")
    result = import_bytes(data, source="sites.csv", engine=scenario)
    assert not result.accepted
    assert result.describe_problems() == [f"sites.csv:3: name: Lunéville: {NOT_UTF8}"]
    assert contents(scenario) == before
    assert site_names(scenario)["MAX"] == "Maxéville"


def test_every_line_that_is_not_utf8_is_named(engine):
    data = (
        b"code,name\n"
        + "A,Épinal\n".encode("cp1252")
        + "B,Bâle\n".encode()
        + b"C,c\n"
        + "D,Dié\n".encode("cp1252")
    )
    result = import_bytes(data, source="sites.csv", engine=engine)
    assert [(p.line, p.column, p.value) for p in result.problems] == [
        (2, "name", "Épinal"),
        (5, "name", "Dié"),
    ]


def test_a_utf8_bom_with_a_windows_1252_line_is_refused(engine):
    # The BOM says UTF-8: the accent of line 2 is not, even with no other accent in the file.
    data = b"\xef\xbb\xbfcode,name\n" + "A,Épinal\n".encode("cp1252")
    result = import_bytes(data, source="sites.csv", engine=engine)
    assert result.describe_problems() == [f"sites.csv:2: name: Épinal: {NOT_UTF8}"]


def test_a_windows_1252_file_throughout_is_still_read(engine):
    data = "code,name,city\nLUN,Lunéville,Lunéville\nEPI,Épinal,Épinal\n".encode("cp1252")
    result = import_bytes(data, source="sites.csv", engine=engine)
    assert result.accepted and result.inserted == 2
    assert site_names(engine) == {"LUN": "Lunéville", "EPI": "Épinal"}


def test_utf16_with_a_bom_is_named(engine):
    # Excel's « Texte Unicode »: before, "ce n'est pas un fichier CSV (contenu binaire)".
    data = "code,name\nLUN,Lunéville\n".encode("utf-16")
    result = import_bytes(data, source="sites.csv", engine=engine)
    assert result.describe_problems() == [
        "sites.csv:1: (fichier): : fichier en UTF-16 : encodage non pris en charge (attendu UTF-8 ou "
        f"Windows-1252) ; {ADVICE}"
    ]


def test_utf16_without_a_bom_is_named(engine):
    data = "code,name\nLUN,Lunéville\n".encode("utf-16-be")
    [problem] = import_bytes(data, source="sites.csv", engine=engine).problems
    assert problem.reason.startswith("fichier en UTF-16 sans BOM : encodage non pris en charge")


def test_a_byte_neither_encoding_reads_is_named_at_its_line(engine):
    data = b"code,name\nA,a\nB,b\x81\n"  # 0x81 has no character in Windows-1252
    result = import_bytes(data, source="sites.csv", engine=engine)
    assert result.describe_problems() == [
        "sites.csv:3: (ligne): : octet 0x81 illisible en UTF-8 comme en Windows-1252 : encodage "
        "illisible (attendu UTF-8 ou Windows-1252 ; un fichier « CSV Macintosh » d'Excel pour Mac ? "
        f"{ADVICE})"
    ]


def test_the_refused_lines_are_kept_in_the_history(engine):
    data = "code,name\nA,Bâle\n".encode() + "B,Dié\n".encode("cp1252")
    import_bytes(data, source="sites.csv", engine=engine, imported_by="cli")
    with engine.connect() as connection:
        problems = connection.execute(sa.text("SELECT problems FROM import_runs")).scalar_one()
    assert '"line": 3' in problems and "Dié" in problems


def test_a_windows_1252_line_with_bytes_that_happen_to_be_utf8_is_still_windows_1252(engine):
    # Excel's « CSV (séparateur : point-virgule) », in Windows-1252 throughout, as the contract
    # allows. A capital É (0xC9) before a non-breaking space (0xA0, French typography before
    # « ! ») are also the two bytes of U+0260 in UTF-8: that line is still not UTF-8 (its
    # « é » of « spécial », 0xE9 then « c », is not), so no line of the file is UTF-8 and the
    # file is read as Windows-1252: the name stored is the one written.
    name = "Job dating spécial ÉTÉ\u00a0!"
    data = f"code;name;kind;starts_on;ends_on\r\nJD-ETE;{name};job_dating;01/07/2020;02/07/2020\r\n"
    result = import_bytes(data.encode("cp1252"), source="events.csv", engine=engine)
    assert result.accepted, result.describe_problems()
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT name FROM events")).scalar_one() == name
