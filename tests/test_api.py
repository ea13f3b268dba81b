"""The shared HTTP client against a real server on loopback: retries, waits, errors."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
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


def test_retry_after_as_an_http_date_and_its_ceiling(httpserver: HTTPServer):
    in_ten = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 8 <= api.requested_wait({"Retry-After": in_ten}) <= 10
    assert api.requested_wait({"Retry-After": "-5"}) == 0.0
    # Past MAX_RATE_LIMIT_WAIT_SECONDS (10 min) the client does not wait: it says what was asked.
    httpserver.expect_request("/v1/later").respond_with_data("", status=429, headers={"Retry-After": "3600"})
    with pytest.raises(api.ApiError, match="le service demande d'attendre 3600 s ; relancez plus tard"):
        client(httpserver, []).get("/v1/later")
    # Without a word from the server, the backoff never exceeds a minute.
    assert all(0 <= api.wait_seconds(attempt) <= api.MAX_WAIT_SECONDS for attempt in range(1, 20))


def test_no_key_no_client():
    with pytest.raises(api.ApiError, match="clé d'API absente"):
        api.ApiClient("Whereby", "http://127.0.0.1:1", "")


def _raw_server(answer: Callable[[socket.socket, int], None], answers: int) -> tuple[str, list[int]]:
    """A server on loopback that writes its answers by hand: ``answer(connection, n)`` for the
    n-th request (1-based), ``answers`` of them; the list counts the requests served."""
    listener = socket.create_server(("127.0.0.1", 0))
    served: list[int] = []

    def serve() -> None:
        with listener:
            while len(served) < answers:
                connection, _ = listener.accept()
                with connection:
                    connection.recv(65536)
                    served.append(1)
                    try:
                        answer(connection, len(served))
                    except OSError:  # the client hung up first
                        pass

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", served


def _cut_server(answers: int) -> tuple[str, list[int]]:
    """Announces a JSON body of 1000 bytes, sends 15 and hangs up: a connection cut in the middle
    of an answer (a proxy or a load balancer restarting). ``answers`` times, then a whole
    ``{"ok": true}``."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"

    def answer(connection: socket.socket, number: int) -> None:
        if number <= answers:
            connection.sendall(head + b'Content-Length: 1000\r\n\r\n{"status":"succ')
        else:
            connection.sendall(head + b'Content-Length: 12\r\n\r\n{"ok": true}')

    return _raw_server(answer, answers + 1)


def test_a_connection_cut_in_the_middle_of_an_answer_is_a_broken_connection():
    # requests raises ChunkedEncodingError (not a ConnectionError) when the body stops short of
    # its Content-Length (requests' models.py, iter_content: urllib3's ProtocolError becomes
    # ChunkedEncodingError). Like any broken connection: a GET is tried again...
    url, served = _cut_server(answers=2)
    waits: list[float] = []
    answer = api.ApiClient("Test", url, KEY, timeout=(1.0, 2.0), sleep=waits.append).get("/v1/x")
    assert answer == {"ok": True} and len(served) == 3 and len(waits) == 2
    # ... a POST, which the server may have carried out, is uncertain; the message says where.
    url, served = _cut_server(answers=5)
    with pytest.raises(api.ApiUncertain, match=r"^Test POST /v1/meetings : réponse coupée") as cut:
        api.ApiClient("Test", url, KEY, sleep=waits.append).request("POST", "/v1/meetings", json={})
    assert len(served) == 1 and KEY not in str(cut.value)
    # ... and a GET cut every time stops with a clear error after the bounded attempts.
    url, served = _cut_server(answers=5)
    with pytest.raises(api.ApiError, match=r"^Test GET /v1/x : réponse coupée"):
        api.ApiClient("Test", url, KEY, sleep=waits.append).get("/v1/x")
    assert len(served) == api.MAX_ATTEMPTS


def test_a_wrong_address_says_so():
    # A setting without its scheme (« api.cal.com ») makes requests raise MissingSchema, a
    # ValueError that no caller expects: it must be the client's error, naming the service.
    with pytest.raises(api.ApiError, match=r"^Test GET /v1/x : requête impossible \(MissingSchema\)"):
        api.ApiClient("Test", "api.cal.com", KEY, sleep=lambda _: None).get("/v1/x")


def test_a_huge_answer_fails_instead_of_filling_the_memory(monkeypatch: pytest.MonkeyPatch):
    # Neither Cal.com nor Whereby bound what a broken proxy or a page ignoring ``take`` may send:
    # the client reads at most MAX_BODY_BYTES (here 1 MB, the server sends 3 MB in chunks).
    monkeypatch.setattr(api, "MAX_BODY_BYTES", 1_000_000)

    def answer(connection: socket.socket, number: int) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        connection.sendall(b"Transfer-Encoding: chunked\r\n\r\n")
        piece = b"[" + b"0," * 50_000
        for _ in range(30):
            connection.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))

    url, served = _raw_server(answer, 1)
    with pytest.raises(api.ApiError, match=r"^Test GET /v1/x : réponse trop grande \(plus de 1 Mo\)"):
        api.ApiClient("Test", url, KEY, sleep=lambda _: None).get("/v1/x")
    assert len(served) == 1  # a bigger answer next time would not help: not retried
