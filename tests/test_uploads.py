"""Uploads from the data page: zips and several files, the check before import, the history.

Every file here is written by hand; the expected counts and problem lines are worked out from
the data contract, in the comments.
"""

from __future__ import annotations

import io
import zipfile

import pytest
import sqlalchemy as sa

from services.__main__ import main as command_line
from services.imports import columns, uploads
from services.imports.problems import ImportFileError
from services.store import database, models
from tests.conftest import load

SITES = b"code,name,city\nMAX,Maxeville,Maxeville\nNEW,Nouveau site,Nancy\n"
#: One programme at NEW, a site that only the SITES file above brings.
PROGRAMS = b"code,name,level,site_code,seats\nBTS-MS,BTS Maintenance,BTS,NEW,12\n"


def zip_of(*members: tuple[str, bytes]) -> bytes:
    """A .zip holding these (name, content) members; a name ending with / is a folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def count(engine, model: type) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(model.__table__)).scalar_one()


# ---------------------------------------------------------------- reading an upload


def test_a_csv_upload_is_the_file_itself():
    assert uploads.read_upload("sites.csv", SITES) == [("sites.csv", SITES)]


def test_a_zip_gives_its_files_without_folders_nor_hidden_files():
    data = zip_of(
        ("sites.csv", SITES),
        ("export/", b""),
        ("export/programs.csv", PROGRAMS),
        ("__MACOSX/export/._programs.csv", b"\x00\x05resource fork"),
        (".DS_Store", b"\x00\x00"),
    )
    assert uploads.read_upload("lot.ZIP", data) == [
        ("lot.ZIP/sites.csv", SITES),
        ("lot.ZIP/export/programs.csv", PROGRAMS),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"PK but not really a zip", "archive .zip illisible"),
        (zip_of(("export/", b"")), "archive vide"),
    ],
    # Named, not by their bytes: a zip holds the time it was written, which two test workers
    # collecting a second apart would see differently (and refuse to run together).
    ids=["not a zip", "only a folder"],
)
def test_an_unreadable_zip_is_refused(data, reason):
    with pytest.raises(ImportFileError, match=reason):
        uploads.read_upload("lot.zip", data)


# ---------------------------------------------------------------- the check before import


def test_a_zip_of_two_files_is_checked_in_the_contract_order_and_nothing_is_written(engine):
    version = database.data_version(engine)
    # programs.csv comes first in the archive but references NEW, a site of sites.csv: the
    # check takes sites first (contract order) and programs then sees NEW.
    report = uploads.check_upload([("lot.zip", zip_of(("programs.csv", PROGRAMS), ("sites.csv", SITES)))])
    assert [(r.source, r.kind, r.accepted) for r in report] == [
        ("lot.zip/sites.csv", "sites", True),
        ("lot.zip/programs.csv", "programs", True),
    ]
    # sites: 2 rows, both new; programs: 1 row, new.
    assert [(r.rows, r.inserted, r.updated, r.unchanged) for r in report] == [(2, 2, 0, 0), (1, 1, 0, 0)]
    # A check writes nothing: no site, no programme, no history, the same data version.
    assert count(engine, models.Site) == count(engine, models.Program) == count(engine, models.ImportRun) == 0
    assert database.data_version(engine) == version


def test_a_zip_with_a_bad_file_reports_every_bad_row(engine):
    bad_programs = (
        b"code,name,level,site_code,seats\n"
        b"BTS-MS,BTS Maintenance,BTS,NEW,12\n"  # line 2: fine (NEW comes with sites.csv)
        b"CAP-X,CAP X,CAP,NOPE,3\n"  # line 3: no site NOPE anywhere
        b"CAP-Y,CAP Y,CAP,MAX,-1\n"  # line 4: seats must be >= 0
    )
    advisors = b"email,name,site_code\nAnne@Example.org,Anne,NEW\n"
    report = uploads.check_upload(
        [
            ("lot.zip", zip_of(("sites.csv", SITES), ("programs.csv", bad_programs))),
            ("advisors.csv", advisors),
        ]
    )
    by_kind = {result.kind: result for result in report}
    assert [result.kind for result in report] == ["sites", "programs", "advisors"]
    assert by_kind["sites"].accepted and by_kind["advisors"].accepted  # advisors sees NEW too
    programs = by_kind["programs"]
    assert not programs.accepted and programs.rows == 3 and programs.inserted == 0
    assert programs.describe_problems() == [
        "lot.zip/programs.csv:3: site_code: NOPE: site inconnu",
        "lot.zip/programs.csv:4: seats: -1: doit être ≥ 0",
    ]


def test_a_refused_file_is_not_seen_by_the_files_after_it(engine):
    # sites.csv is refused (line 3 has no name), so NEW does not exist for programs.csv either,
    # exactly as a real import of the two files would go.
    sites = b"code,name\nMAX,Maxeville\nNEW,\n"
    report = uploads.check_upload([("sites.csv", sites), ("programs.csv", PROGRAMS)])
    assert [r.describe_problems() for r in report] == [
        ["sites.csv:3: name: : valeur obligatoire manquante"],
        ["programs.csv:2: site_code: NEW: site inconnu"],
    ]


def test_files_refused_outright_each_get_one_clear_error(engine):
    report = uploads.check_upload(
        [
            ("notes.csv", b"a,b\n1,2\n"),
            ("sites.csv", b"\x00\x01\x02binary"),
            ("events.csv", b""),
            ("lot.zip", b"not a zip at all"),
            ("nested.zip", zip_of(("inner.zip", zip_of(("sites.csv", SITES))))),
        ]
    )
    # The contract files first, in the contract's order (sites before events), then the
    # files that have no kind at all, in the order they were sent.
    assert [(r.source, r.kind) for r in report] == [
        ("sites.csv", "sites"),
        ("events.csv", "events"),
        ("notes.csv", ""),
        ("lot.zip", ""),
        ("nested.zip/inner.zip", ""),
    ]
    assert not any(result.accepted for result in report)
    lines = [line for result in report for line in result.describe_problems()]
    assert lines[:2] == [
        "sites.csv:1: (fichier): : ce n'est pas un fichier CSV (contenu binaire)",
        "events.csv:1: (fichier): : fichier vide",
    ]
    assert lines[2].startswith(
        "notes.csv:1: (fichier): : type de fichier inconnu « notes » (attendu : sites,"
    )
    assert lines[3] == "lot.zip:1: (fichier): : archive .zip illisible"
    assert lines[4].startswith("nested.zip/inner.zip:1: (fichier): : archive dans l'archive")


def test_problems_read_exactly_as_the_command_line_prints_them(engine, tmp_path, capsys):
    bad = b"code,name,level,site_code,seats\nBTS-MS,BTS,BAC+2,NOPE,douze\n,Sans code,CAP,MAX,1\n"
    path = tmp_path / "programs.csv"
    path.write_bytes(bad)
    assert command_line(["import", str(path)]) == 1
    printed = capsys.readouterr().err.splitlines()[1:]  # after "… : refusé, rien n'a été écrit (…)"
    checked = uploads.check_upload([("programs.csv", bad)])[0].describe_problems()
    assert [line.replace(str(path), "programs.csv") for line in printed] == checked
    # level, seats on line 2 and the missing code on line 3: three problems.
    assert len(checked) == 3


def test_counts_of_a_check_are_what_the_import_then_does(engine):
    load("sites", "code,name\nMAX,Maxeville\nYUT,Yutz\n", engine)
    # MAX as stored (unchanged), YUT renamed (updated), NEW (inserted): 3 rows read.
    upload = [("sites.csv", b"code,name\nMAX,Maxeville\nYUT,Yutz Ville\nNEW,Nouveau\n")]
    [checked] = uploads.check_upload(upload)
    assert (checked.rows, checked.inserted, checked.updated, checked.unchanged) == (3, 1, 1, 1)
    [done] = uploads.import_upload(upload, imported_by="admin@example.org")
    assert (done.accepted, done.inserted, done.updated, done.unchanged) == (True, 1, 1, 1)


def test_a_check_sees_what_the_files_before_it_would_write_and_counts_as_the_import(engine):
    load("sites", "code,name\nMAX,Maxeville\n", engine)
    load(
        "events", "code,name,kind,starts_on,ends_on\nJD,Job dating,in_person,2020-05-19,2020-05-20\n", engine
    )
    upload = [
        # events: JD becomes a job dating (updated), JD2 is new.
        (
            "export.zip",
            zip_of(
                (
                    "events.csv",
                    b"code,name,kind,starts_on,ends_on\n"
                    b"JD,Job dating,job_dating,2020-05-19,2020-05-20\n"
                    b"JD2,Job dating 2,job_dating,2020-06-02,2020-06-02\n",
                ),
                ("sites.csv", b"code,name\nNEW,Nouveau\n"),
            ),
        ),
        # Two sites files in one upload: the second sees NEW from the first (unchanged, then
        # renamed), and MAX as stored.
        ("sites.csv", b"code,name\nNEW,Nouveau site\nMAX,Maxeville\n"),
        ("programs.csv", b"code,name,site_code\nBTS-MS,BTS,NEW\n"),
    ]
    checked = uploads.check_upload(upload)
    counts = [(r.source, r.accepted, r.inserted, r.updated, r.unchanged) for r in checked]
    assert counts == [
        ("export.zip/sites.csv", True, 1, 0, 0),
        ("sites.csv", True, 0, 1, 1),
        ("programs.csv", True, 1, 0, 0),
        ("export.zip/events.csv", True, 1, 1, 0),
    ]
    assert count(engine, models.Site) == 1 and count(engine, models.Event) == 1  # nothing written
    done = uploads.import_upload(upload, imported_by="admin@example.org")
    assert [(r.source, r.accepted, r.inserted, r.updated, r.unchanged) for r in done] == counts


@pytest.mark.parametrize(
    ("stored_kind", "new_kind", "accepted"),
    [("in_person", "job_dating", True), ("job_dating", "virtual", False)],
)
def test_a_check_sees_an_event_change_kind_in_a_file_before(engine, stored_kind, new_kind, accepted):
    # A meeting must name a job dating: the events file of the same upload decides, not the store.
    load("sites", "code,name\nMAX,Maxeville\n", engine)
    load("candidates", "ref,created_at\nCA,2020-04-01 10:00\n", engine)
    load("companies", "siret,name\n12345678900011,Forges\n", engine)
    load("offers", "ref,siret,site_code,published_on\nO1,12345678900011,MAX,2020-04-02\n", engine)
    load(
        "events",
        f"code,name,kind,starts_on,ends_on\nJD,Rencontres,{stored_kind},2020-05-19,2020-05-20\n",
        engine,
    )
    events = f"code,name,kind,starts_on,ends_on\nJD,Rencontres,{new_kind},2020-05-19,2020-05-20\n".encode()
    meetings = (
        b"ref,event_code,candidate_ref,offer_ref,starts_at,status\nM1,JD,CA,O1,2020-05-19 10:00,planned\n"
    )
    checked = uploads.check_upload([("meetings.csv", meetings), ("events.csv", events)])
    assert [(r.source, r.accepted) for r in checked] == [("events.csv", True), ("meetings.csv", accepted)]
    done = uploads.import_upload([("meetings.csv", meetings), ("events.csv", events)], imported_by="admin")
    assert [(r.source, r.accepted) for r in done] == [("events.csv", True), ("meetings.csv", accepted)]


@pytest.mark.sqlite_only  # SQLite's single write lock
def test_a_check_takes_no_write_lock(engine, monkeypatch):
    # A check reads: while it runs, another connection writes at once (SQLite, busy timeout 0).
    import sqlite3

    from services.imports import importer

    typed = columns.type_columns

    def typed_then_write_elsewhere(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        connection = sqlite3.connect(engine.url.database, timeout=0)
        try:
            connection.execute("UPDATE store_state SET demo_data = demo_data")
            connection.commit()
        finally:
            connection.close()
        return typed(*args, **kwargs)

    monkeypatch.setattr(importer, "type_columns", typed_then_write_elsewhere)
    [checked] = uploads.check_upload([("sites.csv", SITES)])
    assert (checked.accepted, checked.inserted) == (True, 2)


# ---------------------------------------------------------------- the import and its history


def test_import_writes_the_accepted_files_and_keeps_refusals_in_the_history(engine):
    bad_programs = b"code,name,site_code\nCAP-X,CAP X,NOPE\n"
    results = uploads.import_upload(
        [("notes.csv", b"x\n1\n"), ("programs.csv", bad_programs), ("sites.csv", SITES)],
        imported_by="admin@example.org",
    )
    assert [(r.source, r.accepted) for r in results] == [
        ("sites.csv", True),
        ("programs.csv", False),
        ("notes.csv", False),
    ]
    assert count(engine, models.Site) == 2 and count(engine, models.Program) == 0
    history = uploads.import_history()
    # Newest first; notes.csv has no kind, so it has no place in the history.
    assert list(history["source"]) == ["programs.csv", "sites.csv"]
    assert list(history["imported_by"]) == ["admin@example.org"] * 2
    assert list(history["accepted"]) == [False, True]
    assert list(history["inserted"]) == [0, 2]
    assert list(history["problems"]) == [1, 0]
    assert history["reasons"][0] == ["programs.csv:2: site_code: NOPE: site inconnu"]
    assert history["reasons"][1] == []


def test_the_history_masks_personal_values_the_check_shows(engine):
    candidates = (
        b"ref,first_name,email,birth_date,created_at\n"
        b"C1,Lea,lea.at.example.org,2008-02-30,2020-04-01 10:00\n"  # bad e-mail, impossible date
    )
    [checked] = uploads.check_upload([("candidates.csv", candidates)])
    assert checked.describe_problems() == [
        "candidates.csv:2: email: lea.at.example.org: adresse e-mail invalide",
        "candidates.csv:2: birth_date: 2008-02-30: date impossible",
    ]
    uploads.import_upload([("candidates.csv", candidates)], imported_by="admin@example.org")
    assert uploads.import_history()["reasons"][0] == [
        "candidates.csv:2: email: •••: adresse e-mail invalide",
        "candidates.csv:2: birth_date: •••: date impossible",
    ]


def test_history_times_are_paris_times(engine):
    uploads.import_upload([("sites.csv", SITES)], imported_by="admin@example.org")
    with engine.connect() as connection:
        stored = connection.execute(sa.select(models.ImportRun.__table__.c.started_at)).scalar_one()
    shown = uploads.import_history()["at"][0]
    # Paris is UTC+1 or UTC+2: the shown wall time is 1 or 2 hours after the stored UTC one.
    assert (shown - stored.replace(tzinfo=None)).total_seconds() in {3600, 7200}


def test_an_empty_history(engine):
    history = uploads.import_history()
    assert history.empty and "reasons" in history.columns
