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
import zipfile
from collections.abc import Sequence
from pathlib import PurePosixPath

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services import importer
from services.config import LOCAL_TZ
from services.contract import IMPORT_ORDER
from services.database import get_engine
from services.importer import ImportFileError, ImportResult, Problem
from services.models import ImportRun

#: The file types the page accepts.
UPLOAD_TYPES = ("csv", "zip")
#: A .zip may not unpack to more than this (the upload itself is at most 50 MB).
MAX_UNZIPPED_BYTES = 500 * 1024 * 1024
#: The kind of a file that could not be given one (its name is no contract file's).
NO_KIND = ""
RUNS = ImportRun.__table__


def read_upload(name: str, data: bytes) -> list[tuple[str, bytes]]:
    """The files of one uploaded file ``(source, content)``: a CSV as it is, or each file of a .zip.

    A file inside a .zip is named ``archive.zip/member.csv``. Folders and the hidden files
    archivers add (``__MACOSX/``, ``._x``, ``.DS_Store``) are skipped. Raises ImportFileError
    for a .zip that cannot be opened, is encrypted or would unpack to too much.
    """
    if not name.lower().endswith(".zip"):
        return [(name, data)]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ImportFileError("archive .zip illisible") from None
    with archive:
        members = [
            member
            for member in archive.infolist()
            if not member.is_dir()
            and "__MACOSX" not in PurePosixPath(member.filename).parts
            and not PurePosixPath(member.filename).name.startswith(".")
        ]
        if sum(member.file_size for member in members) > MAX_UNZIPPED_BYTES:
            limit = MAX_UNZIPPED_BYTES // (1024 * 1024)
            raise ImportFileError(f"archive trop volumineuse une fois décompressée (plus de {limit} Mo)")
        if any(member.flag_bits & 0x1 for member in members):
            raise ImportFileError("archive protégée par un mot de passe")
        if not members:
            raise ImportFileError("archive vide")
        try:
            return [(f"{name}/{member.filename}", archive.read(member)) for member in members]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError) as error:
            raise ImportFileError(f"archive .zip illisible ({error})") from None


def _refused(source: str, reason: str, kind: str = NO_KIND) -> ImportResult:
    return ImportResult(source=source, kind=kind, problems=[Problem(1, "(fichier)", "", reason)])


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
            refused.append(_refused(name, str(error)))
            continue
        for source, content in parts:
            member = PurePosixPath(source).name
            if member.lower().endswith(".zip"):
                refused.append(
                    _refused(source, "archive dans l'archive : envoyez les fichiers CSV eux-mêmes")
                )
                continue
            try:
                kind = importer.kind_of(PurePosixPath(member))
            except ImportFileError as error:
                refused.append(_refused(source, str(error)))
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

    ``at`` is the Europe/Paris time; ``reasons`` lists the stored problems as the command line
    prints them (``fichier:ligne: colonne: valeur: raison``), personal values masked.
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
    reasons = [
        [Problem(**problem).describe(row.source) for problem in json.loads(row.problems or "[]")]
        for row in rows
    ]
    history["problems"] = [len(lines) for lines in reasons]
    history["reasons"] = pd.Series(reasons, dtype=object)
    return history
