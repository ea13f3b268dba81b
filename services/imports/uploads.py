"""Contract files sent from the data page: CSV files or a .zip of them, checked, then imported.

An upload is taken like a directory import (``python -m services import DOSSIER``): each file's
kind comes from its name, the files go in the contract's import order, and each one is
imported whole or not at all. The check before the import runs the same validation in one
transaction that is rolled back, so a file is checked against the rows that the files before
it in the same upload would write.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import PurePosixPath

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.config import LOCAL_TZ
from services.imports import importer, reading
from services.imports.problems import ImportFileError, ImportResult, Problem
from services.imports.reading import size
from services.store import contract
from services.store.contract import IMPORT_ORDER
from services.store.database import get_engine
from services.store.models import ImportRun

#: The file types the page accepts.
UPLOAD_TYPES = ("csv", "zip")
#: Compression methods whose decompression a read's size bounds (bzip2 and lzma decompress all
#: the data a read gives them at once, however large it comes out).
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
#: Bytes decompressed per read of a file in a .zip.
_READ = 1024 * 1024
#: What zipfile raises for a damaged archive (a bad CRC, a truncated stream, a bad header…).
_UNREADABLE = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    OSError,
    EOFError,
    ValueError,
    zlib.error,
)
#: The kind of a file that could not be given one (its name is no contract file's).
NO_KIND = ""
RUNS = ImportRun.__table__


def read_upload(name: str, data: bytes) -> list[tuple[str, bytes]]:
    """The files of one uploaded file ``(source, content)``: a CSV as it is, or each file of a .zip.

    A file inside a .zip is named ``archive.zip/member.csv``. Folders and the hidden files
    archivers add (``__MACOSX/``, ``._x``, ``.DS_Store``) are skipped; an archive inside is
    given without its content (it is refused by its name). Raises ImportFileError for a .zip
    that cannot be opened, is encrypted, or is over one of the contract's limits (entries,
    decompressed size of a file or of the whole, compression ratio), each checked before what
    it bounds is read: the entries before they are listed, each file as it is decompressed.
    """
    if not name.lower().endswith(".zip"):
        return [(name, data)]
    entries = _entries_at_most(data)
    if entries > contract.MAX_ZIP_MEMBERS:
        raise ImportFileError(f"archive de {entries} fichiers : au plus {contract.MAX_ZIP_MEMBERS}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _UNREADABLE:
        raise ImportFileError("archive .zip illisible") from None
    with archive:
        if len(archive.infolist()) > contract.MAX_ZIP_MEMBERS:  # a directory that lied about its end
            raise ImportFileError(
                f"archive de {len(archive.infolist())} fichiers : au plus {contract.MAX_ZIP_MEMBERS}"
            )
        members = [
            member
            for member in archive.infolist()
            if not member.is_dir()
            and "__MACOSX" not in PurePosixPath(member.filename).parts
            and not PurePosixPath(member.filename).name.startswith(".")
        ]
        if any(member.flag_bits & 0x1 for member in members):
            raise ImportFileError("archive protégée par un mot de passe")
        if not members:
            raise ImportFileError("archive vide")
        files = []
        room = contract.MAX_EXPANDED_BYTES
        for member in members:
            source = f"{name}/{member.filename}"
            if _is_archive(source):
                files.append((source, b""))
                continue
            content = _expand(archive, member, room)
            room -= len(content)
            files.append((source, content))
        return files


def _entries_at_most(data: bytes) -> int:
    """How many entries a .zip's central directory may hold, counted without parsing them.

    zipfile makes an object of each entry as it opens the archive: a 50 MB upload could hold
    a million. Each entry starts with a signature, counted between the directory's start (the
    end record gives its size) and the end record: a bound never below the true count.
    """
    end = data.rfind(b"PK\x05\x06")
    if end < 0 or end + 22 > len(data):
        return 0  # not a .zip: zipfile says so
    (length,) = struct.unpack_from("<I", data, end + 12)
    # ZIP64's end records (76 bytes) may stand between the directory and the end record.
    start = 0 if length == 0xFFFFFFFF else max(0, end - length - 76)
    return data.count(b"PK\x01\x02", start, end)


def _expand(archive: zipfile.ZipFile, member: zipfile.ZipInfo, room: int) -> bytes:
    """A file of a .zip, decompressed a piece at a time while it stays within the limits.

    The sizes its header gives are checked first, then every piece read, for a header may lie
    (and zipfile, told a small size, decompresses a whole read before cutting it down).
    """
    label = member.filename
    if member.compress_type not in _METHODS:
        raise ImportFileError(
            f"{label} : méthode de compression non prise en charge (attendu : deflate, ou sans compression)"
        )
    _check_expanded(label, member.file_size, member.compress_size, room)
    pieces = []
    expanded = 0
    try:
        with archive.open(member) as stream:
            while piece := stream.read(_READ):
                expanded += len(piece)
                _check_expanded(label, expanded, member.compress_size, room, read=True)
                pieces.append(piece)
    except _UNREADABLE as error:
        raise ImportFileError(f"{label} : archive .zip illisible ({error})") from None
    return b"".join(pieces)


def _check_expanded(label: str, expanded: int, compressed: int, room: int, read: bool = False) -> None:
    """Refuse a file of a .zip whose decompressed size (``read``: so far) is over a limit."""
    over = "plus de " if read else ""
    if expanded > contract.MAX_FILE_BYTES:
        raise ImportFileError(f"{label} : plus de {size(contract.MAX_FILE_BYTES)} une fois décompressé")
    if expanded > room:
        raise ImportFileError(
            f"{label} : archive de plus de {size(contract.MAX_EXPANDED_BYTES)} une fois décompressée"
        )
    ratio = contract.MAX_COMPRESSION_RATIO
    if expanded > contract.RATIO_CHECKED_FROM and expanded > ratio * max(compressed, 1):
        raise ImportFileError(
            f"{label} : {over}{size(expanded)} décompressés pour {size(compressed)} compressés "
            f"(au plus {ratio} fois plus) : archive piégée ?"
        )


def _is_archive(source: str) -> bool:
    return PurePosixPath(source).name.lower().endswith(".zip")


def _refused(source: str, error: ImportFileError, kind: str = NO_KIND) -> ImportResult:
    return ImportResult(source=source, kind=kind, problems=[error.problem()])


def _contract_files(
    uploads: Sequence[tuple[str, bytes]],
) -> tuple[list[tuple[str, str, bytes]], list[ImportResult]]:
    """The files of the upload with their kind, in the contract's order; and those refused outright."""
    files: list[tuple[str, str, bytes]] = []
    refused: list[ImportResult] = []
    for name, data in uploads:
        try:
            parts = read_upload(name, data)
        except ImportFileError as error:
            refused.append(_refused(name, error))
            continue
        for source, content in parts:
            if source != name and _is_archive(source):
                nested = ImportFileError("archive dans l'archive : envoyez les fichiers CSV eux-mêmes")
                refused.append(_refused(source, nested))
                continue
            try:
                kind = reading.kind_of(PurePosixPath(PurePosixPath(source).name))
            except ImportFileError as error:
                refused.append(_refused(source, error))
                continue
            files.append((source, kind, content))
    # A stable sort: two files of the same kind keep the order they were sent in.
    files.sort(key=lambda file: IMPORT_ORDER.index(file[1]))
    return files, refused


def check_upload(uploads: Sequence[tuple[str, bytes]], *, engine: Engine | None = None) -> list[ImportResult]:
    """What importing these uploaded files would do, file by file, without writing anything.

    The contract files come in the contract's import order, each checked against the rows
    of the accepted files before it; the files refused outright (unknown name, unreadable
    archive) come last.
    """
    files, refused = _contract_files(uploads)
    return importer.check_files(files, engine=engine) + refused


def import_upload(
    uploads: Sequence[tuple[str, bytes]], *, imported_by: str, engine: Engine | None = None
) -> list[ImportResult]:
    """Import these uploaded files in the contract's order, each whole or not at all.

    A refused contract file is written nowhere but is kept in the import history with its
    reasons, as on the command line; files refused outright come last and are not recorded.
    """
    files, refused = _contract_files(uploads)
    done = [
        importer.import_bytes(content, source=source, kind=kind, engine=engine, imported_by=imported_by)
        for source, kind, content in files
    ]
    return done + refused


def upload_digest(uploads: Sequence[tuple[str, bytes]]) -> str:
    """A fingerprint of an upload's names and contents (the page checks an upload once)."""
    digest = hashlib.sha256()
    for name, data in uploads:
        digest.update(hashlib.sha256(name.encode()).digest() + hashlib.sha256(data).digest())
    return digest.hexdigest()


def report_frame(results: Sequence[ImportResult]) -> pd.DataFrame:
    """One row per file of a check or an import: its kind, rows read and what was (or would be) done."""
    return pd.DataFrame(
        [
            {
                "file": result.source,
                "kind": result.kind,
                "accepted": result.accepted,
                "rows": result.rows,
                "inserted": result.inserted,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "problems": len(result.problems),
            }
            for result in results
        ],
        columns=["file", "kind", "accepted", "rows", "inserted", "updated", "unchanged", "problems"],
    )


def import_history(limit: int = 200, engine: Engine | None = None) -> pd.DataFrame:
    """The latest imports, newest first, with the reasons of each refusal.

    ``at`` is the Europe/Paris time; ``problems`` counts the stored problems and ``reasons``
    lists the first ``contract.SHOWN_PROBLEMS`` as the command line prints them
    (``fichier:ligne: colonne: valeur: raison``), personal values masked.
    """
    query = (
        sa.select(
            RUNS.c.started_at,
            RUNS.c.imported_by,
            RUNS.c.source,
            RUNS.c.kind,
            RUNS.c.accepted,
            RUNS.c.inserted,
            RUNS.c.updated,
            RUNS.c.unchanged,
            RUNS.c.problems,
        )
        .order_by(RUNS.c.started_at.desc(), RUNS.c.id.desc())
        .limit(limit)
    )
    columns = ["at", "imported_by", "source", "kind", "accepted", "inserted", "updated", "unchanged"]
    with (engine or get_engine()).connect() as connection:
        rows = connection.execute(query).all()
    history = pd.DataFrame([row[:-1] for row in rows], columns=columns)
    history["at"] = pd.to_datetime(history["at"], utc=True).dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    stored = [json.loads(row.problems or "[]") for row in rows]
    history["problems"] = [len(problems) for problems in stored]
    reasons = [
        [Problem(**problem).describe(row.source) for problem in problems[: contract.SHOWN_PROBLEMS]]
        for row, problems in zip(rows, stored, strict=True)
    ]
    history["reasons"] = pd.Series(reasons, dtype=object)
    return history
