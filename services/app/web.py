"""The HTTP side of signing in: the sign-in page, the session cookie and the gate before the app.

A Streamlit page cannot set a cookie, so these Starlette routes and this middleware, mounted
by ``st.App`` in ``dashboard.py``, do: the password is checked here, the browser gets a signed,
HttpOnly, SameSite=Strict cookie holding a random session token (only its hash is stored),
and every page of the app checks that token again against the store (idle expiry, sign-out).

Nothing of the app reaches a request without a live sign-in (docs/security.md): its pages, its
connection (checked again at every message), its media (an export only to whoever built it),
uploads (into a session only by the account it runs for) and metrics. Open: the sign-in
routes, Streamlit's single sign-on routes, its health check, its host settings and its
front-end assets (the same public code and settings for every install).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from html import escape
from urllib.parse import parse_qs, parse_qsl, quote, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services import config, demo
from services.access import accounts
from services.i18n import LANGUAGES, N_, choose_language, translate
from services.integrations import webhooks
from services.store import audit, database

COOKIE = "rencontres_session"
CSRF_COOKIE = "rencontres_csrf"
#: The language last chosen in this browser (sign-in page or app), for the sign-in page.
LANGUAGE_COOKIE = "rencontres_language"
LANGUAGE_MAX_AGE = 365 * 24 * 3600
SIGN_IN_PATH = "/connexion"
#: The sign-in form's body: its type, and at most this size (an address of 254 characters, a
#: password of 1024, the form's token, each character percent-encoded: under 12 KB). Anyone may
#: post to the page: a larger body, or a multipart one (whose files a server spools to disk),
#: is refused before it is read.
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_SIGN_IN_BYTES = 16 * 1024
#: Where st.logout() sends the browser: the gate also deletes the session cookie there.
SIGN_OUT_PATH = "/auth/logout"
#: The sign-in page's way to single sign-on: straight to Streamlit's provider redirect.
SSO_PATH = f"{SIGN_IN_PATH}/etablissement"
#: Streamlit's identity cookie after a single sign-on, signed with its cookie secret.
SSO_COOKIE = "_streamlit_user"
#: Paths anyone may fetch: the sign-in routes, Streamlit's single sign-on routes, its health check
#: and its host settings (the same for everyone: the origins the app would take messages from if
#: another page framed it, which it forbids; a browser asks for both before it opens the app's
#: connection, which then sends it to the sign-in page, see ``SignInGate``) (and anyone may POST
#: to the vendors' webhooks, each delivery checked by its signature).
_OPEN_PATHS = (
    SIGN_IN_PATH,
    SSO_PATH,
    "/auth/login",
    "/oauth2callback",
    "/_stcore/health",
    "/_stcore/host-config",
)
#: Paths whose files are the app's (not pages): without a sign-in, 401 and no redirect.
_APP_PREFIXES = ("/media/", "/_stcore/", "/component/", "/app/")
#: Where the browser sends a session's uploads: ``UPLOAD_PREFIX<session id>/<file id>``.
UPLOAD_PREFIX = "/_stcore/upload_file/"
#: Streamlit's front-end files, the same public code for every install: open (and nothing else).
_ASSET_PREFIX = "/static/"
_ASSET_FILES = ("/favicon.png", "/manifest.json")
#: The headers of every answer: no framing, no type sniffing, no address in a Referer.
SECURITY_HEADERS = (
    ("x-frame-options", "DENY"),
    ("content-security-policy", "frame-ancestors 'none'"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
)
#: The header of every answer behind the sign-in (an export holds minors' personal data): no
#: cache, the browser's or a proxy's, keeps it to hand out again after the sign-in has ended.
NOT_STORED = (("cache-control", "no-store"),)


def sign(token: str) -> str:
    """The cookie value of a session token: the token and its HMAC, so a forged value is refused."""
    mac = hmac.new(config.secret_key().encode(), token.encode(), hashlib.sha256).hexdigest()
    return f"{token}.{mac}"


def unsign(value: str | None) -> str | None:
    """The session token of a cookie value, or None if absent or not signed with our key."""
    if not value or "." not in value:
        return None
    token, _, mac = value.rpartition(".")
    expected, given = sign(token).encode("utf-8", "replace"), f"{token}.{mac}".encode("utf-8", "replace")
    return token if hmac.compare_digest(expected, given) else None


def session_token(cookies: dict[str, str]) -> str | None:
    """The verified session token among a request's cookies."""
    return unsign(cookies.get(COOKIE))


def _auth_settings() -> Mapping[str, object]:
    # Streamlit's [auth] secrets (its own reading: .streamlit/secrets.toml or --secrets.files).
    from streamlit.runtime.secrets import secrets_singleton

    return secrets_singleton.get("auth", {}) if secrets_singleton.load_if_toml_exists() else {}


def sso_available() -> bool:
    """Whether single sign-on is configured: an ``[auth]`` section in Streamlit's secrets."""
    return bool(_auth_settings())


def _sso_origin() -> str | None:
    # The app's own address, as Streamlit writes it into the identity cookies it issues.
    parts = urlsplit(str(_auth_settings().get("redirect_uri", "")))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def sso_identity(cookies: Mapping[str, str]) -> tuple[str, dict[str, object]] | None:
    """The sign-in token and claims of Streamlit's identity cookie, or None unless it is signed
    with this install's cookie secret, was issued for this app's address and says signed in.

    The token is the whole cookie as Streamlit set it (a large one is split: ``_streamlit_user``
    then holds "chunks-N", the same for two sign-ins within a second, and the N chunks follow):
    unique to one sign-in at the provider; a cookie the browser adds cannot change it.
    """
    settings = _auth_settings()
    secret, origin = str(settings.get("cookie_secret", "")), _sso_origin()
    if not isinstance(cookies.get(SSO_COOKIE), str) or not secret or origin is None:
        return None
    # Streamlit's own reading of its cookie (itsdangerous, the cookie secret of [auth]).
    from streamlit.auth_util import get_cookie_with_chunks
    from streamlit.web.server.starlette.starlette_app_utils import decode_signed_value

    def unsigned(name: str) -> bytes | None:
        value = cookies.get(name)
        return decode_signed_value(secret, name, value.encode("latin-1")) if isinstance(value, str) else None

    try:
        payload = json.loads(get_cookie_with_chunks(unsigned, SSO_COOKIE) or b"null")
    except (UnicodeError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("is_logged_in") is not True:
        return None
    if payload.pop("origin", None) != origin:
        return None
    chunks = re.fullmatch(rb"chunks-(\d+)", unsigned(SSO_COOKIE) or b"")
    names = [SSO_COOKIE, *(f"{SSO_COOKIE}_{n}" for n in range(1, int(chunks[1]) + 1 if chunks else 1))]
    return "|".join(cookies[name] for name in names), payload


def browser_token(cookies: Mapping[str, str]) -> str | None:
    """The token of the browser's sign-in (password or single sign-on), verified, for sign-out."""
    if token := session_token(cookies):
        return token
    identity = sso_identity(cookies)
    return identity[0] if identity else None


def signed_in(cookies: Mapping[str, str]) -> tuple[accounts.SignedIn | None, str | None]:
    """The account of a browser's live sign-in (its idle time refreshed), from its cookies only,
    or None and, for a single sign-on the store does not let in, the reason (a notice name).

    The one reading of who is signed in, for the gate and the app alike: a password sign-in is
    our signed cookie; a single sign-on is Streamlit's signed identity cookie, whose first
    sight opens a session; either way the store decides whether the sign-in still lives.
    """
    token = session_token(cookies)
    if token:
        return accounts.session_account(token), None
    identity = sso_identity(cookies)
    if identity is None:
        return None, None
    token, claims = identity
    try:
        return accounts.session_account(token) or accounts.sso_sign_in(claims=claims, token=token), None
    except accounts.SessionEnded:
        return None, "sso_ended"
    except accounts.SsoRefused as refusal:
        return None, "sso_no_email" if refusal.reason == "no_email" else "sso_refused"


def sign_out(cookies: Mapping[str, str]) -> None:
    """End the browser's sign-in on the server and record it (nothing when it has already ended):
    the app's sign-out button, then the sign-out address, where the gate deletes the cookie."""
    account = accounts.end_session(browser_token(cookies))
    if account is not None:
        audit.record("sign_out", actor=account.email)


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
<html lang="{language}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
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
nav.languages {{ float: right; font-size: .9rem; }} nav.languages a {{ color: #0B5FA5; }}
</style></head>
<body><main>
<nav class="languages">{languages}</nav>
<h1>Rencontres</h1>
<p class="lead">{lead}</p>
{notice}
<form method="post" action="{action}">
<input type="hidden" name="csrf" value="{csrf}">
<label for="email">{email_label}</label>
<input id="email" name="email" type="email" autocomplete="username" maxlength="{email_max}" required
  autofocus>
<label for="password">{password_label}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{submit}</button>
</form>
{sso}
{extra}
</main></body></html>
"""

#: The notices of the sign-in page (``?notice=``): their kind and label.
_NOTICES = {
    "refused": ("error", N_("signin.notice.refused")),
    "expired": ("info", N_("signin.notice.expired")),
    "signed_out": ("info", N_("signin.notice.signed_out")),
    "form": ("error", N_("signin.notice.form")),
    "sso_ended": ("info", N_("signin.notice.sso_ended")),
    "sso_refused": ("error", N_("signin.notice.sso_refused")),
    "sso_no_email": ("error", N_("signin.notice.sso_no_email")),
}


def page_language(request: HTTPConnection) -> str:
    """The sign-in page's language: asked for (``?lang=``, a link of the page), that of the app
    page it leads back to (``next``, whose address keeps the app's ``lang``), the one last chosen
    in this browser (LANGUAGE_COOKIE, written by the app), else the browser's Accept-Language;
    French by default."""
    next_query = parse_qs(urlsplit(request.query_params.get("next") or "").query)
    return choose_language(
        request.query_params.get("lang") or (next_query.get("lang") or [None])[0],
        request.cookies.get(LANGUAGE_COOKIE),
        request.headers.get("accept-language"),
    )


def _with_language(path: str, language: str) -> str:
    """``path`` with ``lang=language`` in its query (the app then opens in that language)."""
    parts = urlsplit(path)
    query = [(name, value) for name, value in parse_qsl(parts.query) if name != "lang"]
    return parts._replace(query=urlencode([*query, ("lang", language)])).geturl()


def _demo_accounts_table(language: str) -> str:
    rows = "".join(
        f"<tr><td>{escape(translate(f'role.{account.role}', language))}</td>"
        f"<td><code>{escape(account.email)}</code></td>"
        f"<td><code>{escape(account.password)}</code></td></tr>"
        for account in demo.DEMO_ACCOUNTS
    )
    # (Labels outside the f-strings: pybabel extract does not look into them on Python 3.11.)
    title, role = translate("signin.demo", language), translate("signin.demo.role", language)
    email, password = translate("signin.demo.email", language), translate("signin.demo.password", language)
    return (
        f"<details open><summary>{escape(title)}</summary>"
        f"<table><tr><th>{escape(role)}</th><th>{escape(email)}</th><th>{escape(password)}</th></tr>"
        f"{rows}</table></details>"
    )


def _first_admin_hint(language: str) -> str:
    hint = translate("signin.first_admin", language)
    command = "python -m services users add EMAIL --role admin"
    return f'<div class="notice info">{escape(hint)} <code>{command}</code></div>'


def _sign_in_page(
    request: Request, *, notice: str | None, sso_available: bool, status: int = 200
) -> Response:
    csrf = secrets.token_urlsafe(24)
    holds_demo, has_accounts = database.holds_demo_data(), accounts.has_accounts()
    language = page_language(request)
    kind, key = _NOTICES.get(notice or "", (None, None))
    next_path = _with_language(_safe_next(request.query_params.get("next")), language)
    links = {code: f"{SIGN_IN_PATH}?" + urlencode({"next": next_path, "lang": code}) for code in LANGUAGES}
    other_languages = " · ".join(
        f'<a href="{escape(links[code])}" hreflang="{code}" lang="{code}">{escape(name)}</a>'
        for code, name in LANGUAGES.items()
        if code != language
    )
    sso_label = translate("signin.sso", language)
    page = _PAGE.format(
        language=language,
        title=escape(translate("signin.title", language)),
        languages=other_languages,
        lead=escape(translate("signin.lead", language)),
        email_label=escape(translate("signin.email", language)),
        password_label=escape(translate("signin.password", language)),
        submit=escape(translate("auth.sign_in", language)),
        notice=(
            f'<div class="notice {kind}" role="alert">{escape(translate(key, language))}</div>' if key else ""
        ),
        action=escape(f"{SIGN_IN_PATH}?next={quote(next_path)}"),
        csrf=csrf,
        email_max=accounts.MAX_EMAIL_LENGTH,
        sso=f'<a class="button" href="{SSO_PATH}">{escape(sso_label)}</a>' if sso_available else "",
        extra=(
            _demo_accounts_table(language)
            if holds_demo
            else ""
            if has_accounts
            else _first_admin_hint(language)
        ),
    )
    response = HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=_is_https(request), path=SIGN_IN_PATH
    )
    # The language shown is remembered (a preference, nothing secret): the next sign-in page
    # of this browser opens in it, even without ``lang`` in its address.
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        samesite="lax",
        secure=_is_https(request),
        path="/",
        max_age=LANGUAGE_MAX_AGE,
    )
    # A dead session cookie (signed out, expired) goes: the browser starts afresh.
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path="/")
    return response


def _session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE, sign(token), httponly=True, samesite="strict", secure=_is_https(request), path="/"
    )


def create_routes(sso_available: Callable[[], bool] = sso_available) -> list[Route]:
    """The sign-in route, the way to single sign-on (offered when ``sso_available()``) and the
    vendors' webhooks."""

    async def sign_in(request: Request) -> Response:
        if request.method == "GET":
            return _sign_in_page(
                request, notice=request.query_params.get("notice"), sso_available=sso_available()
            )
        # Only the form's own body, read up to what it can hold: anyone may post here.
        if request.headers.get("content-type", "").partition(";")[0].strip().lower() != FORM_TYPE:
            return _sign_in_page(request, notice="form", sso_available=sso_available(), status=415)
        try:
            body = await webhooks.read_body(request, MAX_SIGN_IN_BYTES)
        except webhooks.Refused:
            return _sign_in_page(request, notice="form", sso_available=sso_available(), status=413)
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        csrf = str(form.get("csrf", ""))
        expected = request.cookies.get(CSRF_COOKIE, "").encode("utf-8", "replace")
        if not csrf or not hmac.compare_digest(csrf.encode("utf-8", "replace"), expected):
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

    async def single_sign_on(request: Request) -> Response:
        # Straight to Streamlit's provider redirect (what st.login() would send the browser to),
        # so that no page of the app loads before the provider has said who this is.
        if not sso_available():
            return RedirectResponse(SIGN_IN_PATH, status_code=303)
        from streamlit.user_info import generate_login_redirect_url

        return RedirectResponse(generate_login_redirect_url("default"), status_code=303)

    return [
        Route(SIGN_IN_PATH, sign_in, methods=["GET", "POST"]),
        Route(SSO_PATH, single_sign_on, methods=["GET"]),
        *webhooks.routes(),
    ]


class SignInGate:
    """ASGI middleware: nothing of the app reaches a request without a live sign-in.

    A page without one is sent to the sign-in page (with a notice when a sign-in has ended);
    anything else gets 401 and no byte of the app: the app's connection (which carries only
    the order to open the sign-in page, then closes; an open one closes at its first message
    after the sign-in ends, and the browser connects again), media (an export is served
    only to the account that built it), uploads (into a session only by the account it runs
    for), metrics. The app checks the sign-in again at
    every run; every answer carries the security headers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            send = _with_headers(send, SECURITY_HEADERS)
        request = HTTPConnection(scope)
        path = _app_path(request.url.path)
        if path == SIGN_OUT_PATH:
            # The session ends on the server (whether or not the app's button did it first: the
            # address may be reached without it) and the browser's cookie goes.
            await run_in_threadpool(sign_out, request.cookies)
            await self.app(scope, receive, _deleting_session_cookie(send))
            return
        if not _needs_sign_in(path) or (path in webhooks.PATHS and scope.get("method") == "POST"):
            await self.app(scope, receive, send)
            return
        cookies = request.cookies
        account, problem = await run_in_threadpool(signed_in, cookies)
        if account is not None and _may_fetch(account, path):
            if scope["type"] == "websocket":
                _resume_own_session_only(scope, account)
                receive, send = _live_connection(receive, send, cookies)
            else:
                send = _with_headers(send, NOT_STORED)
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # A tab whose sign-in ended (a laptop asleep, signed out in another tab, its
            # connection closed at its last click) connects again: told to go to the sign-in
            # page, and nothing else.
            await _to_sign_in_over_connection(scope, receive, send, _sign_in_address(cookies, problem))
            return
        if account is not None or not _is_page(path):
            # An address of the app's files tells nothing and goes nowhere (a media id must not
            # travel on in a sign-in address, a history or a log).
            response = Response("Connexion requise.", status_code=404 if account else 401)
        else:
            target = path + (f"?{request.url.query}" if request.url.query else "")
            response = RedirectResponse(_sign_in_address(cookies, problem, target), status_code=303)
            if problem:
                _forget_identity_cookie(response, cookies)
        await response(scope, receive, send)


def _sign_in_address(cookies: Mapping[str, str], problem: str | None, target: str | None = None) -> str:
    """The sign-in page for a browser without a live sign-in: with the page to come back to, and
    the notice of why (the single sign-on's problem, or an ended session when it had one)."""
    notice = problem or ("expired" if session_token(cookies) else None)
    query = ([f"next={quote(target)}"] if target else []) + ([f"notice={notice}"] if notice else [])
    return SIGN_IN_PATH + ("?" + "&".join(query) if query else "")


def _redirect_message(address: str) -> bytes:
    """Streamlit's own order to the browser to open ``address`` (what ``st.login`` sends): the
    tab goes there rather than retrying a connection that is refused, behind an English error."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    message = ForwardMsg()
    message.auth_redirect.url = address
    return message.SerializeToString()


async def _to_sign_in_over_connection(scope: Scope, receive: Receive, send: Send, address: str) -> None:
    # The connection is accepted only to carry the way to the sign-in page, then closed: no byte
    # of the app, no session. The browser offers Streamlit's subprotocol; the answer must name it.
    if (await receive())["type"] != "websocket.connect":
        return
    subprotocol = "streamlit" if "streamlit" in scope.get("subprotocols", ()) else None
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    await send({"type": "websocket.send", "bytes": _redirect_message(address)})
    await send({"type": "websocket.close", "code": 4401})


#: Who may have what, in this server's memory: export files (Streamlit media ids) → the
#: accounts that built them; Streamlit sessions → the account whose runs they serve. Bounded:
#: the oldest entries go first (an export that old is gone from Streamlit's memory too; a
#: session that old is then simply not resumed, a new one starts).
_MEMORY = 20_000
_EXPORT_OWNERS: OrderedDict[str, frozenset[int]] = OrderedDict()
_SESSION_ACCOUNTS: OrderedDict[str, int] = OrderedDict()
_OWNERS_LOCK = threading.Lock()


def _remember(entries: OrderedDict, key: str, value: object) -> None:
    with _OWNERS_LOCK:
        entries[key] = value
        entries.move_to_end(key)
        while len(entries) > _MEMORY:
            entries.popitem(last=False)


def own_export(file_id: str, account_id: int) -> None:
    """Let ``account_id`` fetch the export stored under this media id (and nobody else)."""
    with _OWNERS_LOCK:
        owners = _EXPORT_OWNERS.get(file_id, frozenset()) | {account_id}
    _remember(_EXPORT_OWNERS, file_id, owners)


def bind_session(session_id: str, account_id: int) -> None:
    """Note that this Streamlit session runs for this account (the dashboard, at every run)."""
    _remember(_SESSION_ACCOUNTS, session_id, account_id)


def _may_fetch(account: accounts.SignedIn, path: str) -> bool:
    # A media file goes only to the accounts that built it (every media file of the app is an
    # export): another account, or a file this server does not know, gets nothing.
    if path.startswith("/media/"):
        file_id = path.removeprefix("/media/").split(".", 1)[0]
        with _OWNERS_LOCK:
            return account.account_id in _EXPORT_OWNERS.get(file_id, ())
    # A file is sent into a Streamlit session (or deleted from it) only by the account that
    # session runs for: its address names the session and the file (so it is in logs), and
    # Streamlit stores whatever is sent there, which that session's page then reads as its own
    # (an administrator's import, replaced by another account's file).
    if path.startswith(UPLOAD_PREFIX):
        session_id = path.removeprefix(UPLOAD_PREFIX).split("/", 1)[0]
        with _OWNERS_LOCK:
            return _SESSION_ACCOUNTS.get(session_id) == account.account_id
    return True


def _resume_own_session_only(scope: Scope, account: accounts.SignedIn) -> None:
    # The browser names the Streamlit session to resume in its connection's subprotocols
    # ("streamlit, <xsrf>, <session id>"); Streamlit resumes it for anyone with the same (empty)
    # identity, and runs its widgets' callbacks, with the session's former state, before the
    # page checks who is there. Only the account that session last ran for may resume it: for
    # anyone else the id is dropped and a new session starts.
    headers = scope["headers"]
    for index, (name, value) in enumerate(headers):
        if name.lower() != b"sec-websocket-protocol":
            continue
        entries = [entry.strip() for entry in value.decode("latin-1").split(",")]
        if len(entries) >= 3 and entries[2]:
            with _OWNERS_LOCK:
                owner = _SESSION_ACCOUNTS.get(entries[2])
            if owner != account.account_id:
                headers[index] = (name, ", ".join(entries[:2]).encode("latin-1"))


#: What a browser may not ask of the server over the app's connection: clearing every user's
#: caches, re-running on file changes, the debugging messages, and writing agent "skills"
#: files into the app's folder. No page needs them.
_REFUSED_MESSAGES = frozenset(
    {"clear_cache", "set_run_on_save", "debug_disconnect_websocket", "debug_shutdown_runtime"}
)
_REFUSED_OPERATIONS = frozenset({"install_skills", "dismiss_skills_nudge"})


def _refused(data: bytes | None) -> bool:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    try:
        message = BackMsg.FromString(data or b"")
    except Exception:  # not a message of the protocol: Streamlit refuses it itself
        return False
    kind = message.WhichOneof("type")
    if kind == "backend_operation_request":
        return message.backend_operation_request.WhichOneof("payload") in _REFUSED_OPERATIONS
    return kind in _REFUSED_MESSAGES


def _live_connection(receive: Receive, send: Send, cookies: Mapping[str, str]) -> tuple[Receive, Send]:
    # Every message of the app's connection checks the sign-in again: an ended sign-in (signed
    # out in another tab, disabled, idle) closes an open tab's connection at its next message (a
    # click). The gate closes it itself, without a word: the browser connects again with the
    # cookies it holds *now*, and the new connection decides (``SignInGate``): the app again if
    # the person has signed in since, in another tab (sent to the sign-in page from here, on
    # this connection's old cookies, the tab would have that page delete the new sign-in's
    # cookie), else the sign-in page. What the app still sends after the close goes nowhere.
    closed = False

    async def sending(message: Message) -> None:
        nonlocal closed
        if closed:
            return
        closed = message["type"] == "websocket.close"
        await send(message)

    async def receiving() -> Message:
        nonlocal closed
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return message
            account, _ = await run_in_threadpool(signed_in, cookies)
            if account is None:
                if not closed:
                    closed = True  # first: nothing of the app goes out from now on
                    await send({"type": "websocket.close", "code": 4401})
                return {"type": "websocket.disconnect", "code": 4401}
            if not _refused(message.get("bytes")):
                return message

    return receiving, sending


def _with_headers(send: Send, added: tuple[tuple[str, str], ...]) -> Send:
    # The app's own response, with these headers set (replacing the app's own values).
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in added:
                headers[name] = value
        await send(message)

    return sending


def _forget_identity_cookie(response: Response, cookies: Mapping[str, str]) -> None:
    # A single sign-on the store refuses or has ended: its identity cookie goes, so that the
    # next one starts at the provider.
    for name in (SSO_COOKIE, *(name for name in cookies if name.startswith(f"{SSO_COOKIE}_"))):
        if name in cookies:
            response.delete_cookie(name, path="/")


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


def _app_path(path: str) -> str:
    # The path within the app, whatever base URL it is served under (server.baseUrlPath).
    from streamlit import config as streamlit_config

    base = "/" + str(streamlit_config.get_option("server.baseUrlPath") or "").strip("/")
    if base != "/" and (path == base or path.startswith(f"{base}/")):
        return path[len(base) :] or "/"
    return path


def _needs_sign_in(path: str) -> bool:
    # Open: the sign-in routes, Streamlit's single sign-on routes and health check, and its
    # front-end files; anything else (a path that climbs with "..", too) needs a sign-in.
    if ".." in path.split("/"):
        return True
    return not (path in _OPEN_PATHS or path in _ASSET_FILES or path.startswith(_ASSET_PREFIX))


def _is_page(path: str) -> bool:
    # A page of the app (a navigation a person makes), as opposed to its files and endpoints (a
    # browser asks for /favicon.ico by itself: sent to the sign-in page, it would replace the
    # form token of the page the person is filling in).
    return not path.startswith(_APP_PREFIXES) and "." not in path.rsplit("/", 1)[-1]
