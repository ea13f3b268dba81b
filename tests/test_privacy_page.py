"""The admin's personal-data page: the next purge, one candidate's export and erasure."""

from __future__ import annotations

import sqlalchemy as sa

from services.access import retention, rights
from services.i18n import format_number
from services.store import audit
from services.store.models import Candidate
from tests.conftest import app_as

PAGE = "pages/admin/privacy.py"


def test_the_page_shows_what_the_next_purge_would_remove_and_runs_it(demo_store):
    expected = retention.purge_preview()
    # The demo's candidates all date from 2019–2020: years past 36 months, most never enrolled.
    assert expected.candidates > 0
    app = app_as("admin", page=PAGE)
    assert f"**{format_number(expected.candidates)}**" in app.markdown[0].value
    app.form_submit_button[0].click().run()  # not confirmed: nothing happens
    assert app.warning and retention.purge_preview().candidates == expected.candidates
    app.checkbox(key="privacy_purge_confirm").check()
    app.form_submit_button[0].click().run()
    assert not app.exception, app.exception
    assert retention.purge_preview().candidates == 0
    assert any(f"{expected.candidates} candidats anonymisés" in s.value for s in app.success)
    # The preview drawn after the purge is the store's new one (the cache is keyed by the data
    # version the purge bumped), not the one counted a moment before in the same minute.
    assert "**0**" in app.markdown[0].value
    assert audit.recent_events().query("action == 'purge'")["actor"].tolist() == [
        "admin.test@test.rencontres.fr"
    ]


def test_an_admin_finds_a_candidate_and_erases_them(demo_store):
    with demo_store.connect() as connection:
        ref, first, last = connection.execute(
            sa.select(Candidate.ref, Candidate.first_name, Candidate.last_name).order_by(Candidate.ref)
        ).first()
    app = app_as("admin", page=PAGE)
    app.text_input(key="privacy_search").input(ref).run()
    assert app.selectbox(key="privacy_ref").value == ref
    assert f"{first} {last}" in app.selectbox(key="privacy_ref").format_func(ref)
    erase = app.form_submit_button[-1]
    app.checkbox(key=f"privacy_erase_confirm_{ref}").check()
    erase.click().run()
    assert not app.exception, app.exception
    with demo_store.connect() as connection:
        assert connection.execute(sa.select(Candidate.ref).where(Candidate.ref == ref)).first() is None
    events = audit.recent_events()
    assert events.query("action == 'candidate.erase'")["target"].tolist() == [ref]
    # Seeing the search results (names, e-mails) is a view of personal data.
    assert events.query("action == 'view'")["target"].tolist() == ["privacy"]


def test_the_access_export_is_json_of_everything_and_logged(demo_store):
    with demo_store.connect() as connection:
        ref = connection.execute(sa.select(Candidate.ref).order_by(Candidate.ref)).scalar()
    text = rights.candidate_json(ref, actor="admin@cfai.fr")
    assert f'"ref": "{ref}"' in text
    assert audit.recent_events().iloc[0][["action", "target"]].tolist() == ["candidate.export", ref]


def test_a_search_below_the_preview_does_not_count_the_purge_again(demo_store, monkeypatch):
    # The preview reads the contacts of every candidate (2.2 s at scale L): the page's reruns
    # within a minute, a search typed below it, take it from the cache. Counted by minute, so
    # that a rerun that happens to cross a minute's end may count once more, never twice a minute.
    minutes = []
    counting = retention.purge_preview

    def counted(now=None, engine=None):
        minutes.append(now)
        return counting(now, engine)

    monkeypatch.setattr(retention, "purge_preview", counted)
    app = app_as("admin", page=PAGE)
    for query in ("Ma", "Mar", "Mart"):
        app.text_input(key="privacy_search").input(query).run()
        assert not app.exception, app.exception
    assert minutes and len(set(minutes)) == len(minutes)
    assert all(minute.second == minute.microsecond == 0 for minute in minutes)
