"""The channels page in AppTest: its table follows the attribution service for every model and goal."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from unittest import mock

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from services.access import roles
from services.i18n import translate
from services.metrics import marketing
from services.metrics.attribution import MODELS, attribute
from services.store import channels
from services.store.events import default_scope
from services.store.models import Candidate
from tests.conftest import app_as, each_tab

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL


APP = str(Path(__file__).resolve().parent.parent / "dashboard.py")
PAGE = "pages/marketing/channels.py"
CHANNEL_NAMES = {
    "Réseaux sociaux": "social",
    "Sites de presse": "newspaper",
    "E-mail": "email",
    "Moteurs de recherche": "search",
    "Direct": "direct",
    "Autre": "other",
}


def open_channels() -> AppTest:
    return app_as("marketing", page=PAGE)


def table_credits(app: AppTest) -> dict[str, float]:
    """The credits as the table writes them in French (``1\u202f234,5``, one decimal), read back."""
    table = app.dataframe[0].value
    return {
        CHANNEL_NAMES[name]: float(credit.replace("\u202f", "").replace(",", "."))
        for name, credit in zip(table["Canal"], table["Crédit"], strict=True)
    }


def test_empty_store(engine):
    app = open_channels()
    assert any("touchpoints.csv" in info.value for info in app.info)


def test_table_follows_the_service_for_every_model(demo_store):
    scope = default_scope("POV-2020-04", demo_store)
    expected = attribute(scope, "booking", 30, demo_store).credits
    app = open_channels()
    for model in MODELS:
        app.selectbox(key="channels_model").set_value(model).run()
        assert not app.exception
        shown = table_credits(app)
        # Shown with one decimal: within half a tenth of the service's credit (27.75 shows 27,8).
        assert shown == pytest.approx({c: v for c, v in expected[model].items() if c in shown}, abs=0.0501), (
            model
        )
        assert set(shown) >= {c for c, v in expected[model].items() if v}


def test_switching_goal_uses_enrollments_and_their_lookback(demo_store):
    scope = default_scope("POV-2020-04", demo_store)
    app = open_channels()
    app.button_group(key="channels_goal").set_value("enrollment").run()
    assert not app.exception
    assert app.number_input(key="channels_lookback_enrollment").value == 90
    expected = attribute(scope, "enrollment", 90, demo_store).credits["linear"]
    shown = table_credits(app)
    assert shown == pytest.approx({c: v for c, v in expected.items() if c in shown}, abs=0.0501)
    assert shown != pytest.approx(attribute(scope, "booking", 30, demo_store).credits["linear"], abs=0.0501)


def test_no_personal_data_on_the_page(demo_store):
    app = open_channels()
    text = ""
    for _ in each_tab(app, ("channels_tab",)):
        text += " ".join(str(element.value) for element in app.markdown) + " ".join(
            app.dataframe[i].value.to_csv() for i in range(len(app.dataframe))
        )
    with demo_store.connect() as connection:
        people = connection.execute(
            sa.select(Candidate.__table__.c.last_name, Candidate.__table__.c.email).limit(50)
        ).all()
    for last_name, email in people:
        assert email not in text
        assert f" {last_name} " not in text


def test_the_link_builder_and_the_rules_work_before_any_data(engine):
    app = open_channels()
    app.text_input(key="channels_link_source").set_value("estrepublicain.fr").run()
    app.text_input(key="channels_link_medium").set_value("display").run()
    # Intended channel is social (the default), the rules say newspaper: a warning says so.
    assert any("Sites de presse" in warning.value for warning in app.warning)
    assert "utm_source=estrepublicain.fr" in app.code[0].value


def test_unedited_rules_preview_no_move_without_reading_every_touchpoint(demo_store):
    reads = []

    def counted(*arguments, **keywords):
        reads.append(1)
        return derived_groups(*arguments, **keywords)

    derived_groups = channels.derived_groups
    with mock.patch.object(channels, "derived_groups", counted):
        app = open_channels()
    assert not app.exception
    assert any(caption.value == "Aperçu : aucune visite ne changerait de canal." for caption in app.caption)
    assert reads == []
    # The stored rules as the editor gives them back are the stored rules (compared there).
    stored = channels.load_rules(None)
    assert channels.rules_from_frame(channels.rules_frame(stored)) == stored
    # And under them, every derived touchpoint of the demo keeps its channel: nothing to preview.
    assert channels.preview_rules(stored, derived_groups()) == {}


def test_only_the_chosen_tab_computes_and_each_one_shows_its_figures(demo_store):
    app = open_channels()
    # Opened on the first tab: the hygiene figures are not computed, nor shown.
    assert not [m for m in app.markdown if "Conversions sans balise" in m.value]
    headings = {}
    for label in each_tab(app, ("channels_tab",)):
        headings[label] = [m.value for m in app.markdown] + [c.value for c in app.caption]
    assert any("Conversions sans balise" in text for text in headings["Qualité du balisage UTM"])
    assert not any("Conversions sans balise" in text for text in headings["Campagnes"])


def audience_tables(app: AppTest) -> list:
    """The audience tab's tables (age, then department): the page's tables of candidates by group."""
    app.session_state["channels_tab"] = "Public"
    app.run()
    assert not app.exception, app.exception
    tables = [app.dataframe[i].value for i in range(len(app.dataframe))]
    return [table for table in tables if list(table.columns) == ["Groupe", "Candidats"]]


def test_audience_of_a_narrowed_scope_under_the_minimum_shows_no_breakdown(demo_store):
    scope = replace(default_scope("POV-2020-04", demo_store), sites=("BLD",))
    by_age, _ = marketing.audience(marketing.audience_scope(scope), demo_store)
    # The demo's site BLD has a handful of candidates at this event (10 when written): under 20,
    # so neither the ages nor the departments are shown, and the page says why.
    assert 0 < by_age["candidates"].sum() < roles.MIN_SCOPE
    app = app_as("marketing", page=PAGE, event="POV-2020-04", site="BLD")
    assert audience_tables(app) == []
    assert any(translate("channels.audience.withheld", "fr", minimum=20) in info.value for info in app.info)


def test_audience_of_a_narrowed_scope_hides_small_groups_with_a_partner(demo_store):
    scope = replace(default_scope("POV-2020-04", demo_store), sites=("LGW",))
    by_age, by_department = marketing.audience(marketing.audience_scope(scope), demo_store)
    total = int(by_age["candidates"].sum())  # what the results page shows as "booked" for the scope
    assert total >= roles.MIN_SCOPE
    app = app_as("marketing", page=PAGE, event="POV-2020-04", site="LGW")
    ages, departments = audience_tables(app)
    hidden = translate("channels.audience.suppressed", "fr")
    for raw, shown in ((by_age, ages), (by_department, departments)):
        cells = shown["Candidats"].tolist()
        # The page shows what the protection gives (groups translated, hidden cells labelled).
        expected = roles.hide_small_groups(raw)["candidates"].replace({roles.SUPPRESSED: hidden})
        assert cells == expected.tolist()
        # No "0" next to "< 5"; never exactly one hidden group (the total would give it back); the
        # hidden groups hold 5 or more together, so each may be anything from 0 to their sum.
        assert "0" not in cells
        assert cells.count(hidden) != 1
        assert total - sum(int(c) for c in cells if c != hidden) in (0, *range(roles.SMALL_GROUP, total + 1))
    # On this scope some group is small, so something is hidden (LGW: 4 aged 21 to 25 when written).
    assert hidden in ages["Candidats"].tolist()
