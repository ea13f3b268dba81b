"""The HTTP side of signing in: the sign-in page, the session cookie and the gate before the app.

A Streamlit page cannot set a cookie, so these Starlette routes and this middleware, mounted
by ``st.App`` in ``dashboard.py``, do: the password is checked here, the browser gets a signed,
HttpOnly, SameSite=Strict cookie holding a random session token (only its hash is stored),
and every page of the app checks that token again against the store (idle expiry, sign-out).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from html import escape
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services import accounts, config, database, demo

COOKIE = "rencontres_session"
CSRF_COOKIE = "rencontres_csrf"
SIGN_IN_PATH = "/connexion"
#: Where st.logout() sends the browser: the gate also deletes the session cookie there.
SIGN_OUT_PATH = "/auth/logout"
#: Streamlit's own cookie after a single sign-on (st.login): the gate lets it through.
SSO_COOKIE = "_streamlit_user"
#: Set on the way to single sign-on (``/?sso=1``): its signed time lets that page's connection
#: open for a short while, so that the script can send the browser to the provider (st.login).
SSO_START_COOKIE = "rencontres_sso_start"
SSO_START_SECONDS = 120
#: Paths anyone may fetch: the sign-in routes, Streamlit's auth routes and assets, and its HTTP
#: endpoints (health, host config; an upload needs the app's connection, which the gate guards).
_OPEN_PREFIXES = (SIGN_IN_PATH, "/auth/", "/oauth2callback", "/_stcore/", "/static/", "/component/")


def sign(token: str) -> str:
    """The cookie value of a session token: the token and its HMAC, so a forged value is refused."""
    mac = hmac.new(config.secret_key().encode(), token.encode(), hashlib.sha256).hexdigest()
    return f"{token}.{mac}"


def unsign(value: str | None) -> str | None:
    """The session token of a cookie value, or None if absent or not signed with our key."""
    if not value or "." not in value:
        return None
    token, _, mac = value.rpartition(".")
    return token if hmac.compare_digest(sign(token), f"{token}.{mac}") else None


def session_token(cookies: dict[str, str]) -> str | None:
    """The verified session token among a request's cookies."""
    return unsign(cookies.get(COOKIE))


def sso_token(cookies: Mapping[str, str]) -> str | None:
    """The sign-in token of a single sign-on: the whole of Streamlit's identity cookie.

    A large cookie is split (``_streamlit_user`` then holds the chunk count, the same for two
    sign-ins within a second): the chunks, joined, make the token unique to one sign-in.
    """
    parts: list[str] = []
    # Only text counts: a test double of the cookies (AppTest) answers any name.
    while isinstance(value := cookies.get(f"{SSO_COOKIE}_{len(parts)}" if parts else SSO_COOKIE), str):
        parts.append(value)
    return "|".join(parts) or None


def _sso_start_value(now: float) -> str:
    return sign(f"sso-start-{int(now)}")


def sso_started(value: str | None, now: float) -> bool:
    """Whether a start-of-single-sign-on cookie is ours and less than two minutes old."""
    started = (unsign(value) or "").removeprefix("sso-start-")
    return started.isdigit() and 0 <= now - int(started) <= SSO_START_SECONDS


def _safe_next(target: str | None) -> str:
    # Only a path of this site: never an absolute URL (open redirect) nor a sign-in route.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if urlsplit(target).path.startswith((SIGN_IN_PATH, SIGN_OUT_PATH)):
        return "/"
    return target


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Connexion · Rencontres</title>
<style>
body {{ font-family: "Source Sans Pro", system-ui, sans-serif; background: #F2F5F9; color: #1F2A37;
  margin: 0; display: flex; min-height: 100vh; align-items: center; justify-content: center; }}
main {{ background: #fff; border-radius: 12px; box-shadow: 0 2px 12px rgba(0,0,0,.08);
  padding: 2rem 2.5rem; width: min(30rem, 90vw); }}
h1 {{ font-size: 1.6rem; margin: 0 0 .25rem; }} p.lead {{ margin: 0 0 1.5rem; color: #4B5563; }}
label {{ display: block; font-weight: 600; margin: .8rem 0 .3rem; }}
input {{ width: 100%; box-sizing: border-box; padding: .6rem; border: 1px solid #CBD5E1;
  border-radius: 8px; font-size: 1rem; }}
button, a.button {{ display: block; width: 100%; margin-top: 1.2rem; padding: .7rem; border: 0;
  border-radius: 8px; background: #0B5FA5; color: #fff; font-size: 1rem; font-weight: 600;
  cursor: pointer; text-align: center; text-decoration: none; box-sizing: border-box; }}
a.button {{ background: #fff; color: #0B5FA5; border: 1px solid #0B5FA5; }}
.notice {{ padding: .7rem .9rem; border-radius: 8px; margin-bottom: 1rem; }}
.error {{ background: #FDECEC; color: #8A1C1C; }} .info {{ background: #E8F1FB; color: #0B3D6B; }}
table {{ width: 100%; border-collapse: collapse; font-size: .9rem; margin-top: .5rem; }}
td, th {{ text-align: left; padding: .25rem .3rem; border-bottom: 1px solid #E5E7EB; }}
details {{ margin-top: 1.5rem; }} code {{ font-size: .85rem; }}
</style></head>
<body><main>
<h1>Rencontres</h1>
<p class="lead">Tableau de bord des journées portes ouvertes virtuelles</p>
{notice}
<form method="post" action="{action}">
<input type="hidden" name="csrf" value="{csrf}">
<label for="email">Adresse e-mail</label>
<input id="email" name="email" type="email" autocomplete="username" required autofocus>
<label for="password">Mot de passe</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Se connecter</button>
</form>
{sso}
{extra}
</main></body></html>
"""

_NOTICES = {
    "refused": ("error", accounts.REFUSED[0].upper() + accounts.REFUSED[1:] + "."),
    "expired": ("info", "Votre session a expiré après une période d'inactivité : reconnectez-vous."),
    "signed_out": ("info", "Vous êtes déconnecté."),
    "form": ("error", "Le formulaire a expiré : saisissez à nouveau vos identifiants."),
}


def _demo_accounts_table() -> str:
    rows = "".join(
        f"<tr><td>{escape(account.label)}</td><td><code>{escape(account.email)}</code></td>"
        f"<td><code>{escape(account.password)}</code></td></tr>"
        for account in demo.DEMO_ACCOUNTS
    )
    return (
        "<details open><summary>Comptes de démonstration</summary>"
        "<table><tr><th>Rôle</th><th>E-mail</th><th>Mot de passe</th></tr>"
        f"{rows}</table></details>"
    )


def _first_admin_hint() -> str:
    return (
        '<div class="notice info">Aucun compte n\'existe encore. Créez le premier administrateur '
        "sur le serveur : <code>python -m services users add EMAIL --role admin</code></div>"
    )


def _sign_in_page(
    request: Request, *, notice: str | None, sso_available: bool, status: int = 200
) -> Response:
    csrf = secrets.token_urlsafe(24)
    holds_demo, has_accounts = database.holds_demo_data(), accounts.has_accounts()
    kind, text = _NOTICES.get(notice or "", (None, None))
    next_path = _safe_next(request.query_params.get("next"))
    page = _PAGE.format(
        notice=f'<div class="notice {kind}" role="alert">{escape(text)}</div>' if text else "",
        action=escape(f"{SIGN_IN_PATH}?next={quote(next_path)}"),
        csrf=csrf,
        sso=(
            '<a class="button" href="/?sso=1">Se connecter avec le compte de l\'établissement</a>'
            if sso_available
            else ""
        ),
        extra=_demo_accounts_table() if holds_demo else "" if has_accounts else _first_admin_hint(),
    )
    response = HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=_is_https(request), path=SIGN_IN_PATH
    )
    # A dead session cookie (signed out, expired) goes: the browser starts afresh.
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path="/")
    return response


def _session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE, sign(token), httponly=True, samesite="strict", secure=_is_https(request), path="/"
    )


def create_routes(sso_available: Callable[[], bool] = lambda: False) -> list[Route]:
    """The sign-in and sign-out routes (``sso_available`` tells whether to offer single sign-on)."""

    async def sign_in(request: Request) -> Response:
        if request.method == "GET":
            return _sign_in_page(
                request, notice=request.query_params.get("notice"), sso_available=sso_available()
            )
        form = await request.form()
        csrf = str(form.get("csrf", ""))
        if not csrf or not hmac.compare_digest(csrf, request.cookies.get(CSRF_COOKIE, "")):
            return _sign_in_page(request, notice="form", sso_available=sso_available(), status=400)
        try:
            account = await run_in_threadpool(
                accounts.authenticate, str(form.get("email", "")), str(form.get("password", ""))
            )
        except accounts.AccountError:
            return _sign_in_page(request, notice="refused", sso_available=sso_available(), status=401)
        token = await run_in_threadpool(accounts.open_session, account)
        response = RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
        _session_cookie(response, request, token)
        response.delete_cookie(CSRF_COOKIE, path=SIGN_IN_PATH)
        return response

    return [
        Route(SIGN_IN_PATH, sign_in, methods=["GET", "POST"]),
    ]


class SignInGate:
    """ASGI middleware: a page or the app's connection needs a live sign-in, else the sign-in page.

    The app checks the session again at every run; this gate keeps anonymous visitors from
    even loading the app, and sends an expired session to the sign-in page with a notice.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        request = HTTPConnection(scope)
        if request.url.path == SIGN_OUT_PATH:
            # The app ended the session on the server; the browser's cookie goes too.
            await self.app(scope, receive, _deleting_session_cookie(send))
            return
        if not _needs_sign_in(request.url.path, scope["type"]):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and request.query_params.get("sso") == "1":
            # On the way to single sign-on: the page loads, and its connection may open for a
            # short while, so that the script sends the browser to the provider (st.login).
            start = Response()
            start.set_cookie(
                SSO_START_COOKIE,
                _sso_start_value(time.time()),
                max_age=SSO_START_SECONDS,
                httponly=True,
                samesite="strict",
                secure=_is_https(request),
                path="/",
            )
            await self.app(scope, receive, _adding_cookie(send, start))
            return
        if SSO_COOKIE in request.cookies or sso_started(request.cookies.get(SSO_START_COOKIE), time.time()):
            # Streamlit checks its own single sign-on cookie; the app maps the person to a role.
            await self.app(scope, receive, send)
            return
        token = session_token(request.cookies)
        if token and await run_in_threadpool(accounts.session_account, token):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401})
            return
        notice = "&notice=expired" if token else ""
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse(f"{SIGN_IN_PATH}?next={quote(target)}{notice}", status_code=303)
        await response(scope, receive, send)


def _deleting_session_cookie(send: Send) -> Send:
    deletion = Response()
    deletion.delete_cookie(COOKIE, path="/")
    return _adding_cookie(send, deletion)


def _adding_cookie(send: Send, carrier: Response) -> Send:
    # The app's own response, with the cookie header of ``carrier`` added.
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).append("set-cookie", carrier.headers["set-cookie"])
        await send(message)

    return sending


def _needs_sign_in(path: str, kind: str) -> bool:
    # The app's connection (a websocket under /_stcore/), its pages and its media (downloads
    # of exports) need a sign-in; assets (a file name with a dot) and open routes do not.
    if kind == "websocket":
        return True
    if path.startswith(_OPEN_PREFIXES):
        return False
    return path.startswith("/media/") or "." not in path.rsplit("/", 1)[-1]
