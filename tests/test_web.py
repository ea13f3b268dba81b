"""The HTTP side of signing in: the sign-in page, the signed cookie, the gate, sign-out."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from services.access import accounts
from services.app import web
from services.store import audit
from services.store.models import SignInSession

PASSWORD = "un-mot-de-passe-solide"


async def _page(request):
    return PlainTextResponse("the app")


async def _streamlit_logout(request):
    # What Streamlit's own /auth/logout answers: back to the app's home.
    return RedirectResponse("/", status_code=302)


async def _stream(websocket: WebSocket):
    await websocket.accept()
    await websocket.send_text("connected")
    await websocket.close()


@pytest.fixture
def client(engine) -> TestClient:
    """The sign-in routes and the gate in front of a stand-in for Streamlit's own routes."""
    app = Starlette(
        routes=[
            *web.create_routes(),
            Route("/", _page),
            Route("/schedule", _page),
            Route("/media/{name}", _page),
            Route("/_stcore/upload_file/{session_id}/{file_id}", _page, methods=["PUT", "DELETE"]),
            Route("/static/js/{name}", _page),
            Route("/_stcore/health", _page),
            Route("/_stcore/host-config", _page),
            Route("/auth/logout", _streamlit_logout),
            WebSocketRoute("/_stcore/stream", _stream),
        ],
        middleware=[Middleware(web.SignInGate)],
    )
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


@pytest.fixture
def director(engine) -> str:
    accounts.add_account(email="directrice@cfai.fr", role="director", password=PASSWORD, actor="test")
    return "directrice@cfai.fr"


def sign_in(client: TestClient, email: str, password: str, next_path: str = "/"):
    page = client.get(web.SIGN_IN_PATH, params={"next": next_path})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post(
        f"{web.SIGN_IN_PATH}?next={next_path}", data={"csrf": csrf, "email": email, "password": password}
    )


def test_an_anonymous_visitor_is_sent_to_the_sign_in_page(client):
    response = client.get("/schedule?event=POV-2020-04")
    assert response.status_code == 303
    assert response.headers["location"] == "/connexion?next=/schedule%3Fevent%3DPOV-2020-04"
    # Downloads (exports served under /media/) need a sign-in too, and their address goes
    # nowhere (no sign-in address naming it); assets and health do not.
    media = client.get("/media/abc.csv")
    assert (media.status_code, media.text) == (401, "Connexion requise.")
    # A file the browser asks for by itself is no page either: it must not reach the sign-in page,
    # whose new form token would replace the one of the page being filled in.
    assert client.get("/favicon.ico").status_code == 401
    assert client.get("/static/js/main.js").text == "the app"
    assert client.get("/_stcore/health").text == "the app"


def sent_to_sign_in(socket) -> str:
    """The one message of an app's connection without a live sign-in: Streamlit's order to the
    browser to open an address (as st.login sends), that address returned; then it closes."""
    message = ForwardMsg.FromString(socket.receive_bytes())
    assert message.WhichOneof("type") == "auth_redirect"
    with pytest.raises(WebSocketDisconnect) as closed:
        socket.receive_bytes()
    assert closed.value.code == 4401
    return message.auth_redirect.url


def test_the_app_connection_without_a_sign_in_only_sends_the_browser_to_the_sign_in_page(client):
    # What a tab meets when it reconnects after its sign-in ended (a laptop asleep): before, a
    # refused connection, which Streamlit's page retries forever behind an English error box
    # ("Connection failed with status 401"). Now the browser is told where to sign in again,
    # and the connection carries nothing else: no byte of the app, no session.
    with client.websocket_connect("/_stcore/stream", subprotocols=["streamlit"]) as socket:
        assert socket.accepted_subprotocol == "streamlit"  # what a browser requires
        assert sent_to_sign_in(socket) == web.SIGN_IN_PATH
    # A client offering no subprotocol is not answered with one (a protocol error for it).
    with client.websocket_connect("/_stcore/stream") as socket:
        assert socket.accepted_subprotocol is None
        assert sent_to_sign_in(socket) == web.SIGN_IN_PATH
    # Before that connection, the browser asks for the host settings (the same for everyone).
    assert client.get("/_stcore/host-config").text == "the app"


def test_the_app_connection_drops_what_no_page_needs_and_closes_when_the_sign_in_ends(engine, director):
    from streamlit.proto.BackMsg_pb2 import BackMsg

    received: list[str] = []

    async def stream(websocket: WebSocket):
        # A stand-in for Streamlit's connection: it notes the kind of every message it gets.
        await websocket.accept()
        try:
            while True:
                received.append(BackMsg.FromString(await websocket.receive_bytes()).WhichOneof("type"))
                await websocket.send_text("noted")
        except WebSocketDisconnect:
            received.append("disconnected")

    app = Starlette(
        routes=[*web.create_routes(), WebSocketRoute("/_stcore/stream", stream)],
        middleware=[Middleware(web.SignInGate)],
    )
    client = TestClient(app, base_url="http://testserver", follow_redirects=False)
    sign_in(client, director, PASSWORD)

    def message(**fields) -> bytes:
        back = BackMsg(**fields)
        return back.SerializeToString()

    skills = BackMsg()
    skills.backend_operation_request.install_skills.SetInParent()
    rerun = BackMsg()
    rerun.rerun_script.query_string = ""
    with client.websocket_connect("/_stcore/stream") as socket:
        for refused in (message(clear_cache=True), message(debug_shutdown_runtime=True), skills):
            socket.send_bytes(refused if isinstance(refused, bytes) else refused.SerializeToString())
        socket.send_bytes(rerun.SerializeToString())
        assert socket.receive_text() == "noted"
        assert received == ["rerun_script"]  # the three before it never reached the app
        accounts.end_session(web.unsign(client.cookies[web.COOKIE]))  # signed out in another tab
        socket.send_bytes(rerun.SerializeToString())
        # Closed without a word (the browser connects again, with the cookies it holds then).
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_bytes()
        assert closed.value.code == 4401
    assert received == ["rerun_script", "disconnected"]
    # Connecting again with the ended sign-in's cookie: sent to the sign-in page, which says why.
    with client.websocket_connect("/_stcore/stream") as socket:
        assert sent_to_sign_in(socket) == f"{web.SIGN_IN_PATH}?notice=expired"


def test_a_tab_left_open_does_not_sign_the_browser_out_of_a_new_sign_in(engine, director):
    # Signed out (or idle), then signed in again in another tab: the old tab's next click must
    # not send the browser to the sign-in page on its connection's old cookie, where the page
    # would delete the new sign-in's cookie. Its connection closes without a word; connecting
    # again with the browser's new cookie reaches the app.
    async def stream(websocket: WebSocket):
        # A stand-in for Streamlit's connection, open until the browser or the gate ends it.
        await websocket.accept()
        await websocket.send_text("connected")
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_bytes()

    app = Starlette(
        routes=[*web.create_routes(), Route("/", _page), WebSocketRoute("/_stcore/stream", stream)],
        middleware=[Middleware(web.SignInGate)],
    )
    client = TestClient(app, base_url="http://testserver", follow_redirects=False)
    sign_in(client, director, PASSWORD)
    with client.websocket_connect("/_stcore/stream") as old_tab:
        assert old_tab.receive_text() == "connected"
        accounts.end_session(web.unsign(client.cookies[web.COOKIE]))
        sign_in(client, director, PASSWORD)  # another tab, a new cookie in the browser
        old_tab.send_bytes(b"a click")
        with pytest.raises(WebSocketDisconnect) as closed:
            old_tab.receive_bytes()  # no redirect: a bytes message would be one
        assert closed.value.code == 4401
    with client.websocket_connect("/_stcore/stream") as again:
        assert again.receive_text() == "connected"
    assert client.get("/").text == "the app"


def test_a_file_is_sent_into_a_streamlit_session_only_by_the_account_it_runs_for(client, director):
    # The attack: an upload address names a Streamlit session and a file
    # (/_stcore/upload_file/<session id>/<file id>, so it is in proxy logs), and Streamlit stores
    # whatever is PUT there for any caller with an XSRF pair of its own. A marketing account that
    # read the address of an administrator's import could replace the file being imported (its
    # rows then written to the store under the administrator's name), or DELETE it. Only the
    # account the session runs for may send it files; anyone else gets nothing.
    accounts.add_account(email="marketing@cfai.fr", role="marketing", password=PASSWORD, actor="test")
    sign_in(client, director, PASSWORD)
    owner = web.signed_in(client.cookies)[0]
    web.bind_session("session-of-the-director", owner.account_id)
    upload = "/_stcore/upload_file/session-of-the-director/file-1"
    assert client.put(upload, files={"file": ("sites.csv", b"code;name\n")}).text == "the app"
    assert client.delete(upload).text == "the app"

    sign_in(client, "marketing@cfai.fr", PASSWORD)
    assert web.signed_in(client.cookies)[0].email == "marketing@cfai.fr"
    for answer in (
        client.put(upload, files={"file": ("sites.csv", b'code;name\n=HYPERLINK("x");x\n')}),
        client.delete(upload),
        # A session this server does not know (another instance's, or made up) takes nothing either.
        client.put("/_stcore/upload_file/unknown-session/file-1", files={"file": ("x.csv", b"x")}),
    ):
        assert (answer.status_code, answer.text) == (404, "Connexion requise.")


def test_nothing_served_behind_the_sign_in_is_kept_by_a_cache(client, director):
    # The attack: an export of minors' names, ages, e-mails and phone numbers was served with no
    # Cache-Control, so the browser's disk cache (a shared computer, after sign-out) or a caching
    # proxy in front of the app could keep it and hand it out again without any sign-in. What
    # needs a sign-in is never stored; the front-end's public files stay cacheable.
    sign_in(client, director, PASSWORD)
    web.own_export("0123abcd", web.signed_in(client.cookies)[0].account_id)
    for path in ("/media/0123abcd.csv", "/schedule"):
        answer = client.get(path)
        assert (answer.text, answer.headers["cache-control"]) == ("the app", "no-store"), path
    assert "cache-control" not in client.get("/static/js/main.js").headers


def test_signing_in_sets_a_signed_http_only_strict_cookie_and_opens_the_app(client, director):
    response = sign_in(client, director, PASSWORD, "/schedule")
    assert response.status_code == 303
    assert response.headers["location"] == "/schedule"
    cookie = next(v for v in response.headers.get_list("set-cookie") if v.startswith(web.COOKIE))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    token = web.unsign(client.cookies[web.COOKIE])
    assert accounts.session_account(token).email == director
    # The cookie opens the pages and the app's connection, and survives a reload.
    assert client.get("/schedule").text == "the app"
    assert client.get("/").text == "the app"
    with client.websocket_connect("/_stcore/stream") as socket:
        assert socket.receive_text() == "connected"


def test_a_forged_or_unsigned_cookie_is_refused(client, director):
    sign_in(client, director, PASSWORD)
    token = web.unsign(client.cookies[web.COOKIE])
    client.cookies.set(web.COOKIE, token)  # the token without its signature
    assert client.get("/").status_code == 303
    client.cookies.set(web.COOKIE, f"{token}.{'0' * 64}")  # a wrong signature
    assert client.get("/").status_code == 303
    assert web.unsign(web.sign(token)) == token


def test_a_wrong_password_and_an_unknown_account_get_the_same_answer(client, director):
    wrong = sign_in(client, director, "pas-le-bon-mot-de-passe")
    unknown = sign_in(client, "personne@cfai.fr", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    message = "Adresse e-mail ou mot de passe incorrect, ou compte momentanément bloqué."
    assert message in wrong.text and message in unknown.text
    assert web.COOKIE not in client.cookies


def test_five_failures_lock_the_account_even_for_the_right_password(client, director):
    for _ in range(5):
        assert sign_in(client, director, "pas-le-bon-mot-de-passe").status_code == 401
    assert sign_in(client, director, PASSWORD).status_code == 401
    events = audit.recent_events()
    assert (events["action"] == "account.locked").sum() == 1
    assert (events["action"] == "sign_in.failed").sum() == 6


def test_a_post_without_the_form_token_is_refused(client, director):
    response = client.post(web.SIGN_IN_PATH, data={"email": director, "password": PASSWORD})
    assert response.status_code == 400
    assert web.COOKIE not in client.cookies


def test_the_sign_in_form_takes_its_own_small_body_only(client, director):
    # The attack: anyone may POST to the sign-in page. Its form is a few hundred bytes, but the
    # server read whatever came (a 100 MB "file" in a multipart body was spooled to disk, then
    # refused for its missing form token). A body of another type than the form's, or larger
    # than the form can be, is refused before it is read: nothing hashed, nobody signed in.
    page = client.get(web.SIGN_IN_PATH)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    fields = {"csrf": csrf, "email": director, "password": PASSWORD}
    as_file = client.post(web.SIGN_IN_PATH, data=fields, files={"f": ("big.bin", b"x" * 2_000_000)})
    assert as_file.status_code == 415 and web.COOKIE not in client.cookies
    padded = client.post(web.SIGN_IN_PATH, data={**fields, "padding": "x" * web.MAX_SIGN_IN_BYTES})
    assert padded.status_code == 413 and web.COOKIE not in client.cookies
    assert audit.recent_events().query("action == 'sign_in.failed'").empty  # not even attempted
    # The form as the page sends it still signs in (the longest address and password included).
    page = client.get(web.SIGN_IN_PATH)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    fields = {"csrf": csrf, "email": director, "password": PASSWORD}
    assert client.post(web.SIGN_IN_PATH, data=fields).status_code == 303
    page = client.get(web.SIGN_IN_PATH)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    longest = {"csrf": csrf, "email": "é" * 254, "password": "€" * accounts.MAX_PASSWORD_LENGTH}
    assert client.post(web.SIGN_IN_PATH, data=longest).status_code == 401  # read, and refused


def test_next_never_leaves_the_site(client, director):
    response = sign_in(client, director, PASSWORD, "//evil.example/steal")
    assert response.headers["location"] == "/"


def test_an_idle_session_expires_and_the_browser_is_told_so(client, director, engine):
    sign_in(client, director, PASSWORD)
    # 31 idle minutes (the default allows 30).
    with engine.begin() as connection:
        connection.execute(
            sa.update(SignInSession.__table__).values(last_seen_at=datetime.now(UTC) - timedelta(minutes=31))
        )
    response = client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/connexion?next=/&notice=expired"
    assert "expiré" in client.get(response.headers["location"]).text


def test_the_idle_limit_is_a_setting(client, director, engine, monkeypatch):
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "60")
    sign_in(client, director, PASSWORD)
    with engine.begin() as connection:
        connection.execute(
            sa.update(SignInSession.__table__).values(last_seen_at=datetime.now(UTC) - timedelta(minutes=31))
        )
    assert client.get("/").text == "the app"


def test_sign_out_ends_the_session_on_the_server_and_deletes_the_cookie(client, director):
    sign_in(client, director, PASSWORD)
    token = web.unsign(client.cookies[web.COOKIE])
    # The app ends the session (services.access.accounts.end_session), then st.logout() sends the
    # browser to /auth/logout, where the gate deletes the cookie.
    assert accounts.end_session(token).email == director
    replayed = client.cookies[web.COOKIE]
    response = client.get(web.SIGN_OUT_PATH)
    assert any(v.startswith(f'{web.COOKIE}=""') for v in response.headers.get_list("set-cookie"))
    # A copy of the old cookie opens nothing any more.
    client.cookies.set(web.COOKIE, replayed)
    assert client.get("/").status_code == 303


def test_the_sign_out_address_itself_ends_the_session_on_the_server(client, director):
    # The attack: the browser reaches /auth/logout without the app's sign-out button (typed,
    # bookmarked, or a tab whose page could not run the button's callback). The cookie went,
    # the person believes they signed out, but the session it named lived on: a copy of the
    # cookie (another browser profile, a shared computer's saved cookies) kept opening the app
    # until the idle limit. The address that deletes the cookie must end its session too, once.
    sign_in(client, director, PASSWORD)
    replayed = client.cookies[web.COOKIE]
    response = client.get(web.SIGN_OUT_PATH)
    assert any(v.startswith(f'{web.COOKIE}=""') for v in response.headers.get_list("set-cookie"))
    assert accounts.session_account(web.unsign(replayed)) is None
    client.cookies.set(web.COOKIE, replayed)
    assert client.get("/").status_code == 303
    with client.websocket_connect("/_stcore/stream") as socket:
        assert sent_to_sign_in(socket) == f"{web.SIGN_IN_PATH}?notice=expired"
    assert audit.recent_events().query("action == 'sign_out'")["actor"].tolist() == [director]
    # Reaching it again with the dead cookie ends nothing more and records nothing more.
    client.get(web.SIGN_OUT_PATH)
    assert len(audit.recent_events().query("action == 'sign_out'")) == 1


def test_demo_accounts_are_listed_only_while_the_store_holds_demo_data(client, demo_store):
    page = client.get(web.SIGN_IN_PATH).text
    assert "Comptes de démonstration" in page and "direction@demo.rencontres.fr" in page
    assert accounts.authenticate("direction@demo.rencontres.fr", "demo-direction").role == "director"


def test_without_demo_data_no_account_is_listed(client, director):
    page = client.get(web.SIGN_IN_PATH).text
    assert "démonstration" not in page and "@demo" not in page
    assert "premier administrateur" not in page


def test_an_empty_production_store_says_how_to_create_the_first_admin(client):
    page = client.get(web.SIGN_IN_PATH).text
    assert "python -m services users add EMAIL --role admin" in page
    assert "démonstration" not in page


def page_language_of(page: str) -> str:
    return re.search(r'<html lang="(\w+)">', page).group(1)


def test_the_sign_in_page_follows_the_browser_s_language_french_by_default(client):
    french = client.get(web.SIGN_IN_PATH)
    assert page_language_of(french.text) == "fr"
    assert "Adresse e-mail" in french.text and "Mot de passe" in french.text
    client.cookies.clear()
    english = client.get(web.SIGN_IN_PATH, headers={"Accept-Language": "en-US,en;q=0.9"})
    assert page_language_of(english.text) == "en"
    assert (
        "E-mail address" in english.text and "Password" in english.text and "Mot de passe" not in english.text
    )
    # The form leads back to the app in that language, and offers the other one.
    assert 'action="/connexion?next=/%3Flang%3Den"' in english.text
    assert 'hreflang="fr"' in english.text and 'hreflang="en"' not in english.text
    # A language we do not have falls back on the next one the browser accepts, else French.
    client.cookies.clear()
    german_first = client.get(web.SIGN_IN_PATH, headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert page_language_of(german_first.text) == "en"
    client.cookies.clear()
    weights = client.get(web.SIGN_IN_PATH, headers={"Accept-Language": "en;q=0.2,fr;q=0.8"})
    assert page_language_of(weights.text) == "fr"
    client.cookies.clear()
    german = client.get(web.SIGN_IN_PATH, headers={"Accept-Language": "de"})
    assert page_language_of(german.text) == "fr"


def test_the_sign_in_page_follows_the_language_chosen_in_the_app(client, director):
    # The app keeps its language in its address (lang=en): a visitor sent to sign in reads the
    # page in it, whatever the browser prefers, and is remembered for the next visit.
    sent = client.get("/schedule?event=POV-2020-04&lang=en")
    page = client.get(sent.headers["location"], headers={"Accept-Language": "fr-FR"})
    assert page_language_of(page.text) == "en"
    assert client.cookies[web.LANGUAGE_COOKIE] == "en"
    # Later, without lang anywhere, the remembered choice wins over Accept-Language.
    again = client.get(web.SIGN_IN_PATH, headers={"Accept-Language": "fr-FR"})
    assert page_language_of(again.text) == "en"
    # The link to the other language switches it.
    french = client.get(web.SIGN_IN_PATH, params={"lang": "fr"}, headers={"Accept-Language": "en"})
    assert page_language_of(french.text) == "fr" and client.cookies[web.LANGUAGE_COOKIE] == "fr"
    # A refusal is told in the page's language.
    client.cookies.set(web.LANGUAGE_COOKIE, "en")
    refused = sign_in(client, director, "pas-le-bon-mot-de-passe")
    assert "Wrong e-mail address or password, or account locked for a while." in refused.text
