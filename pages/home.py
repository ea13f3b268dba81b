"""Home: the headline figures of the latest open-day operation."""

import pandas as pd
import streamlit as st

from services import cached
from services.events import latest_open_day
from services.i18n import format_date, format_money, format_number, format_percent, translate

language = st.session_state.get("language", "fr")


def t(key: str, **values: object) -> str:
    return translate(key, language, **values)


st.title(t("app.title"))
st.caption(t("app.tagline"))

version = cached.data_version()
events = cached.event_list(version)
event_code = latest_open_day(events)
if event_code is None:
    st.info(t("home.empty"))
    st.stop()

event = events.set_index("code").loc[event_code]
scope = cached.default_scope(event_code, version)
figures = cached.scope_report(scope, "booking", 30, version)

st.subheader(
    t(
        "home.event",
        name=event["name"],
        start=format_date(event["starts_on"], language),
        end=format_date(event["ends_on"], language),
    )
)
st.caption(
    t("home.period", start=format_date(scope.date_from, language), end=format_date(scope.date_to, language))
)

first, second, third, fourth = st.columns(4)
first.metric(
    t("kpi.bookings"), format_number(figures["bookings"]["total"], language), help=t("kpi.bookings.help")
)
second.metric(
    t("kpi.show_rate"), format_percent(figures["show_rate"], language), help=t("kpi.show_rate.help")
)
third.metric(
    t("kpi.family_attendance"),
    format_percent(figures["family_attendance"], language),
    help=t("kpi.family_attendance.help"),
)
fourth.metric(
    t("kpi.spend"), format_money(sum(figures["spend"].values()), language), help=t("kpi.spend.help")
)
first, second, third, _ = st.columns(4)
first.metric(t("kpi.booked"), format_number(figures["funnel"]["booked"], language), help=t("kpi.booked.help"))
second.metric(
    t("kpi.enrolled"), format_number(figures["funnel"]["enrolled"], language), help=t("kpi.enrolled.help")
)
third.metric(
    t("kpi.conversion"),
    format_percent(figures["conversion_to_enrollment"], language),
    help=t("kpi.conversion.help"),
)

st.subheader(t("home.by_site"))
by_site = pd.DataFrame(
    {
        t("home.site"): list(figures["bookings"]["by_site"]),
        t("home.count"): list(figures["bookings"]["by_site"].values()),
    }
)
st.bar_chart(by_site, x=t("home.site"), y=t("home.count"), horizontal=True)
