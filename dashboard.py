"""Rencontres: the entry point and router (``streamlit run dashboard.py``).

This file lives twice. ``streamlit run dashboard.py`` first imports it (``__name__`` is then
``dashboard``) to find ``app``: Streamlit's ASGI server with the sign-in page and the gate of
``services/app/web.py``, which only Starlette routes and middleware can write cookies from. That
server then runs this file as the script of every page (``__name__ == "__main__"``): who is
signed in, the language, the shared scope filters (kept in the URL), and the navigation of the
pages this person's role may open (a URL to another page does not reach it).

The page scripts live in sub-folders of ``pages/`` (one per audience), never directly in it:
Streamlit 1.67 still runs a ``pages/*.py`` file on its own, without this entry script, when
its URL is opened or rerun; in a sub-folder only ``st.navigation`` below can reach it.
"""

from contextlib import asynccontextmanager

import streamlit as st

from services.access import accounts, roles
from services.app import web
from services.app.markdown import escape_markdown
from services.i18n import DATE_INPUT_FORMATS, N_

#: Each page: its file, its section and icon (the roles that may open it are in services.access.roles).
PAGES = {
    "results": ("pages/directors/results.py", N_("nav.overview"), ":material/insights:"),
    "jobdating": ("pages/directors/jobdating.py", N_("nav.overview"), ":material/handshake:"),
    "schedule": ("pages/advisors/schedule.py", N_("nav.advisors"), ":material/calendar_month:"),
    "jobdating_planning": (
        "pages/advisors/jobdating_planning.py",
        N_("nav.advisors"),
        ":material/event_available:",
    ),
    "channels": ("pages/marketing/channels.py", N_("nav.marketing"), ":material/campaign:"),
    "data": ("pages/admin/data.py", N_("nav.admin"), ":material/database:"),
    "audit": ("pages/admin/audit.py", N_("nav.admin"), ":material/policy:"),
    "privacy": ("pages/admin/privacy.py", N_("nav.admin"), ":material/shield_person:"),
}
#: The pages whose figures follow the sidebar's scope filters (the others do not show them).
SCOPED_PAGES = ("results", "jobdating", "schedule", "channels")


def _signed_in() -> tuple[accounts.SignedIn | None, str | None]:
    """The account of this browser's live sign-in, read from its own cookies at every run (never
    from the session's state, which a client reconnecting to this session could claim), or None
    and, for a single sign-on the store does not let in, the message key that says why."""
    account, problem = web.signed_in(st.context.cookies)
    return account, _SIGN_IN_PROBLEMS[problem] if problem else None


_SIGN_IN_PROBLEMS = {
    "sso_ended": N_("auth.sso_ended"),
    "sso_refused": N_("auth.sso_refused"),
    "sso_no_email": N_("auth.sso_no_email"),
}


def _sign_out() -> None:
    web.sign_out(st.context.cookies)
    st.logout()  # sends the browser to /auth/logout, where the gate deletes the cookie


@asynccontextmanager
async def _prepared(_app: st.App):
    # The store is ready (migrated, demo data seeded if allowed) before the sign-in page shows.
    from starlette.concurrency import run_in_threadpool

    from services.startup import prepare_store

    await run_in_threadpool(prepare_store)
    yield


if __name__ != "__main__":
    from starlette.middleware import Middleware

    from services.logs import redact_personal_data

    redact_personal_data()  # no e-mail nor phone number in the server's logs, whoever logs

    app = st.App(
        __file__,
        lifespan=_prepared,
        routes=web.create_routes(),
        middleware=[Middleware(web.SignInGate)],
    )
else:
    from datetime import date

    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from services.app import cached
    from services.app.filters import Selection, params_of, read_selection
    from services.i18n import LANGUAGES, choose_language, translate
    from services.metrics.results import comparison_event

    st.set_page_config(page_title="Rencontres", page_icon=":material/handshake:", layout="wide")

    # The sidebar's widgets keep their values across pages only when re-assigned at each run.
    for key in (
        "language",
        "filter_event",
        "filter_period",
        "filter_sites",
        "filter_programs",
        "filter_compare",
    ):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]

    holds_demo_data = cached.prepared_store()
    if st.session_state.get("language") not in LANGUAGES:
        # The address's ``lang`` (kept there below), else the language last chosen in this
        # browser, else the browser's; French by default (the sign-in page chooses the same way).
        # Also for a value that is no language: the selector's value as a client sent it, read
        # here before the selector checks it (it would go into the script below).
        st.session_state["language"] = choose_language(
            st.query_params.get("lang"),
            st.context.cookies.get(web.LANGUAGE_COOKIE),
            st.context.headers.get("accept-language"),
        )
    language = st.session_state["language"]
    remembered = st.session_state.setdefault(
        "language_remembered", st.context.cookies.get(web.LANGUAGE_COOKIE)
    )
    if remembered != language:
        # Remembered for the sign-in page (a preference, nothing secret; the browser sets it).
        st.session_state["language_remembered"] = language
        st.html(
            f"<script>document.cookie = '{web.LANGUAGE_COOKIE}={language}; path=/; "
            f"max-age={web.LANGUAGE_MAX_AGE}; SameSite=Lax'</script>",
            unsafe_allow_javascript=True,
        )

    def t(key: str, **values: object) -> str:
        return translate(key, language, **values)

    account, problem = _signed_in()
    if account is None:
        st.title("Rencontres")
        if problem == "auth.sso_ended":
            st.info(t(problem), icon=":material/lock_clock:")
            st.button(t("auth.sso_again"), on_click=st.login, type="primary", key="sso_again")
        elif problem is not None:
            st.error(t(problem, email=escape_markdown(st.user.get("email", ""))), icon=":material/block:")
            st.button(t("auth.sign_out"), on_click=_sign_out, icon=":material/logout:", key="sign_out")
        else:
            st.info(t("auth.needed"), icon=":material/lock:")
            st.link_button(t("auth.sign_in"), web.SIGN_IN_PATH, type="primary")
        st.stop()
    # Only this account may resume this session from another connection (services/app/web.py).
    web.bind_session(get_script_run_ctx().session_id, account.account_id)
    viewer = roles.Viewer.of(account)
    st.session_state["account"], st.session_state["viewer"] = account, viewer

    version = cached.data_version()
    events = cached.event_list(version)
    event_names = dict(zip(events["code"], events["name"], strict=True))
    site_names = cached.site_names(version)
    program_names = cached.program_names(version)

    def _on_event_change() -> None:
        # A new operation brings its own period and comparison.
        event = st.session_state["filter_event"]
        scope = cached.default_scope(event, version)
        st.session_state["filter_period"] = (scope.date_from, scope.date_to)
        st.session_state["filter_compare"] = comparison_event(events, event)

    if "filter_event" not in st.session_state:
        params = {
            name: st.query_params.get_all(name)
            for name in ("event", "from", "to", "site", "program", "compare")
        }
        selection, notices = read_selection(
            params,
            events,
            list(site_names),
            list(program_names),
            default_scope=lambda code: cached.default_scope(code, version),
            default_compare=lambda code: comparison_event(events, code),
            today=date.today(),
        )
        st.session_state.update(
            {
                "filter_event": selection.event,
                "filter_period": (selection.date_from, selection.date_to),
                "filter_sites": list(selection.sites),
                "filter_programs": list(selection.programs),
                "filter_compare": selection.compare,
                "filter_notices": notices,
            }
        )

    sections: dict[str, list[st.Page]] = {}
    scoped: list[st.Page] = []
    for name in roles.pages_for(account.role):
        path, section, icon = PAGES[name]
        page = st.Page(path, title=t(f"page.{name}"), icon=icon, default=name == "results")
        sections.setdefault(t(section), []).append(page)
        if name in SCOPED_PAGES:
            scoped.append(page)
    current = st.navigation(sections)

    with st.sidebar:
        st.caption(t("auth.signed_in_as", email=account.email, role=t(f"role.{account.role}")))
        st.button(t("auth.sign_out"), on_click=_sign_out, icon=":material/logout:", key="sign_out")
        st.selectbox(t("app.language"), options=list(LANGUAGES), format_func=LANGUAGES.get, key="language")
        if any(current is page for page in scoped):
            st.subheader(t("filters.title"))
            st.selectbox(
                t("filters.event"),
                options=list(event_names) or [None],
                key="filter_event",
                format_func=lambda code: event_names.get(code, t("filters.no_event")),
                on_change=_on_event_change,
                placeholder=t("filters.no_event"),
            )
            st.date_input(t("filters.period"), key="filter_period", format=DATE_INPUT_FORMATS[language])
            st.multiselect(
                t("filters.sites"),
                options=list(site_names),
                key="filter_sites",
                format_func=lambda code: site_names.get(code, code),
                placeholder=t("filters.all"),
            )
            st.multiselect(
                t("filters.programs"),
                options=list(program_names),
                key="filter_programs",
                format_func=lambda code: f"{code} · {program_names.get(code, code)}",
                placeholder=t("filters.all"),
            )
            event = st.session_state["filter_event"]
            compare_options = [code for code in event_names if code != event]
            if st.session_state.get("filter_compare") not in compare_options:
                st.session_state["filter_compare"] = None
            st.selectbox(
                t("filters.compare"),
                options=[None, *compare_options],
                key="filter_compare",
                format_func=lambda code: event_names.get(code, t("filters.no_event")),
                placeholder=t("filters.no_event"),
            )

    # The scope lives in the session (and the URL): pages without the filters keep it too.
    period = st.session_state["filter_period"]
    date_from, date_to = period if len(period) == 2 else (period[0], period[0])
    selection = Selection(
        st.session_state["filter_event"],
        date_from,
        date_to,
        tuple(st.session_state["filter_sites"]),
        tuple(st.session_state["filter_programs"]),
        st.session_state["filter_compare"],
    )
    st.session_state["selection"] = selection
    st.query_params.from_dict({**params_of(selection), "lang": language})

    if holds_demo_data:
        st.warning(t("app.demo_notice"), icon=":material/science:")
    for key, value in st.session_state.pop("filter_notices", []):
        st.warning(t(key, value=escape_markdown(value)), icon=":material/link_off:")

    current.run()
