"""The advisors' job-dating planning page in AppTest, on the hand-made job dating of
tests/pairing_data.py (JD on Monday 11 and Tuesday 12 May 2020, no company window recorded: the
default ones, 9:00-12:00 and 14:00-17:00, 20-minute meetings)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from services.app.markdown import escape_markdown
from services.integrations import invitations, mail
from services.jobdating import meetings, plan_preview
from services.jobdating.meetings import MeetingOutcome, record_meeting_outcome
from services.store import audit
from services.store.models import Meeting
from tests.apptest_browser import download
from tests.conftest import app_as, load
from tests.pairing_data import S1, load_job_dating

PAGE = "pages/advisors/jobdating_planning.py"
ADVISOR = "conseiller@example.org"
MEETINGS = Meeting.__table__
# The suggested pairs, best first (docs/jobdating.md; worked out in test_pairing): the rows of
# the page's table. CB already meets O1 (M2, 11 May 9:00), so O1/CB is not suggested.
O1_CA, O2_CB, O2_CA = 0, 1, 6


@pytest.fixture
def job_dating(engine):
    load_job_dating(engine)
    load("advisors", f"email,name,site_code\n{ADVISOR},Claire Conseil,MAX\n", engine)
    # Bruno gets a last name and an e-mail: a company's schedule must hold neither.
    load(
        "candidates",
        "ref,first_name,last_name,email,birth_date,postal_code,created_at\n"
        "CB,Bruno,Berthier,bruno@example.org,2005-05-11,57100,2020-04-01 10:00\n",
        engine,
    )
    return engine


@pytest.fixture
def downloads():
    """Builds a download as the browser asks for it: ``downloads(app, key)`` → the file's bytes."""
    return download


def open_page() -> AppTest:
    return app_as("advisor", ADVISOR, page=PAGE)


def choose(app: AppTest, rows: list[int]) -> None:
    """Tick these rows of the suggested pairs, as a click in the table does."""
    app.session_state["jdplan_pairs_all_1"] = {"selection": {"rows": rows, "columns": []}}
    app.run()
    assert not app.exception, app.exception


def click(app: AppTest, label: str) -> None:
    next(button for button in app.button if button.label.startswith(label)).click().run()
    assert not app.exception, app.exception


def stored(engine) -> list[tuple]:
    """The event's meetings as stored: candidate, offer, start (UTC), status; by start and offer."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(MEETINGS.c.candidate_ref, MEETINGS.c.offer_ref, MEETINGS.c.starts_at, MEETINGS.c.status)
            .where(MEETINGS.c.event_code == "JD")
            .order_by(MEETINGS.c.starts_at, MEETINGS.c.offer_ref, MEETINGS.c.candidate_ref)
        ).all()
    return [(c, o, s.astimezone(UTC).replace(tzinfo=None), st) for c, o, s, st in rows]


BEFORE = [
    ("CB", "O1", datetime(2020, 5, 11, 7), "planned"),  # M2, 9:00 in Paris
    ("CD", "O2", datetime(2020, 5, 11, 7), "cancelled"),  # M3
    ("CZ", "O5", datetime(2020, 5, 11, 12), "held"),  # M1
]


def test_the_page_opens_for_an_advisor_and_not_for_marketing(job_dating):
    app = open_page()
    assert app.title[0].value == "Planification job dating"
    assert app.selectbox(key="jdplan_event").value == "JD"
    assert app.number_input(key="jdplan_max").value == 3
    pairs = app.dataframe[0].value
    assert pairs[["Offre", "Réf. candidat"]].values.tolist()[O1_CA] == ["O1", "CA"]
    assert pairs[["Offre", "Réf. candidat"]].values.tolist()[O2_CA] == ["O2", "CA"]
    assert len(pairs) == 7 and ["O1", "CB"] not in pairs[["Offre", "Réf. candidat"]].values.tolist()
    # The saved meetings are listed with their video link column for the advisor.
    assert "Lien visio" in app.dataframe[1].value.columns
    marketing = app_as("marketing")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        marketing.switch_page(PAGE)


def test_the_english_page_gives_the_reasons_in_english(job_dating):
    # O1-CA, the best pair (test_pairing): same programme, site and department 54, 2 positions
    # open, CA meets nobody yet. The French page cached its own: the English one is not it.
    open_page()
    app = app_as("advisor", ADVISOR, page=PAGE, lang="en")
    pairs = app.dataframe[0].value
    assert pairs["Why"].tolist()[O1_CA] == (
        "same programme, same site, same department (54), 2 positions still open, no meeting planned"
    )


def test_without_a_job_dating_the_page_says_so(engine):
    app = app_as("admin", page=PAGE)
    assert any("Aucune opération de type job dating" in info.value for info in app.info)


def test_an_infeasible_build_lists_its_reasons_and_writes_nothing(job_dating):
    app = open_page()
    app.number_input(key="jdplan_max").set_value(1).run()
    # CB already has M2: a second meeting is over the limit of 1.
    choose(app, [O2_CB])
    click(app, "Construire le planning")
    errors = [error.value for error in app.error]
    assert len(errors) == 1
    assert "Ce planning est impossible" in errors[0]
    # Each reason is escaped for Markdown (it reads as written).
    assert escape_markdown("candidat CB : 1 rencontre(s) déjà prévue(s) et 1 demandée(s)") in errors[0]
    assert not [button for button in app.button if button.label.startswith("Enregistrer (")]
    assert stored(job_dating) == BEFORE


def test_a_feasible_build_is_previewed_then_saved(job_dating):
    app = open_page()
    choose(app, [O1_CA, O2_CA])
    click(app, "Construire le planning (2")
    assert not app.error
    # Alice meets Usinage (O2) at 9:00, the first slot; Forges is busy then (M2 with Bruno), so
    # O1 at 9:20. Nothing is written before the save.
    assert stored(job_dating) == BEFORE
    assert len(app.get("plotly_chart")) == 2  # per company, per candidate
    preview = app.dataframe[1].value
    assert preview[["Offre", "Réf. candidat"]].values.tolist() == [["O2", "CA"], ["O1", "CA"]]
    click(app, "Enregistrer (2")
    assert any("2 rencontres enregistrées" in success.value for success in app.success)
    assert sorted(stored(job_dating)) == sorted(
        [
            *BEFORE,
            ("CA", "O2", datetime(2020, 5, 11, 7), "planned"),
            ("CA", "O1", datetime(2020, 5, 11, 7, 20), "planned"),
        ]
    )
    assert audit.recent_events().query("action == 'meeting.plan'")["detail"].tolist() == ["meetings=2"]


def test_a_preview_meeting_is_removed_or_moved_to_a_free_slot_only(job_dating):
    app = open_page()
    choose(app, [O1_CA, O2_CA])
    click(app, "Construire le planning (2")
    # Remove the 9:00 meeting with Usinage; Alice's 9:20 meeting with Forges is left.
    app.selectbox(key="jdplan_edit_0").set_value(0).run()
    click(app, "Retirer de l'aperçu")
    assert app.dataframe[1].value[["Offre", "Réf. candidat"]].values.tolist() == [["O1", "CA"]]
    # Forges' free slots, Bruno's 9:00 (M2) and its own 9:20 excepted: 9:40 first, no 9:00.
    move_to = app.selectbox(key="jdplan_move_to_1_0")
    assert "11 mai 2020 09:00" not in move_to.options and "11 mai 2020 09:20" not in move_to.options
    assert move_to.options[0] == "11 mai 2020 09:40"
    click(app, "Déplacer")
    click(app, "Enregistrer (1")
    assert ("CA", "O1", datetime(2020, 5, 11, 7, 40), "planned") in stored(job_dating)
    assert len(stored(job_dating)) == len(BEFORE) + 1


def m2_version(engine) -> int:
    frame = meetings.event_meetings("JD", engine)
    return int(frame.loc[frame["ref"] == "M2", "version"].iloc[0])


def test_an_outcome_is_recorded_with_its_history(job_dating):
    app = open_page()
    app.selectbox(key="jdplan_meeting").set_value("M2").run()
    app.selectbox(key="jdplan_status_M2").set_value("held")
    app.selectbox(key="jdplan_outcome_M2").set_value("both_interested")
    click(app, "Enregistrer le résultat")
    assert not app.error, [error.value for error in app.error]
    assert any("Résultat enregistré" in success.value for success in app.success)
    with job_dating.connect() as connection:
        row = connection.execute(
            sa.select(MEETINGS.c.status, MEETINGS.c.outcome).where(MEETINGS.c.ref == "M2")
        ).one()
    assert tuple(row) == ("held", "both_interested")
    history = app.dataframe[2].value
    assert sorted(history["Champ"]) == ["outcome", "status"]


def test_a_stale_save_shows_the_conflict_and_overwrites_nothing(job_dating):
    app = open_page()
    app.selectbox(key="jdplan_meeting").set_value("M2").run()
    # Meanwhile another advisor records a no-show.
    record_meeting_outcome(
        "M2",
        outcome=MeetingOutcome("no_show"),
        author="autre@example.org",
        read_version=m2_version(job_dating),
        engine=job_dating,
    )
    app.selectbox(key="jdplan_status_M2").set_value("held")
    app.selectbox(key="jdplan_outcome_M2").set_value("company_interested")
    click(app, "Enregistrer le résultat")
    assert any("modifiée par quelqu'un d'autre" in error.value for error in app.error)
    with job_dating.connect() as connection:
        status = connection.execute(sa.select(MEETINGS.c.status).where(MEETINGS.c.ref == "M2")).scalar_one()
    assert status == "no_show"


def test_a_contract_without_its_date_is_refused_with_the_rules_message(job_dating):
    app = open_page()
    app.selectbox(key="jdplan_meeting").set_value("M2").run()
    app.selectbox(key="jdplan_status_M2").set_value("held")
    app.selectbox(key="jdplan_outcome_M2").set_value("contract_signed")
    click(app, "Enregistrer le résultat")
    assert any("date de signature du contrat est obligatoire" in error.value for error in app.error)
    app.date_input(key="jdplan_signed_M2").set_value(date(2020, 5, 20))
    click(app, "Enregistrer le résultat")
    assert not app.error


def test_the_company_export_holds_first_names_and_programme_only(job_dating, downloads):
    app = open_page()
    app.selectbox(key="jdplan_export_company").set_value(S1).run()
    name = f"job_dating_entreprise_{S1}"
    text = downloads(app, f"jdplan_{name}_csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    # Forges' meetings not cancelled: M2 with Bruno (BTS MS at Maxéville), 11 May 9:00.
    assert list(rows[0]) == ["Réf.", "Début", "Fin", "Prénom", "Formation", "Lien visio"]
    assert [(row["Réf."], row["Prénom"], row["Formation"], row["Début"]) for row in rows] == [
        ("M2", "Bruno", "BTS MS", "2020-05-11 09:00:00")
    ]
    assert "Berthier" not in text and "bruno@example.org" not in text and "CB" not in text
    calendar = downloads(app, f"jdplan_{name}_ics").decode()
    assert "Bruno" in calendar and "Berthier" not in calendar
    assert downloads(app, f"jdplan_{name}_xlsx")[:2] == b"PK"
    # Each file the browser asked for is in the audit log as it was built (newest first).
    exported = audit.recent_events().query("action == 'export'")
    assert exported[["target", "detail"]].values.tolist() == [[name, "xlsx"], [name, "ics"], [name, "csv"]]


def test_a_parents_consent_recorded_on_the_page_makes_a_child_suggested(job_dating):
    app = open_page()
    # Chloé (CC) is 14 on 11 May 2020 with her own consent only: not suggested yet.
    assert "CC" not in app.dataframe[0].value["Réf. candidat"].tolist()
    app.selectbox(key="jdplan_consent_candidate").set_value("CC").run()
    assert "Ne peut pas être présenté" in app.selectbox(key="jdplan_consent_candidate").format_func("CC")
    app.checkbox(key="jdplan_consent_parent_CC").check()
    click(app, "Enregistrer le consentement")
    assert any("Consentement enregistré" in success.value for success in app.success)
    assert "CC" in app.dataframe[0].value["Réf. candidat"].tolist()
    consent = audit.recent_events().query("action == 'candidate.presentation_consent'").iloc[0]
    assert (consent["actor"], consent["target"], consent["detail"]) == (
        "advisor.conseiller@test.rencontres.fr",
        "CC",
        "consent=1 parent=1 cancelled=0 via=dashboard",
    )


def test_a_candidate_is_found_by_name_accents_aside_and_the_list_stays_short(job_dating, monkeypatch):
    """The seeking candidates of tests/pairing_data.py, by name: Alice (CA), Bruno Berthier (CB),
    Chloé (CC), David (CD), Emma (CE), Fanny (CF), Gaël (CG) — CH and CZ are not seeking."""
    app = open_page()
    assert app.selectbox(key="jdplan_consent_candidate").options[:3] == [
        "Alice (CA) · Peut être présenté",
        "Bruno Berthier (CB) · Peut être présenté",
        "Chloé (CC) · Ne peut pas être présenté",
    ]
    app.text_input(key="jdplan_consent_search").input("chloe").run()  # é found from e
    assert app.selectbox(key="jdplan_consent_candidate").options == ["Chloé (CC) · Ne peut pas être présenté"]
    app.text_input(key="jdplan_consent_search").input("cf").run()  # a ref
    assert [option.split(" · ")[0] for option in app.selectbox(key="jdplan_consent_candidate").options] == [
        "Fanny (CF)"
    ]
    app.text_input(key="jdplan_consent_search").input("zzz").run()
    assert any("Aucun candidat en recherche ne correspond" in info.value for info in app.info)
    assert not any(button.label == "Enregistrer le consentement" for button in app.button)
    assert not any(box.key == "jdplan_consent_candidate" for box in app.selectbox)  # no empty list
    # A network's list is cut, and says by how much.
    monkeypatch.setattr(plan_preview, "CANDIDATES_LISTED", 2)
    app.text_input(key="jdplan_consent_search").input("").run()
    assert len(app.selectbox(key="jdplan_consent_candidate").options) == 2
    assert any("2 candidats listés sur 7 trouvés" in caption.value for caption in app.caption)


def test_consents_of_a_selection_are_recorded_at_once_with_their_source(job_dating):
    app = open_page()
    # Chloé (CC, 14) and Emma (CE, no birth date) have their own consent only: not suggested.
    suggested = app.dataframe[0].value["Réf. candidat"].tolist()
    assert "CC" not in suggested and "CE" not in suggested
    app.multiselect(key="jdplan_consent_many").set_value(["CC", "CE"])
    app.selectbox(key="jdplan_consent_many_parent").set_value("yes")
    click(app, "Enregistrer pour la sélection")
    # No source: refused, nothing written.
    assert any("Indiquez la source" in error.value for error in app.error)
    assert "CC" not in app.dataframe[0].value["Réf. candidat"].tolist()
    app.text_input(key="jdplan_consent_many_source").input("papier signé")
    click(app, "Enregistrer pour la sélection")
    assert any("Consentement enregistré pour 2 candidat(s)" in success.value for success in app.success)
    suggested = app.dataframe[0].value["Réf. candidat"].tolist()
    assert "CC" in suggested and "CE" in suggested
    audited = audit.recent_events().query("action == 'candidate.presentation_consent'")
    # Their own consent was left as stored ("Inchangé"), a parent's added.
    assert sorted(audited["target"].head(2)) == ["CC", "CE"]
    assert set(audited["detail"].head(2)) == {"consent=1 parent=1 cancelled=0 via=dashboard"}


def test_the_mail_section_says_when_sending_is_not_set_up_and_previews_the_messages(job_dating, monkeypatch):
    monkeypatch.delenv("SMTP_URL", raising=False)
    load("companies", f"siret,name,email\n{S1},Forges,forges@example.org\n", job_dating)
    app = open_page()
    assert any("pas réglé (SMTP_URL" in warning.value for warning in app.warning)
    assert not app.code  # the messages are built when asked for
    app.toggle(key="jdplan_mail_prepare").set_value(True).run()
    send = next(button for button in app.button if button.label.startswith("Envoyer"))
    assert send.disabled
    # The meetings not cancelled: M2 (Forges × Bruno) and M1 (held, Zoé with O5's company S2):
    # Forges gets its schedule; Usinage (S2) and the candidates have no address (Bruno's was
    # given to the page as bruno@example.org: he gets his, which an advisor does not read).
    preview = app.selectbox(key="jdplan_mail_preview")
    assert preview.options == [
        "planning · entreprise 11111111100011 · forges@example.org",
        "planning · candidat CB · —",
    ]
    assert any("Bonjour," in code.value and "Bruno" in code.value for code in app.code)
    assert not any("Berthier" in code.value or "bruno@" in code.value for code in app.code)


#: Bruno as the fixture has him, with a parent's address.
BRUNO_WITH_PARENT = (
    "ref,first_name,last_name,email,parent_email,birth_date,postal_code,created_at\n"
    "CB,Bruno,Berthier,bruno@example.org,maman.berthier@example.org,2005-05-11,57100,2020-04-01 10:00\n"
)


def _mail_preview(role: str, monkeypatch) -> AppTest:
    """The page as ``role`` with the messages prepared, and a send whose server refused Bruno's
    address in its own words (an SMTP server names the address it refuses)."""
    monkeypatch.setattr(mail, "setup_problem", lambda: None)

    def refusing(mailing, *, actor, **_options):
        refused = "refusé par le serveur : 550 <{}> inconnu"
        return invitations.SendReport(failed=[(m, refused.format(m.recipient)) for m in mailing.messages])

    monkeypatch.setattr(invitations, "deliver", refusing)
    app = app_as(role, ADVISOR if role == "advisor" else None, page=PAGE)
    app.toggle(key="jdplan_mail_prepare").set_value(True).run()
    assert not app.exception, app.exception
    return app


def _shown_text(app: AppTest) -> str:
    """The mail section's words: the messages listed, the one previewed, the send's report."""
    return "\n".join(
        [*app.selectbox(key="jdplan_mail_preview").options]
        + [element.value for element in (*app.markdown, *app.code, *app.warning, *app.success)]
    )


@pytest.mark.parametrize("role", ["advisor", "director"])
def test_the_mail_preview_shows_no_candidate_s_or_parent_s_address_to_who_may_not_read_them(
    job_dating, monkeypatch, role
):
    # The attack: a director (who never reads a candidate's e-mail or phone, docs/access.md), or
    # an advisor (who reads those of their own interviews only), turns on "Préparer les messages"
    # and reads every candidate's and every minor's parent's address in the list of messages,
    # in the preview's "À" line, and in the report of a send the server refused. The command
    # line's report masks them already; the page must too. A company's address is the company's.
    load("companies", f"siret,name,email\n{S1},Forges,forges@example.org\n", job_dating)
    # Bruno (born 11 May 2005) is 15 on the job dating's first day: his parent gets his schedule.
    load("candidates", BRUNO_WITH_PARENT, job_dating)
    app = _mail_preview(role, monkeypatch)
    preview = app.selectbox(key="jdplan_mail_preview")
    assert preview.options == [
        "planning · entreprise 11111111100011 · forges@example.org",
        "planning · candidat CB · —",
        "planning · parent de CB · —",
    ]
    for position in range(len(preview.options)):
        app.selectbox(key="jdplan_mail_preview").set_value(position).run()
        assert "bruno@" not in _shown_text(app) and "maman.berthier@" not in _shown_text(app)
    next(button for button in app.button if button.label.startswith("Envoyer")).click().run()
    report = _shown_text(app)
    assert "0 message(s) envoyé(s), 3 échec(s)." in report
    assert "bruno@" not in report and "maman.berthier@" not in report
    assert "forges@example.org" in report  # the company's, in the line that names it


def test_an_administrator_reads_the_addresses_the_messages_go_to(job_dating, monkeypatch):
    load("candidates", BRUNO_WITH_PARENT, job_dating)
    app = _mail_preview("admin", monkeypatch)
    assert app.selectbox(key="jdplan_mail_preview").options == [
        "planning · candidat CB · bruno@example.org",
        "planning · parent de CB · maman.berthier@example.org",
    ]


def test_hostile_references_are_text_in_the_mail_section(job_dating, monkeypatch):
    # The attack: a candidate and a meeting imported under references that are Markdown links
    # (any printable text is a reference). The mail section names the parties without an address
    # and the meetings kept from the companies by these references: as text, never as links.
    monkeypatch.delenv("SMTP_URL", raising=False)
    person, meeting = "[Reconnectez-vous](https://evil.example/a)", "[Ici](https://evil.example/b)"
    load(
        "candidates",
        f'ref,first_name,last_name,created_at\n"{person}",Eve,Malin,2020-04-01 10:00\n',
        job_dating,
    )
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,duration_min,status,outcome,contract_signed_on\n"
        f'"{meeting}",JD,"{person}",O1,2020-05-11 10:00,20,planned,none,\n',
        job_dating,
    )
    app = open_page()
    app.toggle(key="jdplan_mail_prepare").set_value(True).run()
    assert not app.exception, app.exception
    said = [element.value for element in (*app.caption, *app.warning)]
    assert any(escape_markdown(person) in text for text in said)  # named, as text
    assert any(escape_markdown(meeting) in text for text in said)
    assert not [text for text in said if person in text or meeting in text]
