"""Results (directors): how did the open days do, site by site, and against the comparison event?"""

from functools import partial

import streamlit as st

from pages.common.downloads import export_button, table_downloads
from pages.common.gate import open_for
from pages.common.tables import show_table
from services.app import cached, charts
from services.app.markdown import escape_markdown
from services.documents import exports
from services.i18n import (
    N_,
    format_date,
    format_delta,
    format_money,
    format_number,
    format_percent,
    format_table,
    translate,
)
from services.metrics.money import cost_to_show
from services.metrics.results import comparison_scope

account, _ = open_for("results")
language = st.session_state.get("language", "fr")
selection = st.session_state["selection"]
scope = selection.scope
version = cached.data_version()
events = cached.event_list(version).set_index("code")


def t(key: str, **values: object) -> str:
    return translate(key, language, **values)


def event_name(code: str | None) -> str:
    return str(events.loc[code, "name"]) if code in events.index else ""


st.title(t("page.results"))
st.caption(t("results.question"))

figures = cached.key_figures(scope, version)
if figures["bookings"] == 0:
    st.info(t("results.empty"))
    st.stop()

comparison = None
if selection.compare:
    compare_scope = comparison_scope(cached.default_scope(selection.compare, version), scope)
    comparison = cached.key_figures(compare_scope, version)
    st.caption(t("results.compared_with", name=escape_markdown(event_name(selection.compare))))
else:
    st.caption(t("results.no_comparison"))

KPIS = [
    ("bookings", format_number, "count"),
    ("show_rate", format_percent, "rate"),
    ("family_attendance", format_percent, "rate"),
    ("booked", format_number, "count"),
    ("enrolled", format_number, "count"),
    ("conversion_to_enrollment", format_percent, "rate"),
    ("spend", format_money, "money"),
    ("cost_per_enrollment", format_money, "money"),
]
LABELS = {
    "bookings": "kpi.bookings",
    "show_rate": N_("kpi.show_rate"),
    "family_attendance": N_("kpi.family_attendance"),
    "booked": N_("kpi.booked"),
    "enrolled": N_("kpi.enrolled"),
    "conversion_to_enrollment": N_("kpi.conversion"),
    "spend": N_("kpi.spend"),
    "cost_per_enrollment": N_("kpi.cost_per_enrollment"),
}


def delta(name: str, kind: str) -> str | None:
    if comparison is None or figures[name] is None or comparison[name] is None:
        return None
    return format_delta(figures[name] - comparison[name], kind, language)


shown_figures = {
    **figures,
    "cost_per_enrollment": cost_to_show(figures["cost_per_enrollment"], figures["spend"]),
}

for row in (KPIS[:4], KPIS[4:]):
    # A row that wraps (two cards a line in a narrow window), not four cut-off columns.
    line = st.container(horizontal=True)
    for name, formatter, kind in row:
        help_text = t(f"{LABELS[name]}.help")
        if comparison is not None:
            help_text += " " + t("kpi.delta_help", name=escape_markdown(event_name(selection.compare)))
        if name in {"spend", "cost_per_enrollment"} and scope.narrowed_to_offerings:
            help_text += " " + t("kpi.spend_scope_note")
        line.metric(
            t(LABELS[name]),
            formatter(shown_figures[name], language),
            delta=delta(name, kind),
            delta_color={"cost_per_enrollment": "inverse", "spend": "off"}.get(name, "normal"),
            help=help_text,
            border=True,
            width="stretch",
        )

if selection.event:
    st.subheader(t("results.pacing"), help=t("results.pacing.help"))
    current = cached.pacing(selection.event, events.loc[selection.event, "starts_on"], scope, version)
    previous = (
        cached.pacing(selection.compare, events.loc[selection.compare, "starts_on"], scope, version)
        if selection.compare
        else None
    )
    st.plotly_chart(
        charts.pacing_figure(
            current,
            previous,
            (event_name(selection.event), event_name(selection.compare) or None),
            t("results.pacing.x"),
            t("results.pacing.y"),
            language=language,
        ),
        width="stretch",
    )

left, right = st.columns(2)
with left:
    st.subheader(t("results.by_site"), help=t("kpi.bookings.help"))
    by_site = cached.bookings_by_site(scope, version)
    status_names = {status: t(f"status.{status}") for status in charts.STATUS_COLOURS}
    st.plotly_chart(
        charts.bookings_by_site_figure(by_site, status_names, t("kpi.bookings"), language=language),
        width="stretch",
    )
with right:
    st.subheader(t("results.funnel"), help=t("results.funnel.help"))
    funnel = cached.funnel_by_site(scope, version)
    step_names = {step: t(f"step.{step}") for step in charts.FUNNEL_STEPS}
    st.plotly_chart(
        charts.funnel_by_site_figure(funnel, step_names, t("results.candidates"), language=language),
        width="stretch",
    )

funnel_view = funnel.drop(columns="site_code").rename(columns=lambda c: t(f"col.{c}"))


def export_buttons(table, name: str) -> None:
    table_downloads(table, name, key="results", label=t("results.export") + " ")


funnel_formats = {
    t("col.booking_rate"): "percent",
    t("col.attendance_rate"): "percent",
    t("col.conversion_to_enrollment"): "percent",
}
show_table(funnel_view, language, funnel_formats)
export_buttons(funnel_view, "entonnoir")


st.subheader(t("results.programmes"), help=t("results.programmes.help"))
programmes = cached.programme_table(scope, version)
programmes = programmes.assign(level=programmes["level"].map(lambda level: t(f"level.{level}"))).rename(
    columns=lambda c: t(f"col.{c}")
)
programme_formats = {t("col.fill_rate"): "percent"}
show_table(programmes, language, programme_formats)
export_buttons(programmes, "formations")

year = events.loc[selection.event, "starts_on"].year if selection.event else scope.date_to.year
st.subheader(t("results.companies"), help=t("results.companies.help"))
companies = cached.companies_by_programme(year, scope, version).rename(columns=lambda c: t(f"col.{c}"))
show_table(companies, language)
export_buttons(companies, "entreprises")

st.subheader(t("results.signals"))
found = cached.signals(scope, version)
notes = []
for signal in found:
    shown = {
        name: format_percent(value, language) if isinstance(value, float) else format_number(value, language)
        for name, value in signal.figures.items()
    }
    subject = signal.subject + (f" · {format_date(signal.day, language)}" if signal.day else "")
    notes.append(t(f"signal.{signal.kind}", subject=escape_markdown(subject), **shown))
for note in notes:
    st.markdown(f"- {note}")
if not notes:
    st.caption(t("results.no_signal"))

# Built when downloaded, like the exports: not on every run of the page (its two tables as HTML).
summary = partial(
    exports.summary_html,
    t("page.results"),
    t(
        "results.period",
        start=format_date(scope.date_from, language),
        end=format_date(scope.date_to, language),
    ),
    [(t(LABELS[name]), formatter(shown_figures[name], language)) for name, formatter, _ in KPIS],
    [
        (t("results.funnel"), format_table(funnel_view, language, funnel_formats)),
        (t("results.programmes"), format_table(programmes, language, programme_formats)),
    ],
    notes,
    language=language,
    notes_title=t("results.signals"),
)
export_button(
    st,
    t("results.summary"),
    summary,
    "synthese.html",
    "text/html",
    target="results_summary",
    key="results_summary",
    icon=":material/print:",
)
