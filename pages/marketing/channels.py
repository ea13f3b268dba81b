"""Channels (marketing): which channels brought bookings and enrollments, at what cost. Aggregates only."""

from functools import partial

import streamlit as st

from pages.common.downloads import CSV, EXCEL, export_button
from pages.common.gate import open_for
from pages.common.tables import show_table
from services.access import roles
from services.app import cached, charts
from services.app.markdown import escape_markdown
from services.documents import exports
from services.i18n import N_, format_date, format_number, format_percent, translate, translate_plural
from services.metrics import marketing, money
from services.metrics.attribution import GOALS, MODELS
from services.store import channels
from services.store.models import CHANNELS

account, _ = open_for("channels")
language = st.session_state.get("language", "fr")
selection = st.session_state["selection"]
scope = selection.scope
version = cached.data_version()


def t(key: str, **values: object) -> str:
    return translate(key, language, **values)


def tn(key: str, count: int, **values: object) -> str:
    return translate_plural(key, count, language, **values)


channel_names = {channel: t(f"channel.{channel}") for channel in CHANNELS}
model_names = {model: t(f"model.{model}") for model in MODELS}

st.title(t("page.channels"))
st.caption(t("channels.caption"))

left, middle, right = st.columns([1.2, 1, 1.4])
goal = left.segmented_control(
    t("channels.goal"), GOALS, default="booking", key="channels_goal", format_func=lambda g: t(f"goal.{g}")
)
lookbacks = {g: st.session_state.get(f"channels_lookback_{g}", marketing.DEFAULT_LOOKBACK[g]) for g in GOALS}
lookbacks[goal] = middle.number_input(
    t("channels.lookback"),
    min_value=0,
    max_value=365,
    step=1,
    value=marketing.DEFAULT_LOOKBACK[goal],
    key=f"channels_lookback_{goal}",
    help=t("channels.lookback.help"),
)
model = right.selectbox(
    t("channels.model"),
    MODELS,
    index=MODELS.index("linear"),
    key="channels_model",
    format_func=model_names.get,
)
both = (lookbacks["booking"], lookbacks["enrollment"])

data = cached.journey_data(scope, goal, lookbacks[goal], version)
attribution = data.attribution
if goal == "enrollment" and selection.event:
    st.caption(t("channels.event_not_for_enrollments"))
if attribution.conversions == 0:
    st.info(t("channels.empty"))
else:
    st.caption(
        t(
            "channels.conversions",
            count=format_number(attribution.conversions, language),
            empty=format_number(attribution.empty_journeys, language),
        )
    )
    # The table first: it computes the model's credits under the spinner.
    table = money.costs_to_show(cached.channel_table(scope, model, goal, both, version))
    if model == "markov" and attribution.markov_fell_back:
        st.warning(t("channels.markov_fallback"), icon=":material/info:")

    st.subheader(t("channels.table"), help=t("channels.table.help"))
    shown = table.assign(channel=table["channel"].map(channel_names)).rename(columns=lambda c: t(f"col.{c}"))
    show_table(
        shown,
        language,
        {
            t("col.credit"): "decimal",
            t("col.share"): "percent",
            t("col.spend"): "money",
            t("col.cost_per_booking"): "money_cents",
            t("col.cost_per_enrollment"): "money_cents",
        },
    )
    first, second, _ = st.columns([1, 1, 4])
    export_button(
        first,
        "CSV",
        partial(exports.to_csv, shown, language),
        "canaux.csv",
        CSV,
        target="channels",
        key="channels_csv",
    )
    export_button(
        second,
        "Excel",
        partial(exports.to_excel, shown),
        "canaux.xlsx",
        EXCEL,
        target="channels",
        key="channels_xlsx",
    )

    st.subheader(t("channels.models"), help=t("channels.models.help"))
    st.plotly_chart(
        charts.models_figure(
            marketing.models_side_by_side(data),
            model_names,
            channel_names,
            t("col.credit"),
            language=language,
        ),
        width="stretch",
    )
    contrast = marketing.opener_and_closer(data)
    if contrast:
        st.markdown(
            t("channels.disagree", opener=channel_names[contrast[0]], closer=channel_names[contrast[1]])
        )
    else:
        st.caption(t("channels.agree"))

    st.subheader(t("channels.sure"), help=t("channels.sure.help"))
    interval_table = cached.credit_intervals(scope, goal, lookbacks[goal], model, version)
    st.plotly_chart(
        charts.intervals_figure(interval_table, channel_names, t("col.credit"), language=language),
        width="stretch",
    )
    thin = [
        channel_names[c]
        for c, n in marketing.conversions_per_channel(data).items()
        if n < marketing.MIN_CONVERSIONS
    ]
    if thin:
        st.warning(t("channels.insufficient", channels=", ".join(thin)), icon=":material/warning:")

    tabs = st.tabs(
        [
            t("channels.sources"),
            t("channels.campaigns"),
            t("channels.email"),
            t("channels.journeys"),
            t("channels.trend"),
            t("channels.hygiene"),
            t("channels.audience"),
        ],
        key="channels_tab",
        on_change="rerun",
        # A fixed height: the chosen tab empties while it computes, and a shorter page would
        # make the browser scroll up.
        height=620,
    )
    with tabs[0]:
        if tabs[0].open:  # only the chosen tab computes
            st.caption(t("channels.sources.help"))
            sources = cached.source_detail(scope, goal, lookbacks[goal], model, version)
            show_table(
                sources.assign(channel=sources["channel"].map(channel_names)).rename(
                    columns=lambda c: t(f"col.{c}")
                ),
                language,
                {t("col.credit"): "decimal"},
            )
    with tabs[1]:
        if tabs[1].open:  # only the chosen tab computes
            st.caption(t("channels.campaigns.help"))
            campaigns = money.costs_to_show(cached.campaign_results(scope, model, both, version))
            show_table(
                campaigns.assign(channel=campaigns["channel"].map(channel_names)).rename(
                    columns=lambda c: t(f"col.{c}")
                ),
                language,
                {
                    t("col.spend"): "money",
                    t("col.cost_per_booking"): "money_cents",
                    t("col.cost_per_enrollment"): "money_cents",
                    t("col.bookings"): "decimal",
                    t("col.enrollments"): "decimal",
                },
            )
    with tabs[2]:
        if tabs[2].open:  # only the chosen tab computes
            st.caption(t("channels.email.help"))
            funnel = cached.email_funnel(scope, both, version)
            show_table(
                funnel.rename(columns=lambda c: t(f"col.{c}")),
                language,
                {
                    t(f"col.{c}"): "percent"
                    for c in (
                        "open_rate",
                        "click_rate",
                        "click_to_open",
                        "click_to_booking",
                        "booking_to_enrollment",
                    )
                },
            )
    with tabs[3]:
        if tabs[3].open:  # only the chosen tab computes
            st.caption(t("channels.journeys.help"))
            path_names = {**channel_names, marketing.NO_CONTACT: t("channels.journeys.no_contact")}
            show_table(
                cached.top_paths(scope, goal, lookbacks[goal], version)
                .assign(
                    path=lambda f: f["path"].map(
                        lambda path: " → ".join(path_names.get(c, c) for c in path.split(" → "))
                    )
                )
                .rename(columns=lambda c: t(f"col.{c}")),
                language,
            )
            st.markdown("**" + t("channels.days") + "**")
            st.plotly_chart(
                charts.days_figure(
                    marketing.days_to_conversion(data),
                    t("channels.days.x"),
                    t("col.conversions"),
                    language=language,
                ),
                width="stretch",
            )
    with tabs[4]:
        if tabs[4].open:  # only the chosen tab computes
            st.caption(t("channels.trend.help"))
            st.plotly_chart(
                charts.weekly_figure(
                    cached.weekly_conversions(scope, goal, lookbacks[goal], model, version),
                    channel_names,
                    t("col.conversions"),
                    language=language,
                ),
                width="stretch",
            )
    with tabs[5]:
        if tabs[5].open:  # only the chosen tab computes
            checks = cached.hygiene(scope, goal, lookbacks[goal], version)
            st.markdown(
                t("channels.hygiene.untagged", share=format_percent(checks["untagged_share"], language))
            )
            for key, name in (
                ("variants", N_("channels.hygiene.variants")),
                ("unknown_campaigns", N_("channels.hygiene.unknown")),
                ("rules", N_("channels.hygiene.rules")),
            ):
                st.markdown(f"**{t(name)}**")
                if checks[key].empty:
                    st.caption(t("channels.hygiene.clean"))
                else:
                    show_table(
                        checks[key]
                        .replace({"channel": channel_names})
                        .rename(columns=lambda c: t(f"col.{c}")),
                        language,
                    )
    with tabs[6]:
        if tabs[6].open:  # only the chosen tab computes
            st.caption(t("channels.audience.help", minimum=roles.MIN_SCOPE))
            months = marketing.audience_scope(scope)
            st.caption(
                t(
                    "channels.audience.period",
                    start=format_date(months.date_from, language),
                    end=format_date(months.date_to, language),
                )
            )
            by_age, by_department = cached.audience(months, version)
            if by_age.empty:
                st.info(t("channels.audience.withheld", minimum=roles.MIN_SCOPE), icon=":material/lock:")
            else:
                hidden = {"candidates": {roles.SUPPRESSED: t("channels.audience.suppressed")}}
                left, right = st.columns(2)
                left.markdown("**" + t("channels.audience.age") + "**")
                show_table(
                    by_age.assign(group=by_age["group"].map(lambda band: t(f"age.{band}")))
                    .replace(hidden)
                    .rename(columns=lambda c: t(f"col.{c}")),
                    language,
                    where=left,
                )
                right.markdown("**" + t("channels.audience.department") + "**")
                show_table(
                    by_department.replace(
                        {"group": {marketing.OTHER: t("channels.audience.other")}, **hidden}
                    ).rename(columns=lambda c: t(f"col.{c}")),
                    language,
                    where=right,
                )
            st.metric(
                t("channels.audience.consenting"),
                format_number(cached.consenting_candidates(version), language),
                help=t("channels.audience.consenting.help"),
            )
# The journeys (1.4 million touches at scale L) are the cache's: a page's globals outlive its run
# (its widgets' callbacks refer to them) and would hold them during the next run too, twice
# in memory when that run reads new ones.
del data, attribution
rules = cached.channel_rules(version)
# Both tools render on every run: they hold what the user is typing, which a lazy tab would lose.
tools = st.tabs([t("channels.builder"), t("channels.rules")])
with tools[0]:
    page = st.text_input(
        t("channels.builder.page"),
        "https://www.pole-formation.fr/portes-ouvertes",
        key="channels_link_page",
    )
    wanted = st.selectbox(
        t("channels.builder.channel"),
        CHANNELS,
        format_func=channel_names.get,
        key="channels_link_channel",
    )
    a, b, c = st.columns(3)
    source = a.text_input(t("channels.builder.source"), "facebook", key="channels_link_source")
    medium = b.text_input(t("channels.builder.medium"), "paid_social", key="channels_link_medium")
    campaign = c.text_input(t("channels.builder.campaign"), key="channels_link_campaign")
    try:
        link = marketing.build_link(page, source, medium, campaign)
    except ValueError as error:
        st.error(escape_markdown(str(error)))
    else:
        st.code(link, language=None)
        derived, position = marketing.channel_of_link(link, rules)
        if derived == wanted:
            st.success(
                t("channels.builder.result", channel=channel_names[derived], rule=position),
                icon=":material/check:",
            )
        else:
            st.warning(
                t(
                    "channels.builder.mismatch",
                    channel=channel_names[derived],
                    wanted=channel_names[wanted],
                ),
                icon=":material/warning:",
            )
with tools[1]:
    st.caption(t("channels.rules.help"))
    edited = st.data_editor(
        channels.rules_frame(rules),
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        key="channels_rules_editor",
        column_config={
            "channel": st.column_config.SelectboxColumn(
                t("col.channel"), options=list(CHANNELS), required=True
            ),
            "when_untagged": st.column_config.CheckboxColumn(t("col.when_untagged")),
            "medium_in": st.column_config.TextColumn(t("col.medium_in")),
            "source_in": st.column_config.TextColumn(t("col.source_in")),
            "source_ends_with": st.column_config.TextColumn(t("col.source_ends_with")),
        },
    )
    proposed = channels.rules_from_frame(edited)
    # Unedited, the rules are those every derived touchpoint was given (saving rules re-derives
    # them in the same transaction): nothing moves, and every touchpoint need not be read.
    unedited = proposed == channels.rules_from_frame(channels.rules_frame(rules))
    moves = {} if unedited else channels.preview_rules(proposed, cached.derived_groups(version))
    if moves:
        st.info(
            t(
                "channels.rules.preview",
                moves=escape_markdown(
                    ", ".join(
                        f"{channel_names.get(a, a)} → {channel_names.get(b, b)} : {n}"
                        for (a, b), n in moves.items()
                    )
                ),
            )
        )
    else:
        st.caption(t("channels.rules.no_change"))
    if st.button(t("channels.rules.save"), type="primary", key="channels_rules_save"):
        try:
            changed = channels.save_rules(proposed)
        except ValueError as error:
            st.error(escape_markdown(str(error)))
        else:
            st.success(tn("channels.rules.saved", changed), icon=":material/check:")
