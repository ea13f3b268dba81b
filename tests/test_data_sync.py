"""The data page's sync tab: Cal.com bookings with a progress bar and a summary, the event
type mappings, and the Whereby buttons, against the fake Cal.com of tests/test_calcom.py."""

from __future__ import annotations

import re

import sqlalchemy as sa

from services.app.markdown import escape_markdown
from services.integrations import calcom, calcom_event_types
from services.store.models import Booking
from tests.conftest import app_as
from tests.test_calcom import _json, booking, centre, fake  # noqa: F401  (fixtures)

PAGE = "pages/admin/data.py"


def sync_tab_texts(app) -> str:
    return " ".join(element.value for element in [*app.info, *app.success, *app.error, *app.caption])


def test_without_keys_the_tab_says_which_setting_to_give(engine, monkeypatch):
    monkeypatch.delenv("CALCOM_API_KEY", raising=False)
    monkeypatch.delenv("WHEREBY_API_KEY", raising=False)
    app = app_as("admin", page=PAGE)
    texts = sync_tab_texts(app)
    assert "définissez CALCOM_API_KEY" in texts and "définissez WHEREBY_API_KEY" in texts


def test_an_admin_syncs_the_bookings_and_reads_the_summary(fake, centre):  # noqa: F811
    # Two bookings of mapped event type 101 on the fake site: both land as bookings.
    fake.bookings = [
        booking("uid-1", email="lea.martin@example.org"),
        booking(
            "uid-2",
            email="hugo.petit@example.org",
            start="2020-04-14T09:00:00.000Z",
            end="2020-04-14T09:45:00.000Z",
        ),
    ]
    app = app_as("admin", page=PAGE)
    assert "Aucune synchronisation encore" in sync_tab_texts(app)
    app.button(key="FormSubmitter:data_sync_bookings_form-Synchroniser les rendez-vous").click().run()
    assert not app.exception, app.exception
    # (The summary's Markdown, its punctuation escaped: what the box shows.)
    summary = re.sub(r"\\(.)", r"\1", " ".join(success.value for success in app.success))
    assert "1 page(s) lue(s), 2 rendez-vous" in summary
    assert "2 ajouté(s), 0 mis à jour" in summary
    with centre.connect() as connection:
        refs = set(connection.execute(sa.select(Booking.ref).where(Booking.ref.like("uid-%"))).scalars())
    assert refs == {"uid-1", "uid-2"}
    assert calcom.stored_cursor() is not None


def test_an_admin_maps_an_event_type_and_a_wrong_one_is_refused(centre):  # noqa: F811
    app = app_as("admin", page=PAGE)
    app.number_input(key="data_map_id").set_value(303)
    app.selectbox(key="data_map_site").set_value("YUT")
    app.button(key="FormSubmitter:data_mapping_form-Enregistrer la correspondance").click().run()
    assert not app.exception, app.exception
    mappings = calcom_event_types.list_event_type_mappings()
    assert mappings.set_index("event_type_id").loc[303, "site_code"] == "YUT"
    # MAX does not offer CAP-RI in the scenario: the store refuses, the page says why.
    app.selectbox(key="data_map_site").set_value("MAX")
    app.selectbox(key="data_map_program").set_value("CAP-RI")
    app.button(key="FormSubmitter:data_mapping_form-Enregistrer la correspondance").click().run()
    assert any("non proposé sur le site MAX" in error.value for error in app.error)
    assert (
        calcom_event_types.list_event_type_mappings().set_index("event_type_id").loc[303, "site_code"]
        == "YUT"
    )


def test_a_sync_summary_names_hostile_references_and_answers_as_text(engine, monkeypatch):
    # The attack: a booking imported under a reference that is a Markdown link (any printable
    # text is a reference), or an answer of Whereby's that holds one: the summary of a rooms sync
    # names both, in the administrator's success or error box, which is Markdown.
    from services.integrations import whereby_rooms

    hostile_ref, hostile_answer = "[Ici](https://evil.example/a)", "HTTP 400 (![x](https://evil.example/b))"
    monkeypatch.setenv("WHEREBY_API_KEY", "a-key")
    monkeypatch.setattr(
        whereby_rooms,
        "sync_rooms",
        lambda **_options: whereby_rooms.RoomSummary(
            created=[hostile_ref], failed=[(hostile_ref, hostile_answer)]
        ),
    )
    app = app_as("admin", page=PAGE)
    app.button(key="FormSubmitter:data_sync_rooms_form-Créer les salles").click().run()
    assert not app.exception, app.exception
    said = " ".join(element.value for element in [*app.success, *app.error])
    assert escape_markdown(hostile_ref) in said and escape_markdown(hostile_answer) in said
    assert hostile_ref not in said and hostile_answer not in said


def test_a_failed_sync_says_what_and_where_in_french_and_keeps_the_cursor(fake, centre):  # noqa: F811
    # Cal.com answers 500 with its error envelope (http-exception.filter.ts): the sync stops.
    # The page says it in French, names the service and the call, shows no personal data, and
    # the cursor line still reads « no sync yet » (nothing was written).
    fake.bookings += [booking("f1", email="lea.martin@example.org"), booking("f2", email="hugo@example.org")]
    fake.failures[0] = [_json({"status": "error", "error": {"message": "boom"}}, 500)]
    app = app_as("admin", page=PAGE)
    app.button(key="FormSubmitter:data_sync_bookings_form-Synchroniser les rendez-vous").click().run()
    assert not app.exception, app.exception
    shown = " ".join([*(error.value for error in app.error), *(code.value for code in app.code)])
    assert "arrêt : Cal.com GET /v2/bookings : HTTP 500 (boom)" in shown
    assert "@" not in shown
    assert calcom.stored_cursor() is None
    app.run()
    assert "Aucune synchronisation encore" in sync_tab_texts(app)
