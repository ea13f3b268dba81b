"""Job dating (directors): do the companies' positions meet the seeking candidates, and what
comes of the meetings? Marketing sees the same figures without any list of names."""

from datetime import date

import pandas as pd
import streamlit as st

from pages.common.downloads import table_downloads
from pages.common.gate import open_for
from pages.common.tables import show_table
from services.access import roles
from services.app import cached, charts
from services.app.markdown import escape_markdown
from services.i18n import N_, format_date, format_delta, format_number, format_percent, translate
from services.metrics import jobdating
from services.metrics.results import comparison_event
from services.store import audit

account, viewer = open_for("jobdating")
language = st.session_state.get("language", "fr")
selection = st.session_state["selection"]
scope = selection.scope
version = cached.data_version()
events = cached.event_list(version)
job_datings = events[events["kind"] == "job_dating"].set_index("code")
names_allowed = roles.sees_personal_data(viewer)


def t(key: str, **values: object) -> str:
    return translate(key, language, **values)


def n(value: float | int | None, decimals: int = 0) -> str:
    return format_number(value, language, decimals)


def year_delta(now: int, before: int) -> str | None:
    """The change against a year earlier; none when both are nil (an arrow for "+0" says nothing)."""
    return None if now == before == 0 else format_delta(now - before, "count", language)


def show_job_dating(code: str) -> None:
    """The sidebar's operation becomes this job dating, with its own period (as the sidebar does)."""
    default = cached.default_scope(code, version)
    st.session_state["filter_event"] = code
    st.session_state["filter_period"] = (default.date_from, default.date_to)
    st.session_state["filter_compare"] = comparison_event(events, code)


def widen_period(first_day: date) -> None:
    """The period starts earlier (the offers of the intake are published before the job dating)."""
    st.session_state["filter_period"] = (first_day, scope.date_to)


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    return table.rename(columns=lambda column: t(f"jobdating.col.{column}"))


def export_buttons(table: pd.DataFrame, name: str) -> None:
    table_downloads(table, name, key="jobdating", label=t("results.export") + " ")


st.title(t("page.jobdating"))
st.caption(t("jobdating.question"))

if job_datings.empty:
    st.info(t("jobdating.no_event"), icon=":material/event_busy:")
    st.stop()
if selection.event and selection.event not in job_datings.index:
    latest = str(job_datings.index[0])
    chosen = events.set_index("code").loc[selection.event, "name"]
    st.info(t("jobdating.not_a_job_dating", name=escape_markdown(chosen)), icon=":material/info:")
    st.button(
        t("jobdating.show", name=escape_markdown(job_datings.loc[latest, "name"])),
        on_click=show_job_dating,
        args=(latest,),
        type="primary",
        key="jobdating_show_latest",
    )
    st.stop()

figures = cached.job_dating_figures(scope, version)
funnel = cached.job_dating_funnel(scope, None, version).iloc[0]
supply = cached.supply_and_demand(scope, version)
by_programme = cached.supply_by_programme(scope, version)
positions_before = int(supply["positions_previous"].sum())
offers_now, offers_before = int(supply["offers"].sum()), int(supply["offers_previous"].sum())

# -- key figures
# Rows that wrap (two cards a line in a narrow window), not four cut-off columns.
first_row, second_row = st.container(horizontal=True), st.container(horizontal=True)
first_row.metric(
    t("jobdating.kpi.positions"),
    n(figures["positions"]),
    delta=year_delta(figures["positions"], positions_before),
    help=t("jobdating.kpi.positions.help", before=n(positions_before)),
    border=True,
    width="stretch",
)
first_row.metric(
    t("jobdating.kpi.offers"),
    n(offers_now),
    delta=year_delta(offers_now, offers_before),
    help=t("jobdating.kpi.offers.help", before=n(offers_before)),
    border=True,
    width="stretch",
)
first_row.metric(
    t("jobdating.kpi.seeking"),
    n(figures["seeking_candidates"]),
    help=t("jobdating.kpi.seeking.help"),
    border=True,
    width="stretch",
)
first_row.metric(
    t("jobdating.kpi.planned"),
    n(funnel["planned"]),
    help=t("jobdating.kpi.planned.help"),
    border=True,
    width="stretch",
)
second_row.metric(
    t("jobdating.kpi.show_rate"),
    format_percent(figures["meeting_show_rate"], language),
    help=t("jobdating.kpi.show_rate.help"),
    border=True,
    width="stretch",
)
second_row.metric(
    t("jobdating.kpi.mutual_interest_rate"),
    format_percent(figures["mutual_interest_rate"], language),
    help=t("jobdating.kpi.mutual_interest_rate.help"),
    border=True,
    width="stretch",
)
second_row.metric(
    t("jobdating.kpi.contracts"),
    n(figures["contracts_signed"]),
    help=t("jobdating.kpi.contracts.help"),
    border=True,
    width="stretch",
)
days = funnel["days_to_contract"]
second_row.metric(
    t("jobdating.kpi.days_to_contract"),
    "—" if pd.isna(days) else n(days, 0 if float(days).is_integer() else 1),
    help=t("jobdating.kpi.days_to_contract.help", dated=n(funnel["contracts_dated"])),
    border=True,
    width="stretch",
)

# -- supply and demand
st.subheader(t("jobdating.supply"), help=t("jobdating.supply.help"))
if supply.empty:
    st.info(t("jobdating.supply.empty"))
else:
    if offers_now == 0:
        st.info(
            t(
                "jobdating.supply.no_offers",
                start=format_date(scope.date_from, language),
                end=format_date(scope.date_to, language),
            ),
            icon=":material/info:",
        )
        year_start = date(scope.date_from.year, 1, 1)
        if scope.date_from > year_start:
            st.button(
                t("jobdating.supply.widen", start=format_date(year_start, language)),
                on_click=widen_period,
                args=(year_start,),
                key="jobdating_widen",
            )
    else:
        short, surplus = jobdating.imbalances(by_programme)
        if short.empty and surplus.empty:
            st.markdown(t("jobdating.balanced"))
        for column, (table, key) in zip(
            st.columns(2), ((short, N_("jobdating.short")), (surplus, N_("jobdating.surplus"))), strict=True
        ):
            if not table.empty:
                lines = [
                    t(
                        "jobdating.imbalance",
                        program=escape_markdown(
                            f"{row.program_code} · {row.program}"
                            if isinstance(row.program, str)
                            else row.program_code
                        ),
                        seeking=n(row.seeking),
                        positions=n(row.positions),
                    )
                    for row in table.itertuples()
                ]
                column.markdown(f"**{t(key)}**\n" + "".join(f"\n- {line}" for line in lines))
    st.plotly_chart(
        charts.supply_figure(
            by_programme, t("jobdating.col.positions"), t("jobdating.col.seeking"), language=language
        ),
        width="stretch",
    )
    supply_view = labelled(supply)
    show_table(supply_view, language)
    export_buttons(supply_view, "offre_demande")

# -- the funnel
st.subheader(t("jobdating.funnel"), help=t("jobdating.funnel.help"))
if figures["meetings"]["total"] == 0:
    st.info(t("jobdating.funnel.empty"))
else:
    step_names = [t(f"jobdating.step.{step}") for step in ("planned", "held", "mutual_interest", "contracts")]
    st.plotly_chart(charts.job_dating_funnel_figure(funnel, step_names, language=language), width="stretch")
    rates = {t("jobdating.col.show_rate"): "percent", t("jobdating.col.mutual_interest_rate"): "percent"}
    by_programme_tab, by_site_tab = st.tabs([t("jobdating.by_programme"), t("jobdating.by_site")])
    with by_programme_tab:
        show_table(labelled(cached.job_dating_funnel(scope, "program_code", version)), language, rates)
    with by_site_tab:
        show_table(labelled(cached.job_dating_funnel(scope, "site_code", version)), language, rates)

# -- uncovered
st.subheader(t("jobdating.uncovered"), help=t("jobdating.uncovered.help"))
left, right = st.columns(2)
left.metric(
    t("jobdating.kpi.uncovered_offers"),
    n(figures["uncovered_offers"]),
    help=t("jobdating.kpi.uncovered_offers.help"),
    border=True,
)
right.metric(
    t("jobdating.kpi.uncovered_candidates"),
    n(figures["uncovered_candidates"]),
    help=t("jobdating.kpi.uncovered_candidates.help"),
    border=True,
)
if names_allowed:
    offers_tab, candidates_tab = st.tabs(
        [
            t("jobdating.uncovered_offers", count=n(figures["uncovered_offers"])),
            t("jobdating.uncovered_candidates", count=n(figures["uncovered_candidates"])),
        ]
    )
    with offers_tab:
        offers = labelled(cached.uncovered_offers(scope, version))
        if offers.empty:
            st.caption(t("jobdating.uncovered_offers.none"))
        else:
            show_table(offers, language)
            export_buttons(offers, "offres_sans_rencontre")
    with candidates_tab:
        candidates = cached.uncovered_candidates(scope, viewer, version)
        if candidates.empty:
            st.caption(t("jobdating.uncovered_candidates.none"))
        else:
            audit.record_view(
                account.email,
                "jobdating",
                f"{scope.date_from}..{scope.date_to} candidats sans rencontre",
                seen=st.session_state.setdefault("audited_views", set()),
            )
            candidates = labelled(
                candidates.assign(
                    enrollment_status=[
                        t(f"jobdating.enrollment.{status}") for status in candidates["enrollment_status"]
                    ]
                )
            )
            show_table(candidates, language)
            export_buttons(candidates, "candidats_sans_rencontre")
else:
    st.caption(t("jobdating.uncovered.counts_only"))
    counts = labelled(cached.uncovered_counts(scope, version))
    show_table(counts, language)
    export_buttons(counts, "sans_rencontre_par_formation")
