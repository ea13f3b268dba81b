"""Data (admin): import contract files, the import history, exports of every table, staff accounts."""

from datetime import UTC, datetime
from functools import partial

import pandas as pd
import streamlit as st

from pages.common.downloads import CSV, EXCEL, export_button
from pages.common.gate import open_for
from pages.common.tables import show_table
from services.access import accounts
from services.app import cached
from services.app.markdown import escape_markdown
from services.config import LOCAL_TZ, integration_setting
from services.documents import exports
from services.i18n import DATE_INPUT_FORMATS, format_datetime, format_number, translate, translate_plural
from services.imports import uploads
from services.integrations import api, calcom, calcom_event_types, whereby_attendance, whereby_rooms
from services.store.contract import SHOWN_PROBLEMS
from services.store.models import ROLES

account, _ = open_for("data")
language = st.session_state.get("language", "fr")
version = cached.data_version()


def t(key: str, **values: object) -> str:
    return translate(key, language, **values)


def tn(key: str, count: int, **values: object) -> str:
    return translate_plural(key, count, language, **values)


def report_table(results: list[uploads.ImportResult]) -> pd.DataFrame:
    """The per-file table of a check or an import, with the page's labels."""
    frame = uploads.report_frame(results)
    return frame.assign(
        kind=frame["kind"].replace("", "—"),
        accepted=frame["accepted"].map({True: t("data.verdict.accepted"), False: t("data.verdict.refused")}),
    ).rename(columns=lambda c: t(f"data.col.{c}"))


def show_problems(result: uploads.ImportResult) -> None:
    """A refused file's problems, one ``fichier:ligne: colonne: valeur: raison`` line each."""
    show_lines(result.describe_problems(SHOWN_PROBLEMS), len(result.problems))


#: Problem lines shown whole; more scroll in a box of 320 pixels.
WHOLE_LINES = 10


def show_lines(lines: list[str], total: int, scroll: bool = True) -> None:
    """Problem lines as code (never Markdown: they quote the file), the first ones of ``total``;
    ``scroll``: over ``WHOLE_LINES`` lines, in a box of 320 pixels. A box as high as its
    content below that: a long line wraps, and a box sized by the count of lines hid its end."""
    if total > len(lines):
        lines = [*lines, tn("data.problems.more", total - len(lines))]
    height = 320 if scroll and len(lines) > WHOLE_LINES else "content"
    st.code("\n".join(lines), language=None, height=height, wrap_lines=True)


def md(text: object) -> str:
    """A name or a message that comes from a file (a zip member, a header cell), as plain Markdown."""
    return escape_markdown(text)


def paris_time(at: datetime | None) -> datetime | None:
    """An instant of the store (UTC, naive as SQLite gives it back) in the centre's time, None
    when missing: to be written in the reader's language."""
    if at is None or pd.isna(at):
        return None
    moment = pd.Timestamp(at)
    return (moment.tz_localize(UTC) if moment.tzinfo is None else moment).tz_convert(LOCAL_TZ).to_pydatetime()


def on_import(sent: list[tuple[str, bytes]]) -> None:
    st.session_state["data_import_results"] = uploads.import_upload(sent, imported_by=account.email)
    # A new uploader: the imported files leave it, so they are not imported twice by mistake.
    st.session_state["data_upload_round"] = st.session_state.get("data_upload_round", 0) + 1


st.title(t("page.data"))
st.caption(t("data.caption"))
import_tab, history_tab, export_tab, users_tab, sync_tab = st.tabs(
    [
        t("data.tab.import"),
        t("data.tab.history"),
        t("data.tab.export"),
        t("data.tab.users"),
        t("data.tab.sync"),
    ]
)

# ---------------------------------------------------------------- import
with import_tab:
    if cached.prepared_store():
        st.warning(t("data.import.demo_store"), icon=":material/science:")
    upload_round = st.session_state.get("data_upload_round", 0)
    files = st.file_uploader(
        t("data.upload"),
        type=list(uploads.UPLOAD_TYPES),
        accept_multiple_files=True,
        key=f"data_upload_{upload_round}",
        help=t("data.upload.help"),
    )
    done = st.session_state.get("data_import_results")
    if done is not None and not files:
        st.subheader(t("data.import.title"))
        for result in done:
            if result.accepted:
                st.success(
                    t(
                        "data.import.accepted",
                        source=md(result.source),
                        inserted=result.inserted,
                        updated=result.updated,
                        unchanged=result.unchanged,
                    ),
                    icon=":material/check_circle:",
                )
            else:
                st.error(
                    tn("data.import.refused", len(result.problems), source=md(result.source)),
                    icon=":material/block:",
                )
                show_problems(result)
        st.caption(t("data.import.see_history"))
    if not files:
        st.info(t("data.upload.empty"), icon=":material/upload_file:")
    else:
        st.session_state.pop("data_import_results", None)
        sent = [(file.name, file.getvalue()) for file in files]
        # Checked once per upload and state of the store, not at every rerun of the page.
        check_key = (uploads.upload_digest(sent), version)
        if st.session_state.get("data_check", (None,))[0] != check_key:
            with st.spinner(t("data.check.running")):
                st.session_state["data_check"] = (check_key, uploads.check_upload(sent))
        report = st.session_state["data_check"][1]

        st.subheader(t("data.check"), help=t("data.check.help"))
        st.dataframe(report_table(report), hide_index=True, width="stretch")
        if not all(result.accepted for result in report):
            st.caption(t("data.check.format"))
        for result in report:
            if not result.accepted:
                st.error(
                    tn("data.check.refused", len(result.problems), source=md(result.source)),
                    icon=":material/block:",
                )
                show_problems(result)
            for warning in result.warnings:
                st.warning(t("data.check.warning", source=md(result.source), warning=md(warning)))
        accepted = sum(result.accepted for result in report)
        if accepted == 0:
            st.info(t("data.import.none"), icon=":material/info:")
        elif accepted < len(report):
            st.warning(t("data.import.partial", accepted=accepted, total=len(report)))
        st.button(
            tn("data.import", accepted),
            type="primary",
            icon=":material/upload:",
            disabled=accepted == 0,
            on_click=on_import,
            args=(sent,),
            key="data_import",
            help=t("data.import.help"),
        )

# ---------------------------------------------------------------- history
with history_tab:
    history = uploads.import_history()
    if history.empty:
        st.info(t("data.history.empty"), icon=":material/history:")
    else:
        st.caption(t("data.history.help"))
        shown = history.drop(columns="reasons").assign(
            imported_by=history["imported_by"].fillna("—"),
            accepted=history["accepted"].map(
                {True: t("data.verdict.accepted"), False: t("data.verdict.refused")}
            ),
        )
        show_table(
            shown.rename(columns=lambda c: t(f"data.col.{c}")),
            language,
            {t("data.col.at"): "datetime"},
            column_config={
                t("data.col.imported_by"): st.column_config.TextColumn(width="medium"),
                t("data.col.source"): st.column_config.TextColumn(width="medium"),
            },
        )
        refused = history[~history["accepted"]]
        if not refused.empty:
            st.subheader(t("data.history.refusals"), help=t("data.history.masked"))
            for row in refused.itertuples():
                with st.expander(
                    t(
                        "data.history.refusal",
                        at=format_datetime(row.at, language),
                        source=md(row.source),
                        count=row.problems,
                    )
                ):
                    show_lines(row.reasons, row.problems, scroll=False)

# ---------------------------------------------------------------- exports
with export_tab:
    st.caption(t("data.export.help"))
    table = st.selectbox(
        t("data.export.table"),
        options=list(exports.TABLES),
        format_func=lambda name: f"{t(f'data.table.{name}')} ({name})",
        key="data_export_table",
    )
    st.caption(
        t(
            "data.export.size",
            rows=format_number(exports.table_size(table), language),
            columns=", ".join(exports.table_columns(table)),
        )
    )
    buttons = st.container(horizontal=True)
    for fmt, label, writer, mime in (
        ("csv", "CSV", partial(exports.to_csv, language=language), CSV),
        ("xlsx", "Excel", partial(exports.to_excel, sheet=table), EXCEL),
    ):
        export_button(
            buttons,
            label,
            partial(lambda write, name: write(exports.table_frame(name)), writer, table),
            f"{table}.{fmt}",
            mime,
            target=table,
            key=f"data_export_{fmt}",
        )

# ---------------------------------------------------------------- users and roles
with users_tab:
    st.caption(t("data.users.help"))
    staff = accounts.list_accounts()
    advisors = cached.advisors_of((), version)
    advisor_names = dict(zip(advisors["email"], advisors["name"], strict=True))
    role_names = {role: t(f"role.{role}") for role in ROLES}

    def advisor_label(email: str | None) -> str:
        return (
            t("data.users.advisor.none") if email is None else f"{advisor_names.get(email, email)} ({email})"
        )

    def say(slot: str, kind: str, text: str) -> None:
        st.session_state[slot] = (kind, text)

    def on_add() -> None:
        state = st.session_state
        email, role = state["data_add_email"].strip(), state["data_add_role"]
        advisor = state["data_add_advisor"] if role == "advisor" else None
        password, again = state["data_add_password"], state["data_add_again"]
        # A typed password is never kept in the session, whatever happens.
        state["data_add_password"] = state["data_add_again"] = ""
        if not email:
            return say("data_add_message", "error", t("data.users.email_needed"))
        if role == "advisor" and advisor is None:
            return say("data_add_message", "error", t("data.users.advisor_needed"))
        if password != again:
            return say("data_add_message", "error", t("data.users.mismatch"))
        try:
            accounts.add_account(
                email=email, role=role, password=password, actor=account.email, advisor_email=advisor
            )
        except accounts.AccountError as error:
            return say("data_add_message", "error", str(error))
        state["data_add_email"], state["data_add_advisor"] = "", None
        say("data_add_message", "success", t("data.users.added", email=email.lower(), role=role_names[role]))

    def on_set_role(email: str) -> None:
        state = st.session_state
        role = state[f"data_role_{email}"]
        advisor = state[f"data_role_advisor_{email}"] if role == "advisor" else None
        if role == "advisor" and advisor is None:
            return say("data_change_message", "error", t("data.users.advisor_needed"))
        try:
            accounts.set_role(email=email, role=role, actor=account.email, advisor_email=advisor)
        except accounts.AccountError as error:
            return say("data_change_message", "error", str(error))
        say("data_change_message", "success", t("data.users.role_set", email=email, role=role_names[role]))

    def on_set_password(email: str) -> None:
        state = st.session_state
        password, again = state["data_new_password"], state["data_new_again"]
        state["data_new_password"] = state["data_new_again"] = ""
        if password != again:
            return say("data_change_message", "error", t("data.users.mismatch"))
        try:
            accounts.set_password(email=email, password=password, actor=account.email)
        except accounts.AccountError as error:
            return say("data_change_message", "error", str(error))
        say("data_change_message", "success", t("data.users.password_set", email=email))

    def on_disable(email: str) -> None:
        if not st.session_state["data_disable_confirm"]:
            return say("data_change_message", "error", t("data.users.confirm_needed"))
        st.session_state["data_disable_confirm"] = False
        try:
            accounts.disable_account(email=email, actor=account.email)
        except accounts.AccountError as error:
            return say("data_change_message", "error", str(error))
        say("data_change_message", "success", t("data.users.disabled", email=email))

    def on_enable(email: str) -> None:
        accounts.enable_account(email=email, actor=account.email)
        say("data_change_message", "success", t("data.users.enabled", email=email))

    def show_message(slot: str) -> None:
        message = st.session_state.pop(slot, None)
        if message is not None:
            kind, text = message
            (st.success if kind == "success" else st.error)(text)

    st.subheader(t("data.users.list"))
    if staff.empty:
        st.info(t("data.users.empty"))
    else:
        show_table(
            staff.assign(
                role=staff["role"].map(role_names),
                advisor_email=staff["advisor_email"].map(
                    lambda e: advisor_label(e) if isinstance(e, str) else ""
                ),
                disabled=staff["disabled"].map(
                    {True: t("data.users.state.disabled"), False: t("data.users.state.active")}
                ),
                locked_until=staff["locked_until"].map(paris_time),
                created_at=staff["created_at"].map(lambda at: at and paris_time(at).date()),
            ).rename(columns=lambda c: t(f"data.col.{c}")),
            language,
            {t("data.col.locked_until"): "datetime", t("data.col.created_at"): "date"},
        )

    st.subheader(t("data.users.add"))
    with st.form("data_add_form"):
        left, right = st.columns(2)
        left.text_input(t("data.users.email"), key="data_add_email", placeholder="prenom.nom@…")
        right.selectbox(
            t("data.users.role"), options=list(ROLES), format_func=role_names.get, key="data_add_role"
        )
        st.selectbox(
            t("data.users.advisor"),
            options=[None, *advisor_names],
            format_func=advisor_label,
            placeholder=t("data.users.advisor.none"),
            key="data_add_advisor",
            help=t("data.users.advisor.help"),
        )
        left, right = st.columns(2)
        left.text_input(
            t("data.users.password"),
            type="password",
            key="data_add_password",
            help=t("data.users.password.help"),
        )
        right.text_input(t("data.users.password_again"), type="password", key="data_add_again")
        st.form_submit_button(t("data.users.add.submit"), type="primary", on_click=on_add)
    show_message("data_add_message")

    if not staff.empty:
        st.subheader(t("data.users.change"))
        states = dict(zip(staff["email"], staff["disabled"], strict=True))
        roles = dict(zip(staff["email"], staff["role"], strict=True))
        linked = dict(zip(staff["email"], staff["advisor_email"], strict=True))
        chosen = st.selectbox(
            t("data.users.account"),
            options=list(staff["email"]),
            format_func=lambda email: (
                f"{email} · {role_names.get(roles[email], roles[email])}"
                + (" · " + t("data.users.state.disabled") if states[email] else "")
            ),
            key="data_user",
        )
        show_message("data_change_message")
        yourself = chosen == account.email
        if yourself:
            st.info(t("data.users.self"), icon=":material/person:")
        role_column, password_column, disable_column = st.columns(3)
        with role_column.form("data_role_form"):
            st.markdown("**" + t("data.users.set_role") + "**")
            st.selectbox(
                t("data.users.role"),
                options=list(ROLES),
                index=list(ROLES).index(roles[chosen]) if roles[chosen] in ROLES else 0,
                format_func=role_names.get,
                key=f"data_role_{chosen}",
                disabled=yourself,
            )
            st.selectbox(
                t("data.users.advisor"),
                options=[None, *advisor_names],
                index=[None, *advisor_names].index(linked[chosen]) if linked[chosen] in advisor_names else 0,
                format_func=advisor_label,
                placeholder=t("data.users.advisor.none"),
                key=f"data_role_advisor_{chosen}",
                help=t("data.users.advisor.help"),
                disabled=yourself,
            )
            st.form_submit_button(
                t("data.users.set_role.submit"), on_click=on_set_role, args=(chosen,), disabled=yourself
            )
        with password_column.form("data_password_form"):
            st.markdown("**" + t("data.users.set_password") + "**")
            st.text_input(
                t("data.users.new_password"),
                type="password",
                key="data_new_password",
                help=t("data.users.password.help"),
            )
            st.text_input(t("data.users.password_again"), type="password", key="data_new_again")
            st.form_submit_button(
                t("data.users.set_password.submit"), on_click=on_set_password, args=(chosen,)
            )
        with disable_column.form("data_disable_form"):
            st.markdown("**" + t("data.users.disable") + "**")
            if states[chosen]:
                st.caption(t("data.users.already_disabled"))
            st.checkbox(
                t("data.users.disable.confirm"),
                key="data_disable_confirm",
                disabled=yourself or states[chosen],
            )
            st.form_submit_button(
                t("data.users.disable.submit"),
                on_click=on_disable,
                args=(chosen,),
                disabled=yourself or states[chosen],
            )
            if states[chosen]:
                st.form_submit_button(t("data.users.enable.submit"), on_click=on_enable, args=(chosen,))

# ---------------------------------------------------------------- sync with the booking site and the rooms


def show_summary(report: list[str], problems: list[str], failed: bool) -> None:
    """A sync's summary lines, then its problems (one per line), as the command line prints them."""
    # Each line names references from the files and answers of the outside services: as text.
    (st.error if failed else st.success)("  \n".join(map(md, report)), icon=":material/sync:")
    if problems:
        show_lines(problems, len(problems))


def run_with_progress(sync, label: str, **options: object):
    """Run a sync with a progress bar fed by its ``progress(done, total)`` callback."""
    bar = st.progress(0.0, text=label)

    def progress(done: int, total: int | None) -> None:
        bar.progress(min(1.0, done / total) if total else 0.5, text=f"{label} ({done}/{total or '?'})")

    summary = sync(actor=account.email, progress=progress, **options)
    bar.progress(1.0, text=label)
    return summary


with sync_tab:
    st.subheader(t("data.sync.bookings"), help=t("data.sync.bookings.help"))
    if not integration_setting("CALCOM_API_KEY"):
        st.info(t("data.sync.not_configured", setting="CALCOM_API_KEY"), icon=":material/link_off:")
    else:
        cursor = calcom.stored_cursor()
        st.caption(
            t("data.sync.cursor", at=format_datetime(paris_time(cursor), language))
            if cursor
            else t("data.sync.first")
        )
        with st.form("data_sync_bookings_form"):
            since = st.date_input(
                t("data.sync.since"), value=None, format=DATE_INPUT_FORMATS[language], key="data_sync_since"
            )
            dry_run = st.toggle(
                t("data.sync.dry_run"), key="data_sync_dry_run", help=t("data.sync.dry_run.help")
            )
            if st.form_submit_button(t("data.sync.bookings.run"), type="primary", icon=":material/sync:"):
                start = datetime.combine(since, datetime.min.time(), LOCAL_TZ) if since else None
                summary = run_with_progress(
                    calcom.sync_bookings,
                    t("data.sync.bookings"),
                    since=start,
                    dry_run=dry_run,
                    # Cal.com's rate limit: the pause it asks for, said as it starts.
                    waiting=lambda message: st.caption(escape_markdown(message)),
                )
                show_summary(summary.report_lines(), summary.problem_lines(), summary.error is not None)

    st.subheader(t("data.sync.rooms"), help=t("data.sync.rooms.help"))
    if not integration_setting("WHEREBY_API_KEY"):
        st.info(t("data.sync.not_configured", setting="WHEREBY_API_KEY"), icon=":material/link_off:")
    else:
        with st.form("data_sync_rooms_form"):
            dry_run = st.toggle(
                t("data.sync.dry_run"), key="data_rooms_dry_run", help=t("data.sync.dry_run.help")
            )
            rooms, attendance = st.columns(2)
            chosen = None
            if rooms.form_submit_button(
                t("data.sync.rooms.run"), type="primary", icon=":material/video_call:"
            ):
                chosen = (whereby_rooms.sync_rooms, t("data.sync.rooms"))
            if attendance.form_submit_button(t("data.sync.attendance.run"), icon=":material/how_to_reg:"):
                chosen = (whereby_attendance.sync_attendance, t("data.sync.attendance"))
            if chosen:
                try:
                    summary = run_with_progress(chosen[0], chosen[1], dry_run=dry_run)
                    show_summary(summary.lines(), [], bool(getattr(summary, "failed", [])))
                except api.ApiError as error:
                    st.error(md(error), icon=":material/block:")

    st.subheader(t("data.sync.mappings"), help=t("data.sync.mappings.help"))
    mappings = calcom_event_types.list_event_type_mappings()
    if mappings.empty:
        st.info(t("data.sync.mappings.empty"))
    else:
        st.dataframe(
            mappings.rename(columns=lambda c: t(f"data.sync.col.{c}")), hide_index=True, width="stretch"
        )
    site_names = cached.site_names(version)
    program_names = cached.program_names(version)
    events = cached.event_list(version)
    event_names = dict(zip(events["code"], events["name"], strict=True))
    with st.form("data_mapping_form"):
        first, second, third = st.columns(3)
        event_type = first.number_input(
            t("data.sync.col.event_type_id"), min_value=1, step=1, key="data_map_id"
        )
        site = second.selectbox(
            t("data.sync.col.site_code"),
            options=list(site_names),
            format_func=lambda code: f"{code} · {site_names[code]}",
            key="data_map_site",
        )
        program = third.selectbox(
            t("data.sync.col.program_code"),
            options=[None, *program_names],
            format_func=lambda code: (
                t("data.sync.none") if code is None else f"{code} · {program_names[code]}"
            ),
            key="data_map_program",
        )
        event = first.selectbox(
            t("data.sync.col.event_code"),
            options=[None, *event_names],
            format_func=lambda code: t("data.sync.by_date") if code is None else event_names[code],
            key="data_map_event",
        )
        label = second.text_input(t("data.sync.col.label"), key="data_map_label")
        save, forget = st.columns(2)
        if save.form_submit_button(t("data.sync.mappings.save"), type="primary"):
            try:
                calcom_event_types.save_event_type_mapping(
                    event_type_id=int(event_type),
                    site_code=site,
                    program_code=program,
                    event_code=event,
                    label=label,
                    actor=account.email,
                )
                st.success(t("data.sync.mappings.saved", id=int(event_type)))
            except calcom_event_types.MappingError as error:
                st.error(md(error), icon=":material/block:")
        if forget.form_submit_button(t("data.sync.mappings.delete")):
            if calcom_event_types.delete_event_type_mapping(
                event_type_id=int(event_type), actor=account.email
            ):
                st.success(t("data.sync.mappings.deleted", id=int(event_type)))
            else:
                st.warning(t("data.sync.mappings.unknown", id=int(event_type)))
