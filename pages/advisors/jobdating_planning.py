"""Job-dating planning (advisors): which candidate meets which company, when; what came of it;
and each company's and candidate's schedule to send."""

from functools import partial

import streamlit as st

from pages.common.downloads import export_button, table_downloads
from pages.common.gate import open_for
from pages.common.tables import show_table
from services.access import consent, roles
from services.app import cached, charts
from services.app.markdown import escape_markdown
from services.config import LOCAL_TZ
from services.documents.calendars import meetings_ics
from services.i18n import (
    DATE_INPUT_FORMATS,
    N_,
    format_date,
    format_datetime,
    format_number,
    translate,
    translate_plural,
)
from services.integrations import invitations, mail
from services.jobdating import meeting_builder, meeting_plan, meetings, plan_preview
from services.jobdating.meeting_builder import PlanInfeasible
from services.jobdating.meetings import MeetingOutcome, record_meeting_outcome
from services.store import audit
from services.store.models import MEETING_OUTCOMES, MEETING_STATUSES
from services.store.versioned import ChangeRefused

account, viewer = open_for("jobdating_planning")
language = st.session_state.get("language", "fr")
selection = st.session_state["selection"]
version = cached.data_version()
job_datings = plan_preview.job_dating_events(cached.event_list(version))


def t(key: str, **values: object) -> str:
    return translate(key, language, **values)


def tn(key: str, count: int, **values: object) -> str:
    return translate_plural(key, count, language, **values)


def n(value: int) -> str:
    return format_number(value, language)


def labelled(table):
    return table.rename(columns=lambda column: t(f"jdplan.col.{column}"))


def when(instant) -> str:
    return format_datetime(instant.astimezone(LOCAL_TZ), language)


#: How the meetings' times read: the start as a date and time, the end as a time of day.
SENT_TIMES = {t("jdplan.col.starts_at"): "datetime", t("jdplan.col.ends_at"): "time"}


def problem_list(title: str, refusal: PlanInfeasible) -> str:
    return t(title) + "\n" + "".join(f"\n- {escape_markdown(problem)}" for problem in refusal.problems)


def forget_draft() -> None:
    """Another event: its preview, refusal and edits go."""
    for key in ("jdplan_draft", "jdplan_refusal", "jdplan_edit_error"):
        st.session_state.pop(key, None)


def change_draft(meetings_now: list) -> None:
    draft = st.session_state["jdplan_draft"]
    st.session_state["jdplan_draft"] = {**draft, "meetings": meetings_now, "revision": draft["revision"] + 1}


def remove_planned(index: int) -> None:
    st.session_state.pop("jdplan_edit_error", None)
    change_draft(plan_preview.remove_meeting(st.session_state["jdplan_draft"]["meetings"], index))


def move_planned(index: int, key: str) -> None:
    st.session_state.pop("jdplan_edit_error", None)
    draft = st.session_state["jdplan_draft"]
    try:
        change_draft(
            plan_preview.move_meeting(draft["event"], draft["meetings"], index, st.session_state[key])
        )
    except PlanInfeasible as refusal:
        st.session_state["jdplan_edit_error"] = problem_list(N_("jdplan.infeasible"), refusal)


st.title(t("page.jobdating_planning"))
st.caption(t("jdplan.caption"))

if job_datings.empty:
    st.info(t("jdplan.no_event"), icon=":material/event_busy:")
    st.stop()

codes = list(job_datings.index)
chooser, limit = st.columns([3, 1])
event_code = chooser.selectbox(
    t("jdplan.event"),
    options=codes,
    index=codes.index(selection.event) if selection.event in codes else 0,
    format_func=lambda code: (
        f"{job_datings.loc[code, 'name']} · {format_date(job_datings.loc[code, 'starts_on'], language)}"
        f" → {format_date(job_datings.loc[code, 'ends_on'], language)}"
    ),
    key="jdplan_event",
    on_change=forget_draft,
)
max_per_candidate = int(
    limit.number_input(
        t("jdplan.max_per_candidate"),
        min_value=1,
        max_value=20,
        value=meeting_builder.DEFAULT_MAX_PER_CANDIDATE,
        step=1,
        key="jdplan_max",
        help=t("jdplan.max_per_candidate.help"),
    )
)
seen = st.session_state.setdefault("audited_views", set())

# -- consent to be presented (it decides who is suggested)
with st.expander(t("jdplan.consent"), icon=":material/how_to_reg:"):
    st.caption(t("jdplan.consent.help"))
    people = cached.presentation_consents(event_code, version).set_index("candidate_ref")
    if people.empty:
        st.info(t("jdplan.consent.empty"))
    else:
        # A network has 200,000 seeking candidates: a search, and a short list of those found.
        search = st.text_input(
            t("jdplan.consent.search"),
            placeholder=t("jdplan.consent.search.placeholder"),
            key="jdplan_consent_search",
        )
        found = plan_preview.matching(people, search)
        listed = found[: plan_preview.CANDIDATES_LISTED]
        if len(found) > len(listed):
            st.caption(t("jdplan.consent.search.more", shown=n(len(listed)), total=n(len(found))))
        already_picked = st.session_state.get("jdplan_consent_many", [])
        # Labels of those listed only (and of those already picked for the selection).
        labelled_refs = list(dict.fromkeys([*listed, *already_picked]))
        named = {
            ref: f"{people.at[ref, 'candidate']} ({ref})" for ref in labelled_refs if ref in people.index
        }
        may = {True: t("jdplan.consent.eligible"), False: t(N_("jdplan.consent.not_eligible"))}
        person = None
        if not listed:
            st.info(t("jdplan.consent.search.none"))
        else:
            person = st.selectbox(
                t("jdplan.candidate"),
                options=listed,
                format_func=lambda ref: f"{named[ref]} · {may[bool(people.at[ref, 'eligible'])]}",
                key="jdplan_consent_candidate",
            )
        cancelled = st.session_state.pop("jdplan_consent_saved", None)
        if cancelled is not None:
            saved = (
                t("jdplan.consent.saved.cancelled", cancelled=cancelled)
                if cancelled
                else t("jdplan.consent.saved")
            )
            st.success(saved, icon=":material/check_circle:")
        if person is not None:
            with st.form("jdplan_consent_form"):
                own = st.checkbox(
                    t("jdplan.consent.own"),
                    value=bool(people.loc[person, "presentation_consent"]),
                    key=f"jdplan_consent_own_{person}",
                )
                parent = st.checkbox(
                    t("jdplan.consent.parent"),
                    value=bool(people.loc[person, "parent_consent"]),
                    key=f"jdplan_consent_parent_{person}",
                )
                if st.form_submit_button(t("jdplan.consent.save")):
                    cancelled = consent.set_presentation_consent(
                        ref=person, consent=own, parent_consent=parent, actor=account.email
                    )
                    st.session_state["jdplan_consent_saved"] = len(cancelled)
                    st.rerun()
        st.markdown("**" + t("jdplan.consent.many") + "**", help=t("jdplan.consent.many.help"))
        if done := st.session_state.pop("jdplan_consent_many_saved", None):
            st.success(t("jdplan.consent.many.saved", count=n(done[0]), cancelled=n(done[1])))
        choices = {"unchanged": None, "yes": True, "no": False}
        with st.form("jdplan_consent_many_form"):
            chosen = st.multiselect(
                t("jdplan.consent.many.who"),
                options=list(named),
                format_func=named.get,
                placeholder=t("jdplan.consent.many.placeholder"),
                key="jdplan_consent_many",
            )
            own_column, parent_column, day_column = st.columns(3)
            own_choice = own_column.selectbox(
                t("jdplan.consent.many.own"),
                options=list(choices),
                format_func=lambda choice: t(f"jdplan.consent.many.{choice}"),
                key="jdplan_consent_many_own",
            )
            parent_choice = parent_column.selectbox(
                t("jdplan.consent.many.parent"),
                options=list(choices),
                format_func=lambda choice: t(f"jdplan.consent.many.{choice}"),
                key="jdplan_consent_many_parent",
            )
            recorded_on = day_column.date_input(
                t("jdplan.consent.many.on"), format=DATE_INPUT_FORMATS[language], key="jdplan_consent_many_on"
            )
            source = st.text_input(
                t("jdplan.consent.many.source"),
                placeholder=t("jdplan.consent.many.source.placeholder"),
                key="jdplan_consent_many_source",
            )
            if st.form_submit_button(t("jdplan.consent.many.save")):
                if not chosen:
                    st.error(t("jdplan.consent.many.none"))
                elif not source.strip():
                    st.error(t("jdplan.consent.many.no_source"))
                else:
                    cancelled = consent.record_consents(
                        refs=chosen,
                        consent=choices[own_choice],
                        parent_consent=choices[parent_choice],
                        recorded_on=recorded_on,
                        source=source,
                        actor=account.email,
                    )
                    st.session_state["jdplan_consent_many_saved"] = (len(chosen), len(cancelled))
                    st.rerun()

# -- suggested pairs and the schedule built from the chosen ones
st.subheader(t("jdplan.pairs"), help=t("jdplan.pairs.help"))
offering = cached.offering_companies(event_code, version)
company_column, page_column = st.columns([3, 1])
pairs_of = company_column.selectbox(
    t("jdplan.pairs.company"),
    options=[None, *offering],
    format_func=lambda choice: (
        t("jdplan.pairs.all_companies") if choice is None else f"{offering[choice]} · {choice}"
    ),
    placeholder=t("jdplan.pairs.all_companies"),  # what clearing the box comes back to
    key="jdplan_pairs_company",
    help=t("jdplan.pairs.company.help"),
)
page_key = f"jdplan_pairs_page_{pairs_of or 'all'}"
page = int(st.session_state.get(page_key, 1))
pairs, total = cached.suggested_pairs_shown(event_code, page, pairs_of, version, language)
pages = plan_preview.page_count(total, pairs_of)
if page > pages:  # the list got shorter since
    st.session_state[page_key] = page = pages
    pairs, total = cached.suggested_pairs_shown(event_code, page, pairs_of, version, language)
page_column.number_input(t("jdplan.pairs.page", pages=n(pages)), min_value=1, max_value=pages, key=page_key)
if pairs.empty:
    st.info(t("jdplan.pairs.empty"), icon=":material/group_off:")
else:
    audit.record_view(account.email, "jobdating_planning", f"{event_code} paires", seen=seen)
    first = (page - 1) * plan_preview.PAGE_SIZE + 1
    st.caption(
        t("jdplan.pairs.caption", first=n(first), last=n(first + len(pairs) - 1), total=n(total))
        + (
            ""
            if pairs_of is not None or pages * plan_preview.PAGE_SIZE >= total
            else " " + t("jdplan.pairs.more")
        )
    )
    picked = show_table(
        labelled(pairs.drop(columns=["siret"])),
        language,
        height=320,
        column_config={
            t("jdplan.col.reasons"): st.column_config.TextColumn(width="large"),
        },
        on_select="rerun",
        selection_mode="multi-row",
        key=f"jdplan_pairs_{pairs_of or 'all'}_{page}",  # a selection belongs to its page
    )
    rows = list(picked.selection.rows)
    if st.button(
        tn("jdplan.build", len(rows)),
        type="primary",
        disabled=not rows,
        key="jdplan_build",
        icon=":material/auto_schedule:",
    ):
        forget_draft()
        try:
            built = plan_preview.build_plan(
                event_code, plan_preview.chosen_pairs(pairs, rows), max_per_candidate=max_per_candidate
            )
            st.session_state["jdplan_draft"] = {
                "event": event_code,
                "max": max_per_candidate,
                "meetings": built,
                "revision": 0,
            }
        except PlanInfeasible as refusal:
            st.session_state["jdplan_refusal"] = problem_list(N_("jdplan.infeasible"), refusal)

if refusal_text := st.session_state.get("jdplan_refusal"):
    st.error(refusal_text, icon=":material/event_busy:")
if saved_count := st.session_state.pop("jdplan_saved", None):
    st.success(tn("jdplan.saved", saved_count), icon=":material/check_circle:")

draft = st.session_state.get("jdplan_draft")
if draft and draft["event"] == event_code:
    planned = draft["meetings"]
    st.subheader(t("jdplan.preview"))
    if not planned:
        st.info(t("jdplan.preview.empty"))
    else:
        st.caption(tn("jdplan.preview.caption", len(planned)))
        preview = plan_preview.preview_frame(planned)
        names = {"booked": t("jdplan.planned")}
        by_company, by_candidate = st.tabs([t("jdplan.by_company"), t("jdplan.by_candidate")])
        for tab, by in ((by_company, "company"), (by_candidate, "candidate")):
            figure = charts.timeline_figure(
                plan_preview.timeline_rows(preview, by), names, set(), language=language
            )
            # Back-to-back meetings of a row stay apart.
            figure.update_traces(marker_line={"color": "white", "width": 2})
            tab.plotly_chart(figure, width="stretch", key=f"jdplan_timeline_{by}")
        show_table(labelled(preview.drop(columns=["siret"])), language, SENT_TIMES)
        revision = draft["revision"]
        which, where, move, remove = st.columns([3, 2, 1, 1.4], vertical_alignment="bottom")
        index = which.selectbox(
            t("jdplan.edit"),
            options=range(len(planned)),
            format_func=lambda at: (
                f"{when(planned[at].starts_at)} · {preview.loc[at, 'company']}"
                f" · {preview.loc[at, 'candidate']}"
            ),
            key=f"jdplan_edit_{revision}",
        )
        options = [start for start, _ in plan_preview.move_options(event_code, planned, index)]
        move_key = f"jdplan_move_to_{revision}_{index}"
        where.selectbox(
            t("jdplan.move_to"),
            options=options,
            format_func=when,
            key=move_key,
            placeholder=t("jdplan.move_to.none"),
            disabled=not options,
        )
        move.button(
            t("jdplan.move"),
            on_click=move_planned,
            args=(index, move_key),
            disabled=not options,
            key="jdplan_move",
            width="stretch",
        )
        remove.button(
            t("jdplan.remove"),
            on_click=remove_planned,
            args=(index,),
            key="jdplan_remove",
            icon=":material/delete:",
            width="stretch",
        )
        if edit_error := st.session_state.get("jdplan_edit_error"):
            st.error(edit_error)
    save, discard, _ = st.columns([1.4, 1.2, 3])
    if save.button(
        tn("jdplan.save", len(planned)),
        type="primary",
        disabled=not planned,
        key="jdplan_save",
        icon=":material/save:",
    ):
        try:
            refs = meeting_plan.save_plan(
                event_code, planned, actor=account.email, max_per_candidate=draft["max"]
            )
        except PlanInfeasible as refusal:
            st.error(problem_list(N_("jdplan.save_refused"), refusal), icon=":material/block:")
        else:
            forget_draft()
            st.session_state["jdplan_saved"] = len(refs)
            st.rerun()
    discard.button(t("jdplan.discard"), on_click=forget_draft, key="jdplan_discard")

# -- saved meetings: outcome and history
st.subheader(t("jdplan.meetings"))
saved = cached.event_meetings(event_code, version)
if saved.empty:
    st.info(t("jdplan.meetings.empty"), icon=":material/event_note:")
    st.stop()
audit.record_view(account.email, "jobdating_planning", f"{event_code} rencontres", seen=seen)
# The versions the advisor was shown: a save is checked against them (someone else's change
# in between is a conflict, not overwritten).
seen_versions = st.session_state.get("jdplan_seen_versions", {})
st.session_state["jdplan_seen_versions"] = dict(zip(saved["ref"], saved["version"], strict=True))
status_names = {status: t(f"jdplan.status.{status}") for status in MEETING_STATUSES}
outcome_names = {outcome: t(f"jdplan.outcome.{outcome}") for outcome in MEETING_OUTCOMES}
listed = plan_preview.meeting_list(saved, status_names, outcome_names)
show_table(
    labelled(listed),
    language,
    SENT_TIMES,
    height=360,
    column_config={
        t("jdplan.col.meeting_url"): st.column_config.LinkColumn(display_text="https://.*/(.*)"),
    },
)
by_ref = saved.set_index("ref")
meeting_labels = {  # built in one pass: a network's job dating has thousands of meetings
    code: f"{when(start)} · {company} · {plan_preview.full_name(first, last)} · {status_names[status]}"
    for code, start, company, first, last, status in zip(
        by_ref.index,
        by_ref["starts_at"],
        by_ref["company"],
        by_ref["first_name"],
        by_ref["last_name"],
        by_ref["status"],
        strict=True,
    )
}
ref = st.selectbox(
    t("jdplan.meeting"), options=list(by_ref.index), format_func=meeting_labels.get, key="jdplan_meeting"
)
current = by_ref.loc[ref]
read_version = int(seen_versions.get(ref, current["version"]))
if st.session_state.pop("jdplan_recorded", False):
    st.success(t("jdplan.recorded"), icon=":material/check_circle:")
record, history = st.columns(2)
with record.form("jdplan_outcome_form"):
    status = st.selectbox(
        t("jdplan.status"),
        options=list(MEETING_STATUSES),
        index=list(MEETING_STATUSES).index(current["status"]),
        format_func=status_names.get,
        key=f"jdplan_status_{ref}",
    )
    outcome = st.selectbox(
        t("jdplan.outcome"),
        options=list(MEETING_OUTCOMES),
        index=list(MEETING_OUTCOMES).index(current["outcome"]),
        format_func=outcome_names.get,
        key=f"jdplan_outcome_{ref}",
    )
    signed_on = st.date_input(
        t("jdplan.contract_signed_on"),
        value=plan_preview.contract_date(current["contract_signed_on"]),
        format=DATE_INPUT_FORMATS[language],
        key=f"jdplan_signed_{ref}",
    )
    if st.form_submit_button(t("jdplan.record"), type="primary"):
        try:
            record_meeting_outcome(
                ref,
                outcome=MeetingOutcome(status, outcome, signed_on),
                author=account.email,
                read_version=read_version,
            )
        except ChangeRefused as error:
            st.error(escape_markdown(error), icon=":material/block:")
        else:
            st.session_state["jdplan_recorded"] = True
            st.rerun()
with history:
    st.markdown("**" + t("jdplan.history") + "**")
    changes = cached.meeting_history(ref, version)
    if changes.empty:
        st.caption(t("jdplan.history.empty"))
    else:
        show_table(labelled(changes), language)

# -- schedules to send
st.subheader(t("jdplan.exports"), help=t("jdplan.exports.help"))


def export_buttons(schedule, name: str, calendar: str) -> None:
    table = labelled(plan_preview.sent_schedule(schedule))
    third, _ = table_downloads(table, name, key="jdplan", widths=(1, 1, 1, 3))
    export_button(
        third,
        "Agenda .ics",
        partial(meetings_ics, schedule, calendar, language=language),
        f"{name}.ics",
        "text/calendar",
        target=name,
        key=f"jdplan_{name}_ics",
        icon=":material/event:",
    )


company_tab, candidate_tab = st.tabs([t("jdplan.company"), t("jdplan.candidate")])
with company_tab:
    companies = plan_preview.companies_met(saved)
    siret = st.selectbox(
        t("jdplan.company"),
        options=list(companies),
        format_func=lambda choice: f"{companies[choice]} · {choice}",  # two companies may share a name
        key="jdplan_export_company",
    )
    schedule = meetings.company_schedule(saved, siret)
    if schedule.empty:
        st.caption(t("jdplan.export.empty"))
    else:
        show_table(labelled(plan_preview.sent_schedule(schedule)), language, SENT_TIMES)
        export_buttons(schedule, f"job_dating_entreprise_{siret}", f"Job dating · {companies[siret]}")
with candidate_tab:
    candidates = plan_preview.candidates_met(saved)
    candidate_ref = st.selectbox(
        t("jdplan.candidate"),
        options=list(candidates),
        format_func=candidates.get,
        key="jdplan_export_candidate",
    )
    schedule = meetings.candidate_schedule(saved, candidate_ref)
    if schedule.empty:
        st.caption(t("jdplan.export.empty"))
    else:
        show_table(labelled(plan_preview.sent_schedule(schedule)), language, SENT_TIMES)
        export_buttons(schedule, f"job_dating_candidat_{candidate_ref}", "Job dating")

# -- schedules sent by e-mail
st.subheader(t("jdplan.mail"), help=t("jdplan.mail.help"))
setup_problem = mail.setup_problem()
if setup_problem == "SMTP_URL":
    st.warning(t("jdplan.mail.not_configured"), icon=":material/unsubscribe:")
elif setup_problem:
    st.error(escape_markdown(setup_problem), icon=":material/error:")
if report := st.session_state.pop("jdplan_mail_report", None):
    st.success(t("jdplan.mail.sent", sent=n(report["sent"]), failed=n(len(report["failed"]))))
    if report["failed"]:
        st.warning(
            t("jdplan.mail.failed") + "".join(f"\n- {escape_markdown(line)}" for line in report["failed"])
        )


def recipient(message: invitations.Outgoing) -> str:
    # A candidate's or a parent's address only for who reads every contact (docs/access.md).
    return roles.recipient_for(viewer, message.role, message.recipient)


# Building every schedule and invitation takes seconds in a network: only when asked for.
if st.toggle(t("jdplan.mail.prepare"), key="jdplan_mail_prepare", help=t("jdplan.mail.prepare.help")):
    mailing = invitations.schedules_to_send(event_code, sender=mail.sender_address())
    if unreachable := mailing.without_address:
        who = escape_markdown(", ".join(unreachable[:10]))
        if len(unreachable) > 10:
            who += " " + t("jdplan.mail.without_address.more", count=n(len(unreachable) - 10))
        st.caption(t("jdplan.mail.without_address", who=who))
    if mailing.withheld:
        withheld = escape_markdown(", ".join(mailing.withheld))
        st.warning(t("jdplan.mail.withheld", meetings=withheld), icon=":material/lock:")
    if not mailing.messages:
        st.info(t("jdplan.mail.nothing"), icon=":material/mark_email_read:")
    else:
        audit.record_view(account.email, "jobdating_planning", f"{event_code} e-mails", seen=seen)
        st.caption(t("jdplan.mail.count", count=n(len(mailing.messages))))
        shown = st.selectbox(
            t("jdplan.mail.preview"),
            options=range(len(mailing.messages)),
            format_func=lambda at: (
                t(f"jdplan.mail.kind.{mailing.messages[at].kind}") + f" · {mailing.messages[at].party}"
                f" · {recipient(mailing.messages[at])}"
            ),
            key="jdplan_mail_preview",
        )
        message = mailing.messages[shown]
        attachments = ", ".join(name for name, _, _ in message.invitations) or "—"
        headers = (
            (t("jdplan.mail.to"), recipient(message)),
            (t("jdplan.mail.subject"), message.subject),
            (t("jdplan.mail.attachments"), attachments),
        )
        st.markdown("  \n".join(f"**{label}** : {escape_markdown(value)}" for label, value in headers))
        st.code(message.body, language=None, wrap_lines=True)
        if st.button(
            t("jdplan.mail.send", count=n(len(mailing.messages))),
            type="primary",
            disabled=setup_problem is not None,
            key="jdplan_mail_send",
            icon=":material/send:",
        ):
            try:
                sent = invitations.deliver(mailing, actor=account.email)
            except mail.MailError as error:
                st.error(escape_markdown(error), icon=":material/error:")
            else:
                st.session_state["jdplan_mail_report"] = {
                    "sent": len(sent.sent),
                    "failed": [
                        f"{m.party} <{recipient(m)}> : {roles.contacts_hidden(viewer, reason)}"
                        for m, reason in sent.failed
                    ],
                }
                st.rerun()
