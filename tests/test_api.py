"""The shared HTTP client against a real server on loopback: retries, waits, errors."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from services.integrations import api

KEY = "sk-test-ne-doit-jamais-apparaitre"


def client(server: HTTPServer, waits: list[float], timeout: float = 2.0) -> api.ApiClient:
    return api.ApiClient(
        "Test", server.url_for(""), KEY, timeout=(1.0, timeout), sleep=waits.append, backoff=0.5
    )


def test_a_429_waits_what_retry_after_asks_then_succeeds(httpserver: HTTPServer):
    httpserver.expect_ordered_request("/v1/x").respond_with_data("", status=429, headers={"Retry-After": "7"})
    httpserver.expect_ordered_request("/v1/x").respond_with_json({"ok": True})
    waits: list[float] = []
    assert client(httpserver, waits).get("/v1/x") == {"ok": True}
    assert waits == [7.0]
    # The key went in the Authorization header only.
    assert httpserver.log[0][0].headers["Authorization"] == f"Bearer {KEY}"


def test_a_500_is_not_retried_but_a_503_is(httpserver: HTTPServer):
    httpserver.expect_ordered_request("/v1/y").respond_with_data("", status=503)
    httpserver.expect_ordered_request("/v1/y").respond_with_json([1, 2])
    waits: list[float] = []
    assert client(httpserver, waits).get("/v1/y") == [1, 2]
    # Exponential backoff with full jitter: the first wait is within [0, 0.5].
    assert len(waits) == 1 and 0 <= waits[0] <= 0.5
    httpserver.expect_request("/v1/z").respond_with_json({"error": "boom"}, status=500)
    with pytest.raises(api.ApiError, match=r"Test GET /v1/z : HTTP 500 \(boom\)"):
        client(httpserver, waits).get("/v1/z")


def test_the_backoff_doubles_and_the_attempts_are_bounded(httpserver: HTTPServer):
    httpserver.expect_request("/v1/busy").respond_with_data("", status=502)
    waits: list[float] = []
    with pytest.raises(api.ApiError, match="HTTP 502"):
        client(httpserver, waits).get("/v1/busy")
    # 5 attempts, 4 waits, each within its doubling ceiling 0.5, 1, 2, 4.
    assert len(httpserver.log) == 5
    assert [wait <= ceiling for wait, ceiling in zip(waits, (0.5, 1, 2, 4), strict=True)] == [True] * 4


def test_a_refused_key_and_invalid_json_say_so_without_the_key(httpserver: HTTPServer):
    httpserver.expect_request("/v1/me").respond_with_json({"message": "nope"}, status=401)
    httpserver.expect_request("/v1/bad").respond_with_data("<html>oops", content_type="text/html")
    with pytest.raises(api.ApiAuthError, match="clé d'API refusée") as refused:
        client(httpserver, []).get("/v1/me")
    with pytest.raises(api.ApiError, match="pas du JSON valide") as invalid:
        client(httpserver, []).get("/v1/bad")
    assert KEY not in str(refused.value) and KEY not in str(invalid.value)
    assert len(httpserver.log) == 2  # neither was retried


def test_a_post_that_timed_out_is_never_repeated_blindly(httpserver: HTTPServer):
    def slow(request: Request) -> Response:
        time.sleep(1.5)  # the server acted, but answers after the client's 1 s
        return Response('{"meetingId": "1"}', content_type="application/json")

    httpserver.expect_request("/v1/meetings", method="POST").respond_with_handler(slow)
    with pytest.raises(api.ApiUncertain, match="pas de réponse"):
        client(httpserver, [], timeout=1.0).request("POST", "/v1/meetings", json={})
    # The server logs a request once its handler has answered: wait for the slow one (the client
    # gave up and retried nothing before raising, so nothing else can arrive after it).
    deadline = time.monotonic() + 10
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(httpserver.log) == 1


def test_a_post_is_retried_when_the_server_surely_did_nothing(httpserver: HTTPServer):
    httpserver.expect_ordered_request("/v1/meetings", method="POST").respond_with_data(
        "", status=429, headers={"Retry-After": "0"}
    )
    httpserver.expect_ordered_request("/v1/meetings", method="POST").respond_with_json({"meetingId": "2"})
    assert client(httpserver, []).request("POST", "/v1/meetings", json={}) == {"meetingId": "2"}
    httpserver.expect_request("/v1/gw", method="POST").respond_with_data("", status=504)
    with pytest.raises(api.ApiUncertain, match="HTTP 504"):
        client(httpserver, []).request("POST", "/v1/gw", json={})


def test_retry_after_as_an_http_date_and_its_ceiling():
    in_ten = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 8 <= api.wait_seconds(1, in_ten) <= 10
    assert api.wait_seconds(1, "3600") == api.MAX_WAIT_SECONDS
    assert api.wait_seconds(1, "-5") == 0.0


def test_no_key_no_client():
    with pytest.raises(api.ApiError, match="clé d'API absente"):
        api.ApiClient("Whereby", "http://127.0.0.1:1", "")
