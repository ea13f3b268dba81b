"""Single sign-on in the app: the identity cookie as the session token, the gate on the way
to the provider, the dashboard's handling of an identity (AppTest), and the whole path in
Chromium against oidc-provider-mock on loopback.
"""

from __future__ import annotations

import json
import sys
import time
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
from streamlit.testing.v1 import AppTest

from services import accounts, web
from tests.browser import chromium_page, free_port, screenshot, serving, settle
from tests.conftest import APP
from tests.test_sso import claims, events


@pytest.fixture
def marketing_group(engine) -> None:
    accounts.map_group(group="cfai-marketing", role="marketing", actor="cli:admin")


# ---------------------------------------------------------------- the token and the gate


def test_the_token_is_the_whole_identity_cookie_even_when_split():
    assert web.sso_token({}) is None
    assert web.sso_token({"_streamlit_user": "abc", "_streamlit_user_tokens": "zzz"}) == "abc"
    split = {"_streamlit_user": "chunks-2", "_streamlit_user_1": "part1", "_streamlit_user_2": "part2"}
    assert web.sso_token(split) == "chunks-2|part1|part2"


def test_the_way_to_the_provider_opens_the_app_connection_for_two_minutes_only(engine):
    async def page(request) -> PlainTextResponse:
        return PlainTextResponse("the app")

    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("connected")
        await websocket.close()

    # The gate in front of a stand-in for Streamlit's page and connection.
    app = Starlette(
        routes=[Route("/", page), WebSocketRoute("/_stcore/stream", stream)],
        middleware=[Middleware(web.SignInGate)],
    )
    client = TestClient(app, base_url="http://testserver", follow_redirects=False)

    def connects() -> bool:
        try:
            with client.websocket_connect("/_stcore/stream") as socket:
                return socket.receive_text() == "connected"
        except WebSocketDisconnect:
            return False

    assert not connects()
    # The sign-in page's single sign-on link: the page loads (its script calls st.login()) and
    # a signed, short-lived cookie lets its connection open.
    response = client.get("/?sso=1")
    assert response.text == "the app"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(web.SSO_START_COOKIE) and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Max-Age=120" in cookie
    assert connects()
    # Forged, or older than two minutes: no connection.
    client.cookies.set(web.SSO_START_COOKIE, f"sso-start-{int(time.time())}")
    assert not connects()
    client.cookies.set(web.SSO_START_COOKIE, web.sign(f"sso-start-{int(time.time()) - 121}"))
    assert not connects()
    # Streamlit's identity cookie lets it through: the script checks who it is.
    client.cookies.clear()
    client.cookies.set(web.SSO_COOKIE, "signed-by-streamlit")
    assert connects()


# ---------------------------------------------------------------- the dashboard (AppTest)


def dashboard(identity: dict[str, object], app: AppTest | None = None) -> AppTest:
    """The dashboard run for a browser holding this single sign-on identity (no cookies in AppTest)."""
    app = app or AppTest.from_file(APP, default_timeout=90)
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
    assert [error.value for error in app.error] == [
        "Votre compte intrus@ailleurs.fr n'a pas accès au tableau de bord ; demandez à un administrateur."
    ]
    assert [button.label for button in app.button] == ["Se déconnecter"]
    assert "account" not in app.session_state
    app.button(key="sign_out").click().run()
    assert app.user == {"is_logged_in": False}  # st.logout() ran


def test_the_dashboard_sends_an_ended_sign_in_through_the_provider_again(engine, marketing_group):
    app = dashboard(claims("paul@cfai.fr", "cfai-marketing"))
    accounts.end_session(app.session_state["sign_in_token"])  # e.g. signed out in another tab
    dashboard(claims("paul@cfai.fr", "cfai-marketing"), app)
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
    # the browser, does not open another one; the person goes through the provider again.
    with engine.begin() as connection:
        connection.execute(sa.text("update sign_in_sessions set ended_at = last_seen_at"))
    page.reload()
    settle(page)
    _shot(page, "05-session-ended")
    assert "Votre session est terminée" in page.inner_text("body")
    assert len(events("sign_in")) == 1
    page.get_by_role("button", name="Se reconnecter avec le compte de l'établissement").click()
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
