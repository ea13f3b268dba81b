"""The admin's data page in AppTest: import with its check, history, exports, users and roles.

The figures expected are worked out by hand from the files written here and from the
scenario (tests/data/scenario: two sites, MAX and YUT; two advisors, Anne and Yves).
"""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from services.access import accounts, roles
from services.access.accounts import AccountError
from services.app.markdown import escape_markdown
from services.imports import uploads
from services.store import audit, models
from tests.apptest_browser import download
from tests.conftest import app_as

PAGE = "pages/admin/data.py"
#: The account app_as("admin") signs in with (tests/conftest.py).
ADMIN = "admin.test@test.rencontres.fr"
SITES = b"code,name,city\nNEW,Nouveau site,Nancy\nOLD,Ancien site,Metz\n"
#: Line 2 is fine (NEW comes with SITES); line 3 names a site that exists nowhere.
PROGRAMS = b"code,name,level,site_code,seats\nBTS-MS,BTS Maintenance,BTS,NEW,12\nCAP-X,CAP X,CAP,NOPE,3\n"


def open_page() -> AppTest:
    return app_as("admin", page=PAGE)


def button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


def table_with(app: AppTest, column: str):
    """The first table shown that has this column (the page's tabs are all drawn)."""
    return next(frame.value for frame in app.dataframe if column in frame.value.columns)


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def count(engine, model: type) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(model.__table__)).scalar_one()


def audited(action: str) -> list[tuple]:
    events = audit.recent_events()
    events = events[events["action"] == action].astype(object)
    return [
        tuple(None if pd.isna(v) else v for v in row) for row in events[["actor", "target", "detail"]].values
    ]


# ---------------------------------------------------------------- who reaches the page


def test_the_page_on_an_empty_store_says_what_to_do(engine):
    app = open_page()
    assert app.title[0].value == "Données"
    assert [tab.label for tab in app.tabs] == [
        "Importer des fichiers",
        "Historique des imports",
        "Exporter une table",
        "Utilisateurs et rôles",
        "Synchronisation",
    ]
    infos = " ".join(texts(app.info))
    assert "rien n'est écrit avant que vous cliquiez sur « Importer »" in infos
    assert "Aucun import pour l'instant" in infos
    # The only account is the admin's own: the page says why it cannot disable or demote it.
    assert "C'est votre propre compte" in infos
    assert table_with(app, "E-mail")["E-mail"].tolist() == [ADMIN]


def test_the_page_on_the_demo_store(demo_store):
    app = open_page()
    assert not app.exception
    # The demo seed imports the twelve contract files, one history row each.
    history = table_with(app, "Par")
    assert len(history) == len(uploads.import_history()) == 12
    assert set(history["Par"]) == {"seed"} and set(history["Verdict"]) == {"accepté"}


@pytest.mark.parametrize("role", ["director", "marketing"])
def test_other_roles_cannot_reach_the_page(engine, role):
    assert "data" not in roles.pages_for(role)
    app = app_as(role)
    # The page is not registered in their navigation: AppTest cannot switch to it (a browser
    # asking for /data gets Streamlit's "Page not found" and the first page instead).
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page(PAGE)
    assert app.title[0].value == "Résultats des portes ouvertes"


def test_an_advisor_cannot_reach_the_page(scenario):
    app = app_as("advisor", "anne.conseil@example.org")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page(PAGE)


# ---------------------------------------------------------------- import


def test_upload_is_checked_before_anything_is_written_then_imported(engine):
    app = open_page()
    app.file_uploader[0].set_value([("programs.csv", PROGRAMS, "text/csv"), ("sites.csv", SITES, "text/csv")])
    app.run()
    assert not app.exception
    report = table_with(app, "Lignes lues")
    # Contract order: sites (2 new rows, accepted), then programs (2 rows, line 3 refused).
    assert report["Fichier"].tolist() == ["sites.csv", "programs.csv"]
    assert report["Verdict"].tolist() == ["accepté", "refusé"]
    assert report["Lignes lues"].tolist() == [2, 2]
    assert report["Ajouts"].tolist() == [2, 0]
    assert texts(app.code) == ["programs.csv:3: site_code: NOPE: site inconnu"]
    assert count(engine, models.Site) == 0 and count(engine, models.ImportRun) == 0  # nothing yet

    button(app, "Importer (1 fichier accepté)").click().run()
    assert not app.exception
    assert count(engine, models.Site) == 2 and count(engine, models.Program) == 0
    assert texts(app.success) == ["sites.csv : 2 ajoutée(s), 0 mise(s) à jour, 0 inchangée(s)"]
    assert "programs.csv : refusé, rien n'a été écrit (1 problème)" in texts(app.error)
    assert not app.file_uploader[0].value  # a fresh uploader: the same files are not sent twice
    # The history, on the same run: newest first, by the signed-in admin.
    history = table_with(app, "Par")
    assert history["Fichier"].tolist() == ["programs.csv", "sites.csv"]
    assert history["Par"].tolist() == [ADMIN, ADMIN]
    assert history["Problèmes"].tolist() == ["1", "0"]  # written as the page writes figures (format_table)
    assert app.expander[0].label.endswith("programs.csv · 1 problème(s)")


def test_a_file_refused_outright_is_shown_and_blocks_nothing_else(engine):
    app = open_page()
    app.file_uploader[0].set_value(
        [("notes.csv", b"a,b\n1,2\n", "text/csv"), ("sites.csv", SITES, "text/csv")]
    )
    app.run()
    assert not app.exception
    assert table_with(app, "Lignes lues")["Type"].tolist() == ["sites", "—"]
    assert any(
        line.startswith("notes.csv:1: (fichier): : type de fichier inconnu") for line in texts(app.code)
    )
    assert "1 fichier(s) sur 2 seront importés ; les fichiers refusés ne seront pas écrits." in texts(
        app.warning
    )


def test_nothing_importable_disables_the_button(engine):
    app = open_page()
    app.file_uploader[0].set_value(("sites.csv", b"", "text/csv"))
    app.run()
    assert button(app, "Importer (0 fichier accepté)").disabled
    assert texts(app.code) == ["sites.csv:1: (fichier): : fichier vide"]


# ---------------------------------------------------------------- exports


def test_each_export_is_in_the_audit_log(scenario):
    app = open_page()
    # Shown, the buttons export nothing; the browser asking for a file does (no click needed).
    assert audited("export") == []
    assert download(app, "data_export_csv").decode("utf-8-sig").startswith("code;name")  # sites
    app.selectbox(key="data_export_table").set_value("candidates").run()
    assert "colonnes : ref, first_name" in " ".join(texts(app.caption))
    download(app, "data_export_xlsx")  # Excel of the candidates
    assert not app.exception
    assert audited("export") == [(ADMIN, "candidates", "xlsx"), (ADMIN, "sites", "csv")]


# ---------------------------------------------------------------- users and roles


def fill_new_account(app: AppTest, email: str, role: str, password: str, again: str, advisor=None) -> None:
    app.text_input(key="data_add_email").set_value(email)
    app.selectbox(key="data_add_role").set_value(role)
    app.selectbox(key="data_add_advisor").set_value(advisor)
    app.text_input(key="data_add_password").set_value(password)
    app.text_input(key="data_add_again").set_value(again)
    button(app, "Créer le compte").click().run()
    assert not app.exception


def test_an_account_added_through_the_form(scenario):
    app = open_page()
    fill_new_account(
        app,
        "Anne@Example.org",
        "advisor",
        "un mot de passe long",
        "un mot de passe long",
        "anne.conseil@example.org",
    )
    assert texts(app.success) == ["Compte créé : anne@example.org (conseiller)."]
    added = accounts.list_accounts().set_index("email").loc["anne@example.org"]
    assert (added["role"], added["advisor_email"]) == ("advisor", "anne.conseil@example.org")
    assert accounts.authenticate("anne@example.org", "un mot de passe long").role == "advisor"
    assert (ADMIN, "anne@example.org", "role=advisor") in audited("account.add")
    # The typed passwords are not kept in the form; the list shows the new account.
    assert app.text_input(key="data_add_password").value == ""
    assert "anne@example.org" in table_with(app, "E-mail")["E-mail"].tolist()


@pytest.mark.parametrize(
    ("email", "role", "password", "again", "advisor", "message"),
    [
        ("x@example.org", "director", "un mot de passe long", "un autre mot de passe", None, "diffèrent"),
        (
            "x@example.org",
            "director",
            "court",
            "court",
            None,
            "mot de passe trop court (au moins 10 caractères)",
        ),
        ("x@example.org", "advisor", "un mot de passe long", "un mot de passe long", None, "choisissez-le"),
        ("", "director", "un mot de passe long", "un mot de passe long", None, "Saisissez l'adresse"),
        (ADMIN, "director", "un mot de passe long", "un mot de passe long", None, "un compte existe déjà"),
    ],
)
def test_a_refused_account_says_why_and_writes_nothing(
    scenario, email, role, password, again, advisor, message
):
    app = open_page()
    fill_new_account(app, email, role, password, again, advisor)
    assert any(message in error for error in texts(app.error)), texts(app.error)
    assert accounts.list_accounts()["email"].tolist() == [ADMIN]
    assert audited("account.add") == [("test", ADMIN, "role=admin")]  # only conftest's own


def test_role_password_and_disabling_through_the_forms(scenario):
    accounts.add_account(email="dir@example.org", role="director", password="ancien mot de passe", actor="t")
    app = open_page()
    app.selectbox(key="data_user").set_value("dir@example.org").run()

    app.selectbox(key="data_role_dir@example.org").set_value("advisor")
    app.selectbox(key="data_role_advisor_dir@example.org").set_value("yves.conseil@example.org")
    button(app, "Enregistrer le rôle").click().run()
    assert texts(app.success) == [
        "Rôle de dir@example.org : conseiller. Ses connexions en cours sont fermées."
    ]

    app.text_input(key="data_new_password").set_value("nouveau mot de passe")
    app.text_input(key="data_new_again").set_value("nouveau mot de passe")
    button(app, "Changer le mot de passe").click().run()
    signed = accounts.authenticate("dir@example.org", "nouveau mot de passe")
    assert (signed.role, signed.advisor_email) == ("advisor", "yves.conseil@example.org")

    button(app, "Désactiver").click().run()  # not confirmed: refused
    assert texts(app.error) == ["Cochez la confirmation pour désactiver le compte."]
    app.checkbox(key="data_disable_confirm").check()
    button(app, "Désactiver").click().run()
    assert not app.exception
    with pytest.raises(AccountError):
        accounts.authenticate("dir@example.org", "nouveau mot de passe")
    assert audited("account.set_role") == [(ADMIN, "dir@example.org", "role=advisor")]
    assert audited("account.set_password") == [(ADMIN, "dir@example.org", None)]
    assert audited("account.disable") == [(ADMIN, "dir@example.org", None)]
    assert "désactivé" in table_with(app, "E-mail").set_index("E-mail").loc["dir@example.org", "État"]


def test_own_account_cannot_be_disabled_nor_demoted(engine):
    app = open_page()
    assert app.selectbox(key="data_user").value == ADMIN
    assert button(app, "Désactiver").disabled and button(app, "Enregistrer le rôle").disabled
    assert not button(app, "Changer le mot de passe").disabled


def test_the_page_in_english(engine):
    app = open_page()
    app.sidebar.selectbox(key="language").set_value("en").run()
    assert not app.exception
    assert app.title[0].value == "Data"
    assert [tab.label for tab in app.tabs] == [
        "Import files",
        "Import history",
        "Export a table",
        "Users and roles",
        "Sync",
    ]


# ---------------------------------------------------------------- hostile uploads (issue 16, items 9 and 11)


def markdown_texts(app: AppTest) -> list[str]:
    """Every text the page renders as Markdown: messages, captions, labels of expanders."""
    shown = [
        element.value
        for kind in ("error", "warning", "success", "info", "caption", "markdown", "subheader")
        for element in getattr(app, kind)
    ]
    return shown + [expander.label for expander in app.expander]


def test_unknown_columns_make_one_warning_and_60000_a_single_refusal(engine):
    app = open_page()
    many = ("code,name," + ",".join(f"u{n}" for n in range(500)) + "\nNEW,Nouveau\n").encode()
    app.file_uploader[0].set_value(("sites.csv", many, "text/csv"))
    app.run()
    assert not app.exception
    warnings = [text for text in texts(app.warning) if "inconnue" in text]
    assert len(warnings) == 1 and warnings[0].endswith("autres")

    app = open_page()
    huge = ("code,name," + ",".join(f"u{n}" for n in range(60_000)) + "\nNEW,Nouveau\n").encode()
    app.file_uploader[0].set_value(("sites.csv", huge, "text/csv"))
    app.run()
    assert not app.exception
    assert not [text for text in texts(app.warning) if "inconnue" in text]
    assert texts(app.code) == [
        "sites.csv:1: (fichier): : en-tête de 60\u202f002 colonnes : au plus 1\u202f000 colonnes par fichier"
    ]


def test_a_file_with_many_bad_rows_shows_the_first_problems_only(engine):
    app = open_page()
    rows = "".join(f"S{n},\n" for n in range(1_000))  # 1,000 rows without their name
    app.file_uploader[0].set_value(("sites.csv", ("code,name\n" + rows).encode(), "text/csv"))
    app.run()
    assert not app.exception
    [shown] = texts(app.code)
    lines = shown.splitlines()
    assert len(lines) == 201 and lines[0] == "sites.csv:2: name: : valeur obligatoire manquante"
    assert lines[-1] == "… et 800 autres problèmes : corrigez d'abord ceux-ci."


def test_names_and_header_cells_from_files_are_not_rendered_as_links(scenario):
    link, image = "[x](https://evil)", "![p](https://evil/p.png)"
    sites = f"code,name,{image}\nNEW,Nouveau,1\n".encode()
    programs = b"code,name,level,site_code\nBTS-X,BTS X,BTS,NOPE\n"  # refused: NOPE is no site
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as written:
        written.writestr("sites.csv", sites)
        written.writestr("programs.csv", programs)
        written.writestr(f"{link}.csv", b"a\n1\n")  # no contract file's name: refused outright
    upload = f"{link}.zip"
    app = open_page()
    app.file_uploader[0].set_value((upload, archive.getvalue(), "application/zip"))
    app.run()
    assert not app.exception
    before_import = markdown_texts(app)
    assert any(escape_markdown(image) in text for text in before_import)  # the unknown column's warning
    assert any(escape_markdown(f"{upload}/{link}.csv") in text for text in before_import)

    button(app, "Importer (1 fichier accepté)").click().run()
    assert not app.exception
    after_import = markdown_texts(app)
    assert any(escape_markdown(f"{upload}/sites.csv") in text for text in after_import)  # success
    assert any(escape_markdown(f"{upload}/programs.csv") in text for text in after_import)  # history
    for text in before_import + after_import:
        assert "](" not in text.replace("\\]\\(", ""), text  # no link nor image opens
        assert "https://evil" not in text, text  # nor a bare link
