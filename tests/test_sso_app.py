"""Single sign-on in the app: the identity cookie as the session token, the gate on the way
to the provider, the dashboard's handling of an identity (AppTest), and the whole path in
Chromium against oidc-provider-mock on loopback.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.testing.v1 import AppTest

from services.access import accounts
from services.app import web
from services.app.markdown import escape_markdown
from tests.browser import chromium_page, free_port, screenshot, serving, settle
from tests.conftest import APP
from tests.test_sso import claims, events


@pytest.fixture
def marketing_group(engine) -> None:
    accounts.map_group(group="cfai-marketing", role="marketing", actor="cli:admin")


SECRET = "a-cookie-secret-for-the-test-only-0123456789"
ORIGIN = "http://testserver"


@pytest.fixture(autouse=True)
def sso_settings(monkeypatch) -> None:
    """Single sign-on configured as in secrets.toml's [auth] (the app's address: the test client's)."""
    settings = {"redirect_uri": f"{ORIGIN}/oauth2callback", "cookie_secret": SECRET}
    monkeypatch.setattr(web, "_auth_settings", lambda: settings)


def identity_cookies(identity: dict[str, object], *, secret: str = SECRET, origin: str = ORIGIN) -> dict:
    """The identity cookies Streamlit's callback sets after a sign-in at the provider (its own
    code: the claims with the origin, signed with the cookie secret, split when large)."""
    from streamlit.auth_util import set_cookie_with_chunks
    from streamlit.web.server.starlette.starlette_app_utils import create_signed_value

    jar: dict[str, str] = {}

    def set_single(name: str, value: str) -> None:
        jar[name] = create_signed_value(secret, name, value).decode()

    value = dict(identity, origin=origin, is_logged_in=True, provider="default")
    set_cookie_with_chunks(
        set_single,
        lambda name, text: create_signed_value(secret, name, text),
        web.SSO_COOKIE,
        value,
        cookie_attr_size=60,
    )
    return jar


# ---------------------------------------------------------------- the identity cookie


def test_the_token_is_the_whole_identity_cookie_even_when_split():
    assert web.sso_identity({}) is None
    small = identity_cookies(claims("paul@cfai.fr", "cfai-marketing"))
    token, found = web.sso_identity(small)
    assert token == small[web.SSO_COOKIE] and found["email"] == "paul@cfai.fr"
    # An identity of many groups does not fit one cookie: Streamlit splits it, the token is
    # every chunk, and the claims come back whole (random names: a signed value is compressed).
    large = identity_cookies(claims("paul@cfai.fr", *(secrets.token_hex(8) for _ in range(400))))
    assert {f"{web.SSO_COOKIE}_1", f"{web.SSO_COOKIE}_2"} <= set(large)
    token, found = web.sso_identity(large)
    assert token.count("|") == len(large) - 1 and len(found["groups"]) == 400
    # A cookie the browser adds (a chunk Streamlit did not set) changes nothing: no new token,
    # so no new session for an identity whose session has ended.
    assert web.sso_identity({**small, f"{web.SSO_COOKIE}_1": "x"})[0] == small[web.SSO_COOKIE]
    extra = {**large, f"{web.SSO_COOKIE}_{len(large)}": "x"}
    assert web.sso_identity(extra)[0] == token


def test_an_identity_cookie_counts_only_when_streamlit_signed_it_for_this_app():
    identity = claims("paul@cfai.fr", "cfai-marketing")
    # Merely named like it (what the gate once let through), signed with another secret, issued
    # for another address, or saying signed out: no identity.
    assert web.sso_identity({web.SSO_COOKIE: "signed-by-streamlit"}) is None
    assert web.sso_identity(identity_cookies(identity, secret="another-secret-0123456789abcdef")) is None
    assert web.sso_identity(identity_cookies(identity, origin="http://evil.example")) is None
    signed_out = identity_cookies(identity)
    from streamlit.web.server.starlette.starlette_app_utils import create_signed_value

    value = json.dumps(dict(identity, origin=ORIGIN, is_logged_in=False))
    signed_out[web.SSO_COOKIE] = create_signed_value(SECRET, web.SSO_COOKIE, value).decode()
    assert web.sso_identity(signed_out) is None
    # Single sign-on not configured: no identity at all.
    web._auth_settings = lambda: {}  # restored by the fixture's monkeypatch
    assert web.sso_identity(identity_cookies(identity)) is None


# ---------------------------------------------------------------- the gate


def _gate() -> TestClient:
    async def page(request) -> PlainTextResponse:
        return PlainTextResponse("the app")

    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("connected")
        await websocket.close()

    # The gate in front of a stand-in for Streamlit's page and connection.
    app = Starlette(
        routes=[*web.create_routes(), Route("/", page), WebSocketRoute("/_stcore/stream", stream)],
        middleware=[Middleware(web.SignInGate)],
    )
    return TestClient(app, base_url=ORIGIN, follow_redirects=False)


def _connects(client: TestClient) -> bool:
    """True when the app's connection reaches the app (its stand-in says so); without a live
    sign-in, it carries only the order to open the sign-in page, then closes."""
    with client.websocket_connect("/_stcore/stream") as socket:
        message = socket.receive()
        if message.get("text") == "connected":
            return True
        assert ForwardMsg.FromString(message["bytes"]).auth_redirect.url.startswith(web.SIGN_IN_PATH)
        with pytest.raises(WebSocketDisconnect):
            socket.receive_bytes()
        return False


def test_the_way_to_the_provider_opens_nothing_of_the_app(engine):
    client = _gate()
    # The sign-in page's link goes straight to Streamlit's provider redirect, no page between.
    answer = client.get(web.SSO_PATH)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/auth/login?provider=")
    # What used to open the page and its connection for two minutes opens nothing now.
    assert client.get("/?sso=1").headers["location"].startswith(web.SIGN_IN_PATH)
    assert "set-cookie" not in client.get("/?sso=1").headers
    assert not _connects(client)


def test_the_gate_lets_in_a_signed_identity_of_a_mapped_person_only(engine, marketing_group):
    client = _gate()
    client.cookies.set(web.SSO_COOKIE, "signed-by-streamlit")
    assert not _connects(client)
    assert client.get("/").headers["location"].startswith(web.SIGN_IN_PATH)

    client.cookies.clear()
    client.cookies.update(identity_cookies(claims("paul@cfai.fr", "cfai-marketing")))
    assert client.get("/").text == "the app" and _connects(client)
    assert events("sign_in") == [("paul@cfai.fr", None, "sso")]  # opened once, found again after


def test_the_gate_sends_a_refused_or_ended_single_sign_on_to_the_sign_in_page(engine, marketing_group):
    client = _gate()
    client.cookies.update(identity_cookies(claims("intrus@ailleurs.fr", "visiteurs")))
    answer = client.get("/")
    assert answer.status_code == 303 and "notice=sso_refused" in answer.headers["location"]
    # The refused identity cookie goes, so that the next sign-in starts at the provider.
    assert f'{web.SSO_COOKIE}=""' in answer.headers["set-cookie"]
    assert not _connects(client)
    page = client.get(answer.headers["location"])
    assert "pas accès au tableau de bord" in page.text and 'role="alert"' in page.text

    client.cookies.clear()
    cookies = identity_cookies(claims("paul@cfai.fr", "cfai-marketing"))
    client.cookies.update(cookies)
    assert client.get("/").text == "the app"
    accounts.end_session(web.sso_identity(cookies)[0])  # signed out in another tab
    client.cookies.update(cookies)
    answer = client.get("/")
    assert "notice=sso_ended" in answer.headers["location"]
    assert events("sign_in") == [("paul@cfai.fr", None, "sso")]  # no second session was opened


# ---------------------------------------------------------------- the dashboard (AppTest)


def dashboard(identity: dict[str, object], app: AppTest | None = None) -> AppTest:
    """The dashboard run for a browser holding this single sign-on identity cookie (kept by the
    browser from one run to the next)."""
    if app is None:
        app = AppTest.from_file(APP, default_timeout=90)
        app.cookies = identity_cookies(identity)
    app.user = identity
    app.run()
    assert not app.exception, app.exception
    return app


def test_the_dashboard_signs_in_a_mapped_person_with_the_role_s_pages(engine, marketing_group):
    app = dashboard(claims("paul@cfai.fr", "cfai-marketing"))
    assert "paul@cfai.fr" in app.sidebar.caption[0].value and "marketing" in app.sidebar.caption[0].value
    assert app.session_state["account"].role == "marketing"
    # The next run of the same browser session finds the session: one sign-in in the log.
    dashboard(claims("paul@cfai.fr", "cfai-marketing"), app)
    assert events("sign_in") == [("paul@cfai.fr", None, "sso")]


def test_the_dashboard_refuses_an_unmapped_person_and_offers_to_sign_out(engine, marketing_group):
    app = dashboard(claims("intrus@ailleurs.fr", "visiteurs"))
    # The e-mail comes from the provider: escaped for Markdown (it reads intrus@ailleurs.fr).
    email = escape_markdown("intrus@ailleurs.fr")
    assert [error.value for error in app.error] == [
        f"Votre compte {email} n'a pas accès au tableau de bord ; demandez à un administrateur."
    ]
    assert [button.label for button in app.button] == ["Se déconnecter"]
    assert "account" not in app.session_state
    app.button(key="sign_out").click().run()
    assert app.user == {"is_logged_in": False}  # st.logout() ran


def test_the_dashboard_sends_an_ended_sign_in_through_the_provider_again(engine, marketing_group):
    identity = claims("paul@cfai.fr", "cfai-marketing")
    app = dashboard(identity)
    accounts.end_session(web.sso_identity(app.cookies)[0])  # e.g. signed out in another tab
    app.run()
    assert [info.value for info in app.info][0].startswith("Votre session est terminée")
    assert [button.label for button in app.button] == ["Se reconnecter avec le compte de l'établissement"]
    assert events("sign_in") == [("paul@cfai.fr", None, "sso")]  # no second session was opened


# ---------------------------------------------------------------- the whole path in Chromium


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[str]:
    """oidc-provider-mock on loopback, knowing two staff members: their e-mail and groups."""
    port = free_port()
    people = [
        {
            "sub": "directrice",
            "email": "directrice@cfai.fr",
            "email_verified": True,
            "groups": ["cfai-staff"],
        },
        {"sub": "paul", "email": "paul@cfai.fr", "groups": ["cfai-staff", "cfai-marketing"]},
    ]
    command = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    command += [argument for person in people for argument in ("--user-claims", json.dumps(person))]
    url = f"http://127.0.0.1:{port}"
    with serving(command, f"{url}/.well-known/openid-configuration", tmp_path / "provider.log"):
        yield url


@pytest.fixture
def sso_server(engine, provider: str, tmp_path: Path) -> Iterator[str]:
    """The app with [auth] in a secrets file of its own (never the repo's), on the test's store:
    the director has an account of her own, marketing people come through their group."""
    accounts.add_account(email="directrice@cfai.fr", role="director", password=None, actor="test")
    accounts.map_group(group="cfai-marketing", role="marketing", actor="test")
    port = free_port()
    app_url = f"http://localhost:{port}"
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "{app_url}/oauth2callback"\n'
        'cookie_secret = "a-cookie-secret-for-the-test-only-0123456789"\n'
        'client_id = "rencontres"\n'
        'client_secret = "a-client-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    command = [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.headless", "true"]
    command += [
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--secrets.files",
        str(secrets_file),
    ]
    with serving(
        command, f"http://127.0.0.1:{port}/_stcore/health", tmp_path / "app.log", {"DEMO_DATA": "0"}
    ):
        yield app_url


@pytest.fixture
def chromium():
    """A headless Chromium page (Debian's Chromium, driven by Playwright)."""
    with chromium_page() as page:
        yield page


def _shot(page, name: str) -> None:
    screenshot(page, f"sso-{name}")


def _sign_in_at_the_provider(page, app_url: str, subject: str, shot: str | None = None) -> None:
    page.goto(f"{app_url}/connexion")
    page.get_by_role("link", name="Se connecter avec le compte de l'établissement").click()
    # The mock provider's authorization form: the person says who they are.
    page.wait_for_selector('input[name="sub"]', timeout=30_000)
    page.fill('input[name="sub"]', subject)
    if shot:
        _shot(page, shot)
    page.get_by_role("button", name="Authorize").click()
    settle(page)


def test_single_sign_on_in_the_browser(sso_server, chromium, engine):
    page = chromium
    page.goto(f"{sso_server}/connexion")
    _shot(page, "01-sign-in-page")
    _sign_in_at_the_provider(page, sso_server, "directrice", shot="02-provider-form")
    _shot(page, "03-signed-in")
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert "directrice@cfai.fr" in sidebar.inner_text()
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    # A director's pages, and no administrator's.
    assert "Planning" in nav and "Canaux" in nav and "Journal" not in nav
    assert events("sign_in") == [("directrice@cfai.fr", None, "sso")]

    page.reload()
    settle(page)
    _shot(page, "04-after-reload")
    assert "directrice@cfai.fr" in page.locator('[data-testid="stSidebar"]').inner_text()
    assert len(events("sign_in")) == 1  # the same session, found again

    # The session ends on the server (as after 30 idle minutes): the identity cookie, still in
    # the browser, does not open another one; the gate sends the person to the sign-in page,
    # and through the provider again.
    with engine.begin() as connection:
        connection.execute(sa.text("update sign_in_sessions set ended_at = last_seen_at"))
    page.reload()
    page.wait_for_url("**/connexion**", timeout=30_000)
    _shot(page, "05-session-ended")
    assert "Votre session est terminée" in page.inner_text("body")
    assert len(events("sign_in")) == 1
    page.get_by_role("link", name="Se connecter avec le compte de l'établissement").click()
    page.wait_for_selector('input[name="sub"]', timeout=30_000)
    page.fill('input[name="sub"]', "directrice")
    page.get_by_role("button", name="Authorize").click()
    settle(page)
    assert "directrice@cfai.fr" in page.locator('[data-testid="stSidebar"]').inner_text()
    assert len(events("sign_in")) == 2  # a new identity cookie, a new session

    page.get_by_role("button", name="Se déconnecter").click()
    # The provider confirms the end of its own session, then sends the browser back.
    confirm = page.get_by_role("button", name="End session")
    confirm.wait_for(timeout=30_000)
    _shot(page, "06-provider-sign-out")
    confirm.click()
    page.wait_for_url("**/connexion**", timeout=30_000)
    _shot(page, "07-signed-out")
    assert page.get_by_role("link", name="Se connecter avec le compte de l'établissement").count() == 1
    assert events("sign_out") == [("directrice@cfai.fr", None, None)]
    with engine.connect() as connection:
        assert (
            connection.execute(
                sa.text("select count(*) from sign_in_sessions where ended_at is null")
            ).scalar()
            == 0
        )

    # Someone without an account, in the mapped marketing group: marketing's pages only.
    _sign_in_at_the_provider(page, sso_server, "paul")
    _shot(page, "08-group-member-signed-in")
    assert "paul@cfai.fr · marketing" in page.locator('[data-testid="stSidebar"]').inner_text()
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Canaux" in nav and "Planning" not in nav
    assert events("account.add")[-1] == ("sso", "paul@cfai.fr", "role=marketing group=cfai-marketing")
