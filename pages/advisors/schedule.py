"""Schedule (advisors): whom they meet, when, for what, with whom, where; and what happened."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from pages.common.downloads import CSV, EXCEL, export_button
from pages.common.gate import open_for
from pages.common.tables import show_table
from services.access import roles
from services.advising import outcomes, schedule
from services.app import cached, charts
from services.app.markdown import escape_markdown
from services.documents import exports
from services.documents.calendars import schedule_ics
from services.i18n import DATE_INPUT_FORMATS, format_date, format_datetime, format_number, translate
from services.integrations import whereby_attendance
from services.store import audit
from services.store.versioned import ChangeRefused

account, viewer = open_for("schedule")
language = st.session_state.get("language", "fr")
selection = st.session_state["selection"]
version = cached.data_version()
events = cached.event_list(version).set_index("code")


def t(key: str, **values: object) -> str:
    return translate(key, language, **values)


def n(value: int) -> str:
    return format_number(value, language)


def first_page() -> None:
    """Another day, view or advisor: the pages of advisors start again (the chosen one on top)."""
    st.session_state["schedule_page"] = 1


def turn_page(step: int) -> None:
    st.session_state["schedule_page"] += step


st.title(t("page.schedule"))
st.caption(t("schedule.caption"))

if "schedule_day" not in st.session_state:
    st.session_state["schedule_day"] = (
        events.loc[selection.event, "starts_on"] if selection.event in events.index else selection.date_to
    )
advisors = cached.advisors_of(selection.sites, version)
if advisors.empty:
    st.info(t("schedule.no_advisor"))
    st.stop()
advisor_names = dict(zip(advisors["email"], advisors["name"], strict=True))

left, middle, right = st.columns([1, 1, 2])
view = left.segmented_control(
    t("schedule.view"),
    ["day", "week"],
    default="day",
    key="schedule_view",
    format_func=lambda v: t(f"schedule.view.{v}"),
    on_change=first_page,
)
day = middle.date_input(
    t("schedule.day"), key="schedule_day", format=DATE_INPUT_FORMATS[language], on_change=first_page
)
advisor = right.selectbox(
    t("schedule.advisor"),
    options=list(advisor_names),
    index=list(advisor_names).index(viewer.advisor_email) if viewer.advisor_email in advisor_names else 0,
    key="schedule_advisor",
    format_func=lambda email: f"{advisor_names[email]} ({email})",
    on_change=first_page,
)

first_day = day - timedelta(days=day.weekday()) if view == "week" else day
last_day = first_day + timedelta(days=6) if view == "week" else day
# A page of advisors at a time, the chosen one on top: everything below is built for them only
# (a network's day has thousands of advisors); the downloads hold every interview.
page = cached.advisor_page(
    first_day,
    last_day,
    selection.sites,
    selection.programs,
    advisor,
    st.session_state.get("schedule_page", 1),
    version,
)
st.session_state["schedule_page"] = page.number  # within the pages there are, before its widget
if page.pages > 1:
    previous, chooser, following = st.columns([1.3, 6, 1.3], vertical_alignment="bottom")
    chooser.selectbox(
        t("schedule.page"),
        options=range(1, page.pages + 1),
        key="schedule_page",
        format_func=lambda number: t(
            "schedule.page.option",
            first=n(page.span(number)[0]),
            last=n(page.span(number)[1]),
            start=page.bounds[number - 1][0],
            end=page.bounds[number - 1][1],
        ),
    )
    previous.button(
        t("schedule.page.previous"),
        key="schedule_page_previous",
        icon=":material/chevron_left:",
        disabled=page.number == 1,
        on_click=turn_page,
        args=(-1,),
        width="stretch",
    )
    following.button(
        t("schedule.page.next"),
        key="schedule_page_next",
        icon=":material/chevron_right:",
        disabled=page.number == page.pages,
        on_click=turn_page,
        args=(1,),
        width="stretch",
    )
    st.caption(
        t(
            "schedule.page.caption",
            first=n(page.first),
            last=n(page.last),
            total=n(page.total),
            busy=n(page.busy),
            shown=n(page.interviews),
            interviews=n(page.interview_total),
        )
    )
# All the interviews when the page has them all: the downloads then read the same cached rows.
day_schedule = cached.interviews(
    first_day,
    last_day,
    selection.sites,
    selection.programs,
    viewer,
    version,
    None if page.whole else page.advisors,
)
if roles.names_shown(day_schedule):
    audit.record_view(
        account.email,
        "schedule",
        schedule.view_detail(first_day, last_day, page),
        seen=st.session_state.setdefault("audited_views", set()),
    )
status_names = {status: t(f"status.{status}") for status in charts.STATUS_COLOURS}


def listed(interviews: pd.DataFrame) -> pd.DataFrame:
    """Interviews as the list shows them, with the page's column names."""
    shown = schedule.listing_table(
        interviews,
        first_advisor=advisor,
        status_names=status_names,
        minor_label=t("schedule.minor"),
        with_day=view == "week",
    )
    return shown.rename(columns=lambda c: t(f"col.{c}"))


def whole_list() -> pd.DataFrame:
    """Every interview of the selection, as the list shows them (built when a download is clicked)."""
    everything = cached.interviews(first_day, last_day, selection.sites, selection.programs, viewer, version)
    return listed(everything)


def advisor_calendar() -> bytes:
    """The chosen advisor's interviews of the selection as an iCalendar file (built on click)."""
    theirs = cached.interviews(
        first_day, last_day, selection.sites, selection.programs, viewer, version, (advisor,)
    )
    return schedule_ics(theirs, advisor_names[advisor], language=language)


if page.interview_total == 0:
    st.info(t("schedule.empty"))
else:
    overlaps = set(day_schedule.loc[day_schedule["overlap"], "ref"])
    st.subheader(t("schedule.timeline"), help=t("schedule.timeline.help"))
    if overlaps:
        st.warning(
            t("schedule.overlaps", refs=escape_markdown(", ".join(sorted(overlaps)))),
            icon=":material/warning:",
        )
    if page.overlaps_elsewhere:
        others = [
            t("schedule.overlaps.where", advisor=escape_markdown(label), page=number)
            for label, number in page.overlaps_elsewhere
        ]
        st.warning(
            t(
                "schedule.overlaps.elsewhere",
                advisors=", ".join(others[:10]) + (" …" if len(others) > 10 else ""),
            ),
            icon=":material/warning:",
        )
    if day_schedule.empty:
        st.info(t("schedule.page.empty"))
    else:
        st.plotly_chart(
            charts.timeline_figure(
                day_schedule, status_names, overlaps, first_advisor=advisor, language=language
            ),
            width="stretch",
        )
        st.subheader(t("schedule.list"), help=t("schedule.list.help"))
        show_table(
            listed(day_schedule),
            language,
            column_config={
                t("col.link"): st.column_config.LinkColumn(display_text="https://.*/(.*)"),
            },
        )
    first, second, third, _ = st.columns([1, 1, 1.4, 2])
    export_button(
        first,
        "CSV",
        lambda: exports.to_csv(whole_list(), language),
        f"entretiens-{first_day}.csv",
        CSV,
        target="schedule",
        key="schedule_csv",
    )
    export_button(
        second,
        "Excel",
        lambda: exports.to_excel(whole_list()),
        f"entretiens-{first_day}.xlsx",
        EXCEL,
        target="schedule",
        key="schedule_xlsx",
    )
    export_button(
        third,
        t("schedule.ics"),
        advisor_calendar,
        f"agenda-{first_day}.ics",
        "text/calendar",
        target="schedule",
        key="schedule_ics",
        icon=":material/calendar_month:",
        help=t("schedule.ics.help"),
    )

    # The outcomes this person may record: an advisor their own interviews, an admin any.
    # (.loc: an empty page gives an empty list, which [] would read as no columns.)
    bookings = day_schedule.loc[
        [roles.may_record_outcome(viewer, email) for email in day_schedule["advisor_email"]]
    ].set_index("ref")
    # The versions the advisor was shown: a save is checked against them, so a change made by
    # someone else since (another advisor, an import) is a conflict, never silently overwritten.
    seen_versions = st.session_state.get("schedule_seen_versions", {})
    st.session_state["schedule_seen_versions"] = dict(
        zip(day_schedule["ref"], day_schedule["version"], strict=True)
    )

    if not bookings.empty:
        # Labels built at once (a page of advisors holds a hundred interviews or so).
        labels = dict(
            zip(
                bookings.index,
                bookings["starts_at"].map(lambda at: format_datetime(at, language))
                + " · "
                + bookings["candidate"].astype(str)
                + " · "
                + bookings["advisor"].fillna("").replace("", "—").astype(str),
                strict=True,
            )
        )
        describe = labels.__getitem__

        # What the video calls say happened: nothing is saved before the advisor confirms.
        suggestions = cached.attendance_suggestions(tuple(bookings.index), viewer, version)
        if not suggestions.empty:
            st.subheader(t("schedule.suggestions"), help=t("schedule.suggestions.help"))
            for suggestion in suggestions.itertuples():
                said = whereby_attendance.suggestion_text(
                    suggestion.suggestion, suggestion.visitors, suggestion.family, language
                )
                text, confirm, dismiss = st.container(border=True).columns([5, 1, 1])
                text.markdown(f"**{escape_markdown(describe(suggestion.ref))}** — {said}")
                if suggestion.conflict:
                    text.warning(
                        t("schedule.suggestion.conflict", status=status_names[suggestion.status]),
                        icon=":material/warning:",
                    )
                elif confirm.button(
                    t("schedule.suggestion.confirm"), key=f"schedule_confirm_{suggestion.ref}", type="primary"
                ):
                    try:
                        whereby_attendance.confirm_suggestion(
                            suggestion.ref,
                            actor=account.email,
                            read_version=int(seen_versions.get(suggestion.ref, suggestion.version)),
                        )
                        st.session_state["schedule_message"] = t("schedule.suggestion.confirmed")
                        st.rerun()
                    except ChangeRefused as error:
                        text.error(escape_markdown(error), icon=":material/block:")
                if dismiss.button(t("schedule.suggestion.dismiss"), key=f"schedule_dismiss_{suggestion.ref}"):
                    try:
                        whereby_attendance.dismiss_suggestion(suggestion.ref, actor=account.email)
                        st.session_state["schedule_message"] = t("schedule.suggestion.dismissed")
                        st.rerun()
                    except ChangeRefused as error:
                        text.error(escape_markdown(error), icon=":material/block:")

        ref = st.selectbox(
            t("schedule.booking"), options=list(bookings.index), format_func=describe, key="schedule_booking"
        )
        current = bookings.loc[ref]
        read_version = int(seen_versions.get(ref, current["version"]))
        # The room's host link: roles.interviews_for leaves it to the interview's own advisor.
        if isinstance(current["host_room_url"], str) and current["host_room_url"] != roles.HIDDEN:
            st.link_button(
                t("schedule.host_link"),
                current["host_room_url"],
                help=t("schedule.host_link.help"),
                icon=":material/video_call:",
            )
        record, reassign = st.columns(2)
        with record.form("schedule_record_form"):
            st.markdown("**" + t("schedule.record") + "**", help=t("schedule.record.help"))
            # Keys per booking: the form opens on the chosen booking's own status and people.
            status = st.selectbox(
                t("schedule.status"),
                options=list(status_names),
                format_func=status_names.get,
                index=list(status_names).index(current["status"]),
                key=f"schedule_status_{ref}",
            )
            attendees = st.number_input(
                t("schedule.attendees"),
                min_value=1,
                max_value=10,
                step=1,
                value=int(current["attendees"]),
                key=f"schedule_attendees_{ref}",
            )
            note = st.text_area(
                t("schedule.note"), max_chars=outcomes.MAX_NOTE_LENGTH, key=f"schedule_note_{ref}"
            )
            if st.form_submit_button(t("schedule.save"), type="primary"):
                try:
                    people = int(attendees) if status == "attended" else None
                    outcomes.record_outcome(
                        ref,
                        outcome=outcomes.Outcome(status, people, note),
                        author=account.email,
                        read_version=read_version,
                    )
                    st.session_state["schedule_message"] = t("schedule.saved")
                    st.rerun()
                except ChangeRefused as error:
                    st.error(escape_markdown(error), icon=":material/block:")
        with reassign.form("schedule_reassign_form"):
            st.markdown("**" + t("schedule.reassign") + "**")
            same_site = advisors[advisors["site_code"] == current["site_code"]]
            target = st.selectbox(
                t("schedule.reassign.to"),
                options=list(same_site["email"]),
                format_func=lambda email: advisor_names.get(email, email),
                key=f"schedule_reassign_to_{ref}",
            )
            if st.form_submit_button(t("schedule.reassign.save")):
                try:
                    outcomes.reassign(
                        ref, advisor_email=target, author=account.email, read_version=read_version
                    )
                    st.session_state["schedule_message"] = t("schedule.saved")
                    st.rerun()
                except ChangeRefused as error:
                    st.error(escape_markdown(error), icon=":material/block:")
        if message := st.session_state.pop("schedule_message", None):
            st.success(message, icon=":material/check:")
        with st.expander(t("schedule.history")):
            log = outcomes.history(ref)
            show_table(log.rename(columns=lambda c: t(f"col.{c}")), language)

# The tables of this page's advisors: the caption says which, when there are several pages.
on_this_page = t("schedule.page.tables", first=n(page.first), last=n(page.last), total=n(page.total))
if view == "day":
    st.subheader(t("schedule.free_slots"), help=t("schedule.free_slots.help"))
    if page.pages > 1:
        st.caption(on_this_page)
    slots = cached.free_slots(day, selection.sites, page.advisors, version)
    slots["first_free"] = slots["first_free"].map(", ".join)
    show_table(slots.drop(columns="advisor_email").rename(columns=lambda c: t(f"col.{c}")), language)

st.subheader(t("schedule.load"), help=t("schedule.load.help"))
period = f"{format_date(selection.date_from, language)} → {format_date(selection.date_to, language)}"
st.caption(f"{period} · {on_this_page}" if page.pages > 1 else period)
load = cached.advisor_load(selection.scope, version, None if page.pages == 1 else page.advisors)
show_table(
    load.drop(columns="advisor_email").rename(columns=lambda c: t(f"col.{c}")),
    language,
    {t("col.hours"): "decimal2"},
)
