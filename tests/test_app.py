"""The app in AppTest: the shell (filters, URL, language) and the results page."""

from __future__ import annotations

import weakref
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from services.app import cached
from services.i18n import format_number, format_percent
from services.metrics import results
from services.metrics.results import comparison_scope
from services.store import database
from services.store.events import default_scope
from tests.conftest import app_as

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL


APP = str(Path(__file__).resolve().parent.parent / "dashboard.py")


def start(**params: str | list[str]) -> AppTest:
    return app_as("director", **params)


def param(app: AppTest, name: str) -> list[str]:
    """A query parameter the app wrote, as a list of values."""
    value = app.query_params[name]
    return value if isinstance(value, list) else [value]


def shown(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def test_empty_store_renders_and_says_what_to_import(engine):
    app = start()
    assert any("bookings.csv" in info.value for info in app.info)
    assert not any("démonstration" in warning.value for warning in app.warning)  # DEMO_DATA=0 in tests


def test_empty_store_is_seeded_with_demo_data_when_allowed(engine, monkeypatch):
    monkeypatch.setenv("DEMO_DATA", "1")
    app = start()
    assert database.holds_demo_data(engine)
    assert any("démonstration" in warning.value for warning in app.warning)


def test_default_view_shows_the_services_figures_for_the_latest_operation(demo_store):
    app = start()
    scope = default_scope("POV-2020-04", demo_store)
    expected = results.key_figures(scope, demo_store)
    metrics = shown(app)
    assert metrics["Rendez-vous"] == format_number(expected["bookings"])
    assert metrics["Taux de présence"] == format_percent(expected["show_rate"])
    assert metrics["Candidats ayant réservé"] == format_number(expected["booked"])
    assert metrics["Conversion en inscription"] == format_percent(expected["conversion_to_enrollment"])
    # The comparison (previous in-person open days) gives the deltas.
    compared = results.key_figures(
        comparison_scope(default_scope("POP-2020-01", demo_store), scope), demo_store
    )
    delta = next(m for m in app.metric if m.label == "Rendez-vous").delta
    difference = expected["bookings"] - compared["bookings"]
    assert delta == f"{'+' if difference >= 0 else '-'}{format_number(abs(difference))}"
    assert param(app, "event") == ["POV-2020-04"]


def test_scope_from_the_url(demo_store):
    app = start(event="POP-2019-03", site=["MAX", "YUT"], **{"from": "2019-02-01", "to": "2019-04-30"})
    assert not app.warning[1:]  # only the demo notice
    scope = default_scope("POP-2019-03", demo_store)
    from services.store.scope import Scope

    wanted = Scope(
        scope.date_from.replace(month=2, day=1),
        scope.date_to.replace(month=4, day=30),
        "POP-2019-03",
        ("MAX", "YUT"),
    )
    assert shown(app)["Rendez-vous"] == format_number(results.key_figures(wanted, demo_store)["bookings"])
    assert app.sidebar.multiselect[0].value == ["MAX", "YUT"]


def test_an_empty_scope_says_what_to_change_without_a_command_line(demo_store):
    # The demo's bookings are in 2019-2020: a 2024 period holds none. A director cannot run
    # `python -m services`: the notice points at the sidebar's filters and the Data page.
    app = start(event="POV-2020-04", **{"from": "2024-01-01", "to": "2024-02-01"})
    assert not app.exception
    notice = next(info.value for info in app.info if "Aucun rendez-vous" in info.value)
    assert "python -m" not in notice
    assert "barre latérale" in notice and "page Données" in notice
    assert not app.metric  # no figure of an empty scope


def test_scope_through_the_widgets_and_back_into_the_url(demo_store):
    app = start()
    app.sidebar.selectbox(key="filter_event").set_value("POP-2020-01").run()
    assert not app.exception
    scope = default_scope("POP-2020-01", demo_store)
    assert shown(app)["Rendez-vous"] == format_number(results.key_figures(scope, demo_store)["bookings"])
    assert param(app, "event") == ["POP-2020-01"]
    assert param(app, "from") == [scope.date_from.isoformat()]
    app.sidebar.multiselect(key="filter_sites").set_value(["EPI"]).run()
    narrowed = type(scope)(scope.date_from, scope.date_to, scope.event, ("EPI",))
    assert shown(app)["Rendez-vous"] == format_number(results.key_figures(narrowed, demo_store)["bookings"])
    assert param(app, "site") == ["EPI"]


def test_a_bad_url_value_falls_back_with_a_notice(demo_store):
    app = start(event="NOPE", **{"from": "2020-13-45"})
    notices = [warning.value for warning in app.warning]
    assert any("NOPE" in notice for notice in notices)
    assert any("2020-13-45" in notice for notice in notices)
    scope = default_scope("POV-2020-04", demo_store)
    assert shown(app)["Rendez-vous"] == format_number(results.key_figures(scope, demo_store)["bookings"])


@pytest.mark.parametrize(
    ("language", "label", "title"),
    [
        ("fr", "Taux de présence", "Résultats des portes ouvertes"),
        ("en", "Show rate", "Open-day results"),
    ],
)
def test_language_switch_changes_labels(demo_store, language, label, title):
    app = start()
    app.sidebar.selectbox(key="language").set_value(language).run()
    assert not app.exception
    assert label in [metric.label for metric in app.metric]
    assert app.title[0].value == title


@pytest.mark.parametrize(
    ("language", "level", "bac"), [("fr", "Niveau", "Bac pro"), ("en", "Level", "Vocational baccalaureate")]
)
def test_the_programmes_levels_are_named_as_a_reader_says_them(demo_store, language, level, bac):
    # The contract's level codes (BAC_PRO, LICENCE_PRO…) are stored as such; the programmes'
    # table names them in the page's language, never as the raw code.
    app = start()
    app.sidebar.selectbox(key="language").set_value(language).run()
    programmes = next(table.value for table in app.dataframe if level in table.value.columns)
    shown = set(programmes[level])
    assert bac in shown
    assert not shown & {"BAC_PRO", "LICENCE_PRO", "TITRE_PRO", "INGENIEUR"}


def test_every_figure_has_a_help_text(demo_store):
    app = start()
    assert all(metric.help for metric in app.metric)


def test_charts_are_drawn_from_the_services(demo_store):
    import json

    app = start()
    charts = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    assert len(charts) == 3  # pacing, bookings per site, funnel per site
    scope = default_scope("POV-2020-04", demo_store)
    by_site = results.bookings_by_site(scope, demo_store)
    bars = charts[1]["data"]
    drawn = {trace["name"]: sum(decoded(trace["x"])) for trace in bars}
    expected = by_site.groupby("status")["bookings"].sum()
    assert drawn == {
        "Venu": expected["attended"],
        "Réservé": expected["booked"],
        "Absent": expected["no_show"],
        "Annulé": expected["cancelled"],
    }


def decoded(values) -> list:
    """Plotly sends numeric arrays as base64 typed arrays."""
    import base64

    import numpy as np

    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


def test_the_scope_filters_show_only_on_pages_they_apply_to_and_survive_the_others(demo_store):
    app = app_as("admin", event="POP-2020-01")
    assert app.selectbox(key="filter_event").value == "POP-2020-01"
    app.switch_page("pages/admin/audit.py").run()
    assert not app.exception, app.exception
    sidebar_keys = {widget.key for widget in app.sidebar.selectbox}
    assert "filter_event" not in sidebar_keys and "language" in sidebar_keys
    app.switch_page("pages/directors/results.py").run()
    assert app.selectbox(key="filter_event").value == "POP-2020-01"
    assert param(app, "event") == ["POP-2020-01"]


def test_every_cached_read_shows_a_spinner_when_it_computes():
    # Issue 8: a page that waits more than half a second shows progress. Streamlit shows a cached
    # function's spinner text after 0.5 s of a cache miss, and nothing on a hit; False would hide it.
    reads = {
        name: value._info.show_spinner
        for name, value in vars(cached).items()
        if hasattr(value, "_info") and name != "prepared_store"
    }
    assert len(reads) > 20
    assert {name: spinner for name, spinner in reads.items() if spinner != cached.WAITING} == {}


def test_journeys_of_an_older_data_version_are_let_go(demo_store):
    # The journeys are shared from the cache (140 MB for the bookings' at scale L): asked for a
    # new data version, the cache forgets the older versions' at once rather than keep them
    # until their time runs out.
    scope = default_scope("POV-2020-04", demo_store)
    first = cached.journey_data(scope, "booking", 30, -1)
    assert cached.journey_data(scope, "booking", 30, -1) is first
    gone = weakref.ref(first)
    del first
    newer = cached.journey_data(scope, "booking", 30, -2)
    assert gone() is None
    assert newer.attribution.conversions > 0
