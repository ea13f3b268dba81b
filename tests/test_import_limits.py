"""The bounds on what an upload or a file may hold (issue 16, item 9): columns, rows, cells, zips.

Each hostile file is refused whole with a French message naming what and where, before it is
read into memory, and nothing stored changes. Linear checks are proven by counting the
comparisons a check makes, never by timing it.
"""

from __future__ import annotations

import io
import re
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.__main__ import main as command_line
from services.i18n import format_number
from services.imports import columns, uploads
from services.imports.importer import import_bytes
from services.imports.problems import ImportFileError
from services.store import contract, models
from services.store.contract import SPECS

DOCS = Path(__file__).resolve().parent.parent / "docs"
DATA_MODELS = tuple(
    model
    for model in vars(models).values()
    if isinstance(model, type) and getattr(model, "__table__", None) in {s.table for s in SPECS.values()}
)
SITES = b"code,name\nNEW,Nouveau site\n"


def contents(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every contract table."""
    with engine.connect() as connection:
        return {
            model.__tablename__: sorted(connection.execute(sa.select(model.__table__)).all(), key=repr)
            for model in DATA_MODELS
        }


def fr(number: int) -> str:
    return format_number(number, "fr")


def zip_of(*members: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def raw_zip(name: str, deflated: bytes, crc: int, file_size: int) -> bytes:
    """A one-member deflated .zip written by hand, its headers saying ``file_size`` (true or not)."""
    encoded = name.encode()
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(deflated), file_size, len(encoded), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        0,
        8,
        0,
        0,
        crc,
        len(deflated),
        file_size,
        len(encoded),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    directory_at = len(local) + len(encoded) + len(deflated)
    directory = central + encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), directory_at, 0)
    return local + encoded + deflated + directory + end


@pytest.fixture(scope="module")
def zeros_deflated() -> tuple[bytes, int, int]:
    """200 MB of zeros, deflated (about 200 KB): the stream, its CRC and its real size.

    A full flush after each MiB makes every MiB's deflated bytes the same, so they are
    compressed once and repeated (compressing 200 MB would take seconds).
    """
    mib = b"\x00" * (1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert first == again
    crc = 0
    for _ in range(200):
        crc = zlib.crc32(mib, crc)
    return first * 200 + compressor.flush(), crc, 200 * len(mib)


def peak_bytes(call) -> tuple[object, int]:
    """What ``call()`` returns or raises, and the peak of Python memory it allocated."""
    tracemalloc.start()
    try:
        try:
            outcome = call()
        except ImportFileError as error:
            outcome = error
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------- the header


def test_a_header_of_40000_columns_is_refused_before_its_rows(scenario):
    before = contents(scenario)
    header = "code,name," + ",".join(f"x{n}" for n in range(40_000))
    data = (header + "\nNEW,Nouveau" + "," * 40_000 + "\n").encode()
    result = import_bytes(data, source="sites.csv", engine=scenario)
    assert not result.accepted and result.warnings == []
    assert result.describe_problems() == [
        f"sites.csv:1: (fichier): : en-tête de {fr(40_002)} colonnes : au plus "
        f"{fr(contract.MAX_COLUMNS)} colonnes par fichier"
    ]
    assert contents(scenario) == before


class CountedName(str):
    """A column name that counts how often it is compared with another."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        CountedName.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_the_duplicate_column_check_is_linear():
    # 2,000 columns, each name twice: comparing each name with those before it makes about
    # two million comparisons; a set makes a few (hash collisions aside), a duplicate each.
    header = [CountedName(f"x{n % 1000}") for n in range(2_000)] + [CountedName("code"), CountedName("name")]
    CountedName.comparisons = 0
    problems, warnings = columns.header_problems(SPECS["sites"], header)
    assert CountedName.comparisons < 10 * len(header)
    assert len(problems) == 1_000 and {p.reason for p in problems} == {"colonne en double"}
    assert [p.column for p in problems[:2]] == ["x0", "x1"]  # in the header's order
    assert len(warnings) == 1


def test_unknown_columns_make_one_warning_that_names_a_few(engine):
    names = [f"colonne {n}" for n in range(500)]
    data = ("code,name," + ",".join(names) + "\nNEW,Nouveau\n").encode()
    result = import_bytes(data, source="sites.csv", engine=engine)
    assert result.accepted
    shown = ", ".join(f"« {name} »" for name in names[: contract.SHOWN_NAMES])
    assert result.warnings == [f"{fr(500)} colonnes inconnues ignorées : {shown} … et {fr(490)} autres"]


def test_one_unknown_column_is_named_as_before(engine):
    result = import_bytes(b"code,name,note\nNEW,Nouveau,x\n", source="sites.csv", engine=engine)
    assert result.warnings == ["colonne inconnue ignorée : « note »"]


def test_60000_unknown_columns_give_one_message(engine):
    data = ("code,name," + ",".join(f"u{n}" for n in range(60_000)) + "\nNEW,Nouveau\n").encode()
    [checked] = uploads.check_upload([("sites.csv", data)])
    assert not checked.accepted
    assert len(checked.problems) == 1 and checked.warnings == []
    assert "en-tête de 60" in checked.problems[0].reason


# ---------------------------------------------------------------- rows and cells


def test_a_cell_over_the_limit_is_refused_with_its_line_and_column(scenario):
    before = contents(scenario)
    long_name = "N" * (contract.MAX_CELL_CHARS + 1)
    data = f"code,name\nNEW,Nouveau\nOLD,{long_name}\n".encode()
    result = import_bytes(data, source="sites.csv", engine=scenario)
    assert not result.accepted
    assert result.describe_problems() == [
        f"sites.csv:3: name: {'N' * 80}…: cellule de {fr(contract.MAX_CELL_CHARS + 1)} caractères : "
        f"au plus {fr(contract.MAX_CELL_CHARS)}"
    ]
    assert contents(scenario) == before


def test_a_cell_over_the_csv_reader_s_own_limit_is_named_in_french(engine):
    # Python's csv module stops at 131,072 characters with an English message.
    data = b'code,name\nNEW,Nouveau\nOLD,"' + b"N" * 200_000 + b'"\n'
    result = import_bytes(data, source="sites.csv", engine=engine)
    assert result.describe_problems() == [
        f"sites.csv:3: (fichier): : cellule de plus de {fr(131_072)} caractères à partir de cette "
        f"ligne (au plus {fr(contract.MAX_CELL_CHARS)} ; un guillemet non fermé ?)"
    ]


def test_too_many_rows_are_refused_before_they_are_all_read(engine, monkeypatch):
    monkeypatch.setattr(contract, "MAX_ROWS", 3)
    data = b"code,name\nA,a\nB,b\nC,c\n\nD,d\n"  # blank lines count: line 5 is the 4th after the header
    result = import_bytes(data, source="sites.csv", engine=engine)
    assert result.describe_problems() == [
        "sites.csv:5: (fichier): : fichier trop long : au plus 3 lignes après l'en-tête"
    ]
    quoted = b'code,name\nA,"a\nb"\nB,b\nC,c\nD,d\n'  # a quoted line break: D,d on line 6 is the 4th row
    result = import_bytes(quoted, source="sites.csv", engine=engine)
    assert result.describe_problems() == [
        "sites.csv:6: (fichier): : fichier trop long : au plus 3 lignes après l'en-tête"
    ]
    assert import_bytes(b"code,name\nA,a\nB,b\nC,c\n", source="sites.csv", engine=engine).accepted


def test_a_row_wider_than_the_column_limit_is_refused(engine, monkeypatch):
    monkeypatch.setattr(contract, "MAX_COLUMNS", 5)
    result = import_bytes(b"code,name\nA,a\nB,b,,,,,\n", source="sites.csv", engine=engine)
    assert result.describe_problems() == [
        "sites.csv:3: (ligne): : 7 valeurs : au plus 5 colonnes par fichier"
    ]


def test_the_command_line_has_the_same_bounds(scenario, tmp_path, capsys, monkeypatch):
    before = contents(scenario)
    path = tmp_path / "sites.csv"
    path.write_text(f"code,name\nNEW,{'N' * (contract.MAX_CELL_CHARS + 1)}\n")
    assert command_line(["import", str(path)]) == 1
    assert "name: NNN" in capsys.readouterr().err
    monkeypatch.setattr(contract, "MAX_FILE_BYTES", 10)
    path.write_text("code,name\nNEW,Nouveau\n")
    assert command_line(["import", str(path)]) == 1
    assert f"{path}:1: (fichier): : fichier de 22 octets : au plus 10 octets" in capsys.readouterr().err
    assert contents(scenario) == before


# ---------------------------------------------------------------- zips


def test_a_zip_bomb_is_refused_before_it_is_expanded(scenario, zeros_deflated):
    before = contents(scenario)
    deflated, crc, size = zeros_deflated
    bomb = raw_zip("sites.csv", deflated, crc, size)
    assert len(bomb) < 300_000
    outcome, peak = peak_bytes(lambda: uploads.read_upload("lot.zip", bomb))
    assert isinstance(outcome, ImportFileError)
    # Refused on its header's sizes, before any byte is decompressed.
    assert str(outcome) == (
        f"sites.csv : 200 Mo décompressés pour {fr(len(deflated))} octets compressés "
        "(au plus 100 fois plus) : archive piégée ?"
    )
    assert peak < 64 * contract.MIB
    [refused] = uploads.import_upload([("lot.zip", bomb)], imported_by="admin@example.org")
    assert not refused.accepted and refused.describe_problems()[0].startswith(
        "lot.zip:1: (fichier): : sites.csv"
    )
    assert contents(scenario) == before


def test_a_member_whose_header_lies_about_its_size_is_read_no_further(engine, zeros_deflated):
    deflated, crc, _ = zeros_deflated
    # Says 100 bytes, holds 200 MB: zipfile decompressed a whole read before cutting it down.
    liar = raw_zip("sites.csv", deflated, crc, 100)
    outcome, peak = peak_bytes(lambda: uploads.read_upload("lot.zip", liar))
    assert isinstance(outcome, ImportFileError)
    assert str(outcome).startswith("sites.csv : archive .zip illisible (Bad CRC-32")
    assert peak < 64 * contract.MIB
    # Says 1 MiB, holds 200 MB: the header's ratio passes, the pieces read do not.
    liar = raw_zip("sites.csv", deflated, crc, contract.MIB + 1)
    outcome, peak = peak_bytes(lambda: uploads.read_upload("lot.zip", liar))
    assert str(outcome).startswith("sites.csv : archive .zip illisible (Bad CRC-32")
    assert peak < 64 * contract.MIB


def test_expanded_sizes_are_bounded_per_file_and_per_archive(engine, monkeypatch):
    monkeypatch.setattr(contract, "MAX_FILE_BYTES", 40)
    monkeypatch.setattr(contract, "MAX_EXPANDED_BYTES", 60)
    with pytest.raises(ImportFileError, match=r"^big\.csv : plus de 40 octets une fois décompressé$"):
        uploads.read_upload("lot.zip", zip_of(("big.csv", b"x" * 41)))
    with pytest.raises(
        ImportFileError, match=r"^b\.csv : archive de plus de 60 octets une fois décompressée$"
    ):
        uploads.read_upload("lot.zip", zip_of(("a.csv", b"x" * 40), ("b.csv", b"x" * 40)))


def test_an_archive_of_too_many_files_is_refused_before_they_are_listed(engine):
    many = zip_of(*((f"f{n}.csv", b"") for n in range(contract.MAX_ZIP_MEMBERS + 1)))
    with pytest.raises(ImportFileError, match=r"^archive de 101 fichiers : au plus 100$"):
        uploads.read_upload("lot.zip", many)


def test_a_member_compressed_otherwise_than_by_deflate_is_refused(engine):
    # bzip2 and lzma decompress a whole read at once, however large it comes out.
    archive = zip_of(("sites.csv", SITES), method=zipfile.ZIP_BZIP2)
    with pytest.raises(ImportFileError, match=r"^sites\.csv : méthode de compression non prise en charge"):
        uploads.read_upload("lot.zip", archive)


def test_a_nested_archive_is_refused_without_being_read(engine):
    inner = zip_of(("sites.csv", SITES))
    files = uploads.read_upload("lot.zip", zip_of(("inner.zip", inner), ("sites.csv", SITES)))
    assert files == [("lot.zip/inner.zip", b""), ("lot.zip/sites.csv", SITES)]


# ---------------------------------------------------------------- documented


def test_every_limit_is_documented_with_its_value():
    lines = (DOCS / "import-formats.md").read_text().splitlines()
    for name in (
        "MAX_COLUMNS",
        "MAX_ROWS",
        "MAX_CELL_CHARS",
        "MAX_CELL_LINES",
        "MAX_FILE_BYTES",
        "MAX_ZIP_MEMBERS",
        "MAX_EXPANDED_BYTES",
        "MAX_COMPRESSION_RATIO",
    ):
        value = getattr(contract, name)
        shown = f"{value // contract.MIB}Mo" if name.endswith("_BYTES") else str(value)
        documented = [re.sub(r"[ \u00a0\u202f]", "", line) for line in lines if f"`{name}`" in line]
        assert any(shown in line for line in documented), (name, shown, documented)
