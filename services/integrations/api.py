"""One HTTP client for the outside APIs (Cal.com, Whereby): a session per client, a timeout on
every call, retries with exponential backoff and jitter where a retry is safe, and errors that
say what failed and where, in French, never with the key.

Retried: 429, 502, 503, 504, connection errors and answers cut short. A 429 (or a 503 saying
when to come back) waits what the server asks: ``Retry-After`` (seconds or an HTTP date), else
the rate-limit reset headers ``X-RateLimit-Reset-<name>`` (seconds; Cal.com sends these and no
``Retry-After``, see docs/configuration.md), else the body's ``data.msLeft`` (Whereby), else
exponential backoff; each such wait is told to
``on_wait`` so that a command line or a page can say why it pauses. An answer that says the
budget is spent (every ``X-RateLimit-Remaining[-<name>]`` at 0) makes the next call wait for the
reset first, instead of drawing a 429 (at Cal.com, a block of the key). Never retried: other 4xx
(401/403 say the key is refused), a request that cannot be sent (a malformed address), an
answer over ``MAX_BODY_BYTES``. A
request that is not idempotent (a POST that creates something) is retried only when the server
said it did nothing (429, 503, a refused connection); after a timeout, a 502/504 or an answer
cut short the server may have acted, so the caller gets
``ApiUncertain`` and reconciles before trying again.
"""

from __future__ import annotations

import json as json_module
import math
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests

#: Seconds to wait for a connection and for an answer.
TIMEOUT = (5.0, 20.0)
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 0.5
MAX_WAIT_SECONDS = 60.0
#: The longest wait a rate limit may ask for; beyond it the call fails with what the server said
#: (Cal.com blocks a key for 60 s by default; an account with its own limits may block longer).
MAX_RATE_LIMIT_WAIT_SECONDS = 600.0
#: Waits shorter than this are not told to ``on_wait`` (ordinary backoff between retries).
NOTICE_SECONDS = 1.0
RETRIED_STATUSES = {429, 502, 503, 504}
#: An answer whose body stopped short of what its headers announced (requests' ``iter_content``
#: turns urllib3's broken read into these, not into a ``ConnectionError``).
_CUT = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
#: The largest answer read (a page of 250 Cal.com bookings is well under 2 MB): past it the call
#: fails instead of filling the memory.
MAX_BODY_BYTES = 20_000_000
#: Statuses after which a non-idempotent request surely did nothing.
NOTHING_DONE_STATUSES = {429, 503}


class ApiError(RuntimeError):
    """A call to an outside API failed; the message says which service, what and why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        #: The HTTP status of the answer, when there was one (a 404 may mean "already gone").
        self.status = status


class ApiAuthError(ApiError):
    """The API refused the key (401/403)."""


class ApiUncertain(ApiError):
    """A non-idempotent call may or may not have been carried out (timeout, 502/504)."""


class ApiClient:
    """A client of one API: base URL, bearer key, fixed headers, one ``requests.Session``."""

    def __init__(
        self,
        service: str,
        base_url: str,
        key: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: tuple[float, float] = TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
        backoff: float = BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[float, str], None] | None = None,
    ) -> None:
        if not key:
            raise ApiError(f"{service} : clé d'API absente (voir docs/configuration.md)")
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.sleep = sleep
        #: Told ``(seconds, message in French)`` before each wait of a second or more.
        self.on_wait = on_wait
        #: When the server said the last call spent the key's budget: (seconds until it lets calls
        #: through, the call, what to tell), waited before the next call instead of spending a
        #: 429 on it (and, at Cal.com, a block of the key).
        self._spent: tuple[float, str, str] | None = None
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {key}", "Accept": "application/json"})
        self.session.headers.update(headers or {})

    def get(self, path: str, params: dict | None = None) -> object:
        """GET a JSON document (idempotent: retried)."""
        return self.request("GET", path, params=params)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json: object = None,
        idempotent: bool | None = None,
    ) -> object:
        """Send a request and return its JSON (None for an empty answer), retrying where safe."""
        idempotent = method in {"GET", "PUT", "DELETE", "HEAD"} if idempotent is None else idempotent
        where = f"{self.service} {method} {path}"
        self._wait_spent_budget()
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            try:
                response = self.session.request(
                    method, self.base_url + path, params=params, json=json, timeout=self.timeout, stream=True
                )
                content = _bounded_body(response, where)
            except requests.ConnectionError as error:
                # A refused connection never reached the server; a broken one may have.
                refused = isinstance(error, requests.ConnectTimeout) or "refused" in str(error).lower()
                if last or not (idempotent or refused):
                    raise (ApiError if refused else ApiUncertain)(
                        f"{where} : serveur injoignable ({type(error).__name__})"
                    ) from None
                self._backoff(attempt)
                continue
            except requests.Timeout:
                if last or not idempotent:
                    raise ApiUncertain(f"{where} : pas de réponse en {self.timeout[1]:g} s") from None
                self._backoff(attempt)
                continue
            except _CUT as error:
                # The answer stopped short (its connection broke while it was read): the server
                # had the request, so only an idempotent one is sent again.
                if last or not idempotent:
                    error_type = ApiError if idempotent else ApiUncertain
                    raise error_type(f"{where} : réponse coupée ({type(error).__name__})") from None
                self._backoff(attempt)
                continue
            except requests.RequestException as error:
                # Never sent: a malformed address (setting without https://), too many redirects…
                raise ApiError(f"{where} : requête impossible ({type(error).__name__})") from None
            if response.status_code in RETRIED_STATUSES:
                if last or not (idempotent or response.status_code in NOTHING_DONE_STATUSES):
                    error = ApiError if response.status_code in NOTHING_DONE_STATUSES else ApiUncertain
                    raise error(f"{where} : HTTP {response.status_code} ({_reason(response, content)})")
                self._wait_after(attempt, response, content, where)
                continue
            if response.status_code in {401, 403}:
                raise ApiAuthError(
                    f"{where} : HTTP {response.status_code}, clé d'API refusée (vérifiez-la et ses droits)"
                )
            if response.status_code >= 400:
                status = response.status_code
                raise ApiError(f"{where} : HTTP {status} ({_reason(response, content)})", status=status)
            self._note_budget(response, where)
            if not content:
                return None
            try:
                return json_module.loads(content)
            except ValueError:
                raise ApiError(f"{where} : réponse qui n'est pas du JSON valide") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _note_budget(self, response: requests.Response, where: str) -> None:
        """Remember when the rate limit lets calls through again if this answer spent it: every
        ``X-RateLimit-Remaining[-<name>]`` at 0 (Cal.com answers 429 only when all its limits
        are spent, then blocks the key; Whereby counts points)."""
        remaining = [
            value.strip()
            for name, value in response.headers.items()
            if name.lower() == "x-ratelimit-remaining" or name.lower().startswith(_REMAINING)
        ]
        seconds = requested_wait(response.headers) if remaining and set(remaining) == {"0"} else None
        if not seconds:
            self._spent = None
            return
        self._spent = (seconds, where, _limit_message(where, response.headers, seconds))

    def _wait_spent_budget(self) -> None:
        """Before a call: wait what the previous answer said was left of a spent rate limit (all
        of it: the page stored between them takes well under a second)."""
        if self._spent is None:
            return
        seconds, where, message = self._spent
        self._spent = None
        if seconds > MAX_RATE_LIMIT_WAIT_SECONDS:
            raise ApiError(
                f"{where} : le service demande d'attendre {math.ceil(seconds)} s ; relancez plus tard"
            )
        if self.on_wait is not None and seconds >= NOTICE_SECONDS:
            self.on_wait(seconds, message)
        self.sleep(seconds)

    def _backoff(self, attempt: int) -> None:
        self.sleep(wait_seconds(attempt, self.backoff))

    def _wait_after(self, attempt: int, response: requests.Response, content: bytes, where: str) -> None:
        """Wait before retrying an answer the server asked us to retry: what it asked, if it did."""
        asked = requested_wait(response.headers)
        if asked is None:
            asked = _body_wait(content)
        if asked is None:
            seconds = wait_seconds(attempt, self.backoff)
            message = f"{where} : HTTP {response.status_code}, nouvel essai dans {math.ceil(seconds)} s"
        elif asked > MAX_RATE_LIMIT_WAIT_SECONDS:
            raise ApiError(
                f"{where} : HTTP {response.status_code}, le service demande d'attendre "
                f"{math.ceil(asked)} s ; relancez plus tard",
                status=response.status_code,
            )
        else:
            seconds = asked
            message = _limit_message(where, response.headers, seconds)
        if self.on_wait is not None and seconds >= NOTICE_SECONDS:
            self.on_wait(seconds, message)
        self.sleep(seconds)


def _limit_message(where: str, headers: Mapping[str, str], seconds: float) -> str:
    """What a pause for the rate limit tells: which call, the limit when known, how long."""
    limit = _rate_limit(headers)
    quota = f" (limite : {limit} requêtes par fenêtre)" if limit else ""
    return f"{where} : limite de débit atteinte{quota}, attente de {math.ceil(seconds)} s avant de reprendre"


def _bounded_body(response: requests.Response, where: str) -> bytes:
    """The body of a streamed answer, read up to ``MAX_BODY_BYTES``."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ApiError(
                    f"{where} : réponse trop grande (plus de {MAX_BODY_BYTES // 1_000_000} Mo), "
                    "rien n'en est lu",
                    status=response.status_code,
                )
            chunks.append(chunk)
    finally:
        response.close()
    return b"".join(chunks)


def requested_wait(headers: Mapping[str, str]) -> float | None:
    """The seconds a server asks to wait before the next call, or None when it does not say.

    ``Retry-After`` (seconds or an HTTP date) first. Else Whereby's ``X-RateLimit-Reset`` (a date,
    its reference's « Rate limiting »). Else the rate-limit headers ``X-RateLimit-Reset-<name>``
    (seconds until the limit ``<name>`` lets calls through again): Cal.com sends one trio
    ``Limit``/``Remaining``/``Reset`` per limit of the key (``Default`` unless the key has its
    own) and answers 429 only when every limit is spent, so the first spent limit to reset lets
    the next call through (apps/api/v2/src/lib/throttler/throttler-guard.ts in calcom/cal.com).
    """
    retry_after = headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    for date in (retry_after, headers.get("X-RateLimit-Reset")):
        seconds = _seconds_until(date)
        if seconds is not None:
            return seconds
    resets: dict[str, float] = {}
    spent: set[str] = set()
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(_RESET):
            try:
                resets[lowered.removeprefix(_RESET)] = max(0.0, float(value))
            except ValueError:
                continue
        elif lowered.startswith(_REMAINING) and value.strip() == "0":
            spent.add(lowered.removeprefix(_REMAINING))
    chosen = [seconds for name, seconds in resets.items() if name in spent] or list(resets.values())
    return min(chosen) if chosen else None


def _body_wait(content: bytes) -> float | None:
    """The wait a 429's body asks for: Whereby's ``data.msLeft`` (milliseconds; its reference's
    ``ThrottleError``), for an answer whose headers say nothing."""
    try:
        body = json_module.loads(content)
    except ValueError:
        return None
    data = body.get("data") if isinstance(body, dict) else None
    left = data.get("msLeft") if isinstance(data, dict) else None
    if isinstance(left, bool) or not isinstance(left, int | float) or left < 0:
        return None
    return left / 1000


def _seconds_until(text: str | None) -> float | None:
    """The seconds until a date given as an HTTP date or in ISO 8601, None if it is neither."""
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


_RESET = "x-ratelimit-reset-"
_REMAINING = "x-ratelimit-remaining-"
_LIMIT = "x-ratelimit-limit-"


def _rate_limit(headers: Mapping[str, str]) -> str | None:
    """The smallest ``X-RateLimit-Limit-<name>`` the answer gives, to say what was exceeded."""
    limits = []
    for name, value in headers.items():
        if name.lower().startswith(_LIMIT) and value.strip().isdigit():
            limits.append(int(value.strip()))
    return str(min(limits)) if limits else None


def wait_seconds(attempt: int, backoff: float = BACKOFF_SECONDS) -> float:
    """How long to wait before attempt ``attempt + 1`` when the server did not say
    (``requested_wait``): exponential backoff with full jitter, never more than a minute."""
    return random.uniform(0, min(MAX_WAIT_SECONDS, backoff * 2 ** (attempt - 1)))


def _reason(response: requests.Response, content: bytes) -> str:
    # The API's own message when it gives one (never the request, which holds the key).
    try:
        body = json_module.loads(content)
    except ValueError:
        return response.reason or "erreur"
    if isinstance(body, dict):
        error = body.get("error") or body.get("message")
        if isinstance(error, dict):
            error = error.get("message") or error.get("code")
        if error:
            return str(error)[:200]
    return response.reason or "erreur"
