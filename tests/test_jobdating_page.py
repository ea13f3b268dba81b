"""The job-dating page in AppTest on tests/data/scenario (figures worked out in test_jobdating):
directors see the lists of names and export them, marketing sees counts and no name."""

from __future__ import annotations

import csv
import io
from datetime import date

import openpyxl
import pytest
from streamlit.testing.v1 import AppTest

from services.metrics import jobdating
from services.store import audit
from services.store.scope import Scope
from tests.apptest_browser import download
from tests.conftest import app_as, load

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL

PAGE = "pages/directors/jobdating.py"
APRIL = {"event": "JD-2020-04", "from": "2020-04-01", "to": "2020-04-30"}
#: Every name of a person or a company of the scenario the uncovered lists could show.
NAMES = (b"Erb", b"Emma", b"Cordier", b"Fontaine", b"Usinage Mosellan", b"Forges de Lorraine")


@pytest.fixture
def downloads():
    """Builds a download as the browser asks for it: ``downloads(app, key)`` → the file's bytes."""
    return download


def rendered(app: AppTest) -> bytes:
    """Everything the page sent to the browser (tables and charts included)."""
    parts: list[bytes] = []

    def walk(node: object) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(proto.SerializeToString())
        for child in (getattr(node, "children", None) or {}).values():
            walk(child)

    walk(app._tree)
    return b"\n".join(parts)


def exports_of_lists(app: AppTest) -> int:
    """How many download buttons export a list of offers or candidates."""
    return sum(
        button.proto.id.endswith(f"{name}_{kind}")
        for button in app.get("download_button")
        for name in ("offres_sans_rencontre", "candidats_sans_rencontre")
        for kind in ("csv", "xlsx")
    )


def metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def frames(app: AppTest) -> dict[str, object]:
    """The page's tables, by their first columns (enough to tell them apart)."""
    return {tuple(frame.value.columns[:2]): frame.value for frame in app.dataframe}


def test_a_director_sees_every_figure_and_both_lists(scenario):
    app = app_as("director", page=PAGE, **APRIL)
    assert app.title[0].value == "Job dating"
    shown = metrics(app)
    # Positions O1 2 + O2 1 + O3 3; seeking CC, CE, CF; planned M1–M3; show rate 2 / 3; CA's contract
    # 12 days after 20/04; O3 and CE uncovered. Nothing in April 2019: the deltas are the figures.
    assert shown["Postes offerts"] == "6"
    assert app.metric[0].delta == "+6"
    assert shown["Offres publiées"] == "3"
    assert shown["Candidats en recherche"] == "3"
    assert shown["Rencontres prévues"] == "3"
    assert shown["Présence aux rencontres"] == "66,7\u00a0%"
    assert shown["Intérêt mutuel"] == "100,0\u00a0%"
    assert shown["Contrats signés"] == "1"
    assert shown["Jours jusqu'au contrat"] == "12"
    assert (shown["Offres sans rencontre"], shown["Candidats sans rencontre"]) == ("1", "1")
    assert all(metric.help for metric in app.metric)
    # BTS-MS: 3 positions for 1 seeking (CF); CAP-RI: 3 for 2 (CC, CE): both the reverse case.
    said = " ".join(block.value for block in app.markdown)
    assert "Plus de postes que de candidats" in said and "Plus de candidats que de postes" not in said
    assert "BTS-MS · BTS Maintenance des systèmes : 1 candidat(s) en recherche pour 3 poste(s)" in said
    tables = frames(app)
    offers = tables[("Entreprise", "Offre")]
    assert offers[["Entreprise", "Offre", "Code", "Site", "Postes"]].values.tolist() == [
        ["Usinage Mosellan", "O3", "CAP-RI", "Yutz", "3"]  # figures as the page writes them
    ]
    candidates = tables[("Nom", "Prénom")]
    assert candidates[["Nom", "Prénom", "Code", "Site", "Inscription"]].values.tolist() == [
        ["Erb", "Emma", "CAP-RI", "Yutz", "Inscrit"]
    ]
    by_site = tables[("Code site", "Site")].set_index("Code site")
    assert by_site.loc["MAX", ["Prévues", "Tenues", "Intérêt mutuel", "Contrats signés"]].tolist() == [
        "2",
        "2",
        "2",
        "1",
    ]
    # Seeing names is audited once.
    views = audit.recent_events().query("action == 'view' and target == 'jobdating'")
    assert len(views) == 1


def test_the_exports_hold_the_lists_and_are_audited(scenario, downloads):
    app = app_as("admin", page=PAGE, **APRIL)
    rows = list(
        csv.DictReader(
            io.StringIO(downloads(app, "jobdating_candidats_sans_rencontre_csv").decode("utf-8-sig")),
            delimiter=";",
        )
    )
    assert [(row["Nom"], row["Prénom"], row["Code"], row["Site"]) for row in rows] == [
        ("Erb", "Emma", "CAP-RI", "Yutz")
    ]
    sheet = openpyxl.load_workbook(io.BytesIO(downloads(app, "jobdating_offres_sans_rencontre_xlsx"))).active
    values = list(sheet.values)
    assert values[0][:3] == ("Entreprise", "Offre", "Code")
    assert values[1][:5] == ("Usinage Mosellan", "O3", "CAP-RI", "CAP Réalisations industrielles", "YUT")
    supply = downloads(app, "jobdating_offre_demande_csv").decode("utf-8-sig")
    assert supply.splitlines()[0].startswith(
        "Code;Formation;Code site;Site;Offres;Postes;Candidats en recherche"
    )
    # Each file is in the audit log as it was built, when the browser asked (newest first).
    exported = audit.recent_events().query("action == 'export'")
    assert exported[["target", "detail"]].values.tolist() == [
        ["offre_demande", "csv"],
        ["offres_sans_rencontre", "xlsx"],
        ["candidats_sans_rencontre", "csv"],
    ]


def test_marketing_sees_counts_and_no_name(scenario, downloads):
    app = app_as("marketing", page=PAGE, **APRIL)
    assert metrics(app)["Candidats sans rencontre"] == "1"
    shown = rendered(app)
    assert len(shown) > 5_000  # the page did draw its figures and tables
    assert not [name for name in NAMES if name in shown]
    counts = next(frame.value for frame in app.dataframe if "Candidats sans rencontre" in frame.value.columns)
    columns = [
        "Code",
        "Code site",
        "Offres sans rencontre",
        "Postes sans rencontre",
        "Candidats sans rencontre",
    ]
    assert counts[columns].values.tolist() == [["CAP-RI", "YUT", "1", "3", "1"]]
    assert not exports_of_lists(app)
    exported = downloads(app, "jobdating_sans_rencontre_par_formation_csv")
    assert not [name for name in NAMES if name in exported]
    # The same checks see the names and the lists a director is shown: they can fail.
    director = app_as("director", page=PAGE, **APRIL)
    assert any(name in rendered(director) for name in NAMES)
    assert exports_of_lists(director) == 4


def test_the_names_are_never_served_to_marketing_from_the_cache(scenario):
    from services.access import roles
    from services.app import cached

    scope = Scope(date(2020, 4, 1), date(2020, 4, 30), "JD-2020-04")
    assert len(cached.uncovered_candidates(scope, roles.Viewer("director"), 1)) == 1
    with pytest.raises(PermissionError):
        cached.uncovered_candidates(scope, roles.Viewer("marketing"), 1)


def test_an_open_day_operation_offers_the_latest_job_dating(scenario):
    app = app_as("director", page=PAGE, event="POV-2020-04")
    assert any("n'est pas un job dating" in info.value for info in app.info)
    assert not app.metric
    app.button(key="jobdating_show_latest").click().run()
    assert not app.exception, app.exception
    assert app.selectbox(key="filter_event").value == "JD-2020-04"
    # JD-2020-04's own period: 20/04 to 30 days after 21/04; the meetings M1–M4 are in it.
    assert app.date_input(key="filter_period").value == (date(2020, 4, 20), date(2020, 5, 21))
    assert metrics(app)["Rencontres prévues"] == "3"


def test_a_period_without_offers_says_so_and_widens_to_the_year(scenario):
    app = app_as("director", page=PAGE, event="JD-2020-04", **{"from": "2020-04-20", "to": "2020-04-24"})
    # No offer published from 20/04 to 24/04 (O3 is from the 25th).
    assert any("Aucune offre publiée du 20 avr. 2020 au 24 avr. 2020" in info.value for info in app.info)
    assert metrics(app)["Postes offerts"] == "0"
    assert not app.metric[0].delta  # 0 now and a year earlier: no "+0" arrow
    app.button(key="jobdating_widen").click().run()
    assert not app.exception, app.exception
    # From 01/01/2020: O4 (01/03, 1 position), O1 (2), O2 (1); O3 is still after the 24th.
    assert metrics(app)["Postes offerts"] == "4"
    expected = jobdating.job_dating_figures(Scope(date(2020, 1, 1), date(2020, 4, 24), "JD-2020-04"))
    assert metrics(app)["Contrats signés"] == str(expected["contracts_signed"]) == "1"


def test_without_a_job_dating_the_page_says_what_to_import(engine):
    app = app_as("director", page=PAGE)
    assert any("Aucun job dating" in info.value for info in app.info)


def test_the_demo_job_dating(demo_store):
    app = app_as("director", page=PAGE, event="JD-2020-05")
    figures = jobdating.job_dating_figures(
        Scope(*app.date_input(key="filter_period").value, "JD-2020-05"), demo_store
    )
    assert metrics(app)["Contrats signés"] == str(figures["contracts_signed"])
    assert figures["meetings"]["total"] > 0
    assert len(app.get("plotly_chart")) == 2  # supply and demand, the funnel


def test_in_english(scenario):
    app = app_as("director", page=PAGE, lang="en", **APRIL)
    assert metrics(app)["Positions offered"] == "6"
    assert "Offers without a meeting (1)" in [tab.label for tab in app.tabs]


def test_a_job_dating_without_offers_seekers_or_meetings_says_so(engine):
    load(
        "events", "code,name,kind,starts_on,ends_on\nJD,Job dating,job_dating,2020-05-19,2020-05-20\n", engine
    )
    app = app_as("director", page=PAGE, event="JD")
    said = [info.value for info in app.info]
    assert any("Aucune offre publiée dans la période et aucun candidat en recherche" in text for text in said)
    assert any("Aucune rencontre dans ce périmètre" in text for text in said)
    assert metrics(app)["Offres sans rencontre"] == "0"
