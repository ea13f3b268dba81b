"""Cal.com's rate limit against the fake of tests/test_calcom.py, which throttles as Cal.com's
apps/api/v2/src/lib/throttler/throttler-guard.ts does: a 429 with no ``Retry-After``, only
``X-RateLimit-{Limit,Remaining,Reset}-Default``, and the key blocked for a while. The client's
sleep moves the fake's clock: nothing really waits."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from services.__main__ import main
from services.integrations import api, calcom
from tests.test_calcom import FakeCalcom, booking, bookings_by_ref, centre, fake  # noqa: F401


def sync(server: FakeCalcom, **kwargs: object) -> calcom.SyncSummary:
    return calcom.sync_bookings(actor="admin@test", client=calcom.calcom_client(sleep=server.sleep), **kwargs)


def five_bookings(server: FakeCalcom) -> None:
    """r8 … r12, updated on 8 … 12 April: with two a page, three pages a pass (2, 2, 1)."""
    for day in (8, 9, 10, 11, 12):
        server.bookings.append(
            booking(f"r{day}", email=f"r{day}@example.org", created=f"2020-04-{day:02d}T08:00:00Z")
        )


MESSAGE = (
    "Cal.com GET /v2/bookings : limite de débit atteinte (limite : 2 requêtes par fenêtre), "
    "attente de 60 s avant de reprendre"
)


def test_a_429_without_retry_after_waits_the_reset_header_and_the_sync_finishes(
    fake: FakeCalcom,  # noqa: F811
    centre: Engine,  # noqa: F811
):
    # Two requests a minute, then 60 s blocked. Another tool spent this minute just before: the
    # sync's first request is the third, a 429 with Reset-Default 60 and no Retry-After. The
    # client waits those 60 s; then, in each new window, the second answer says the minute is
    # spent (Remaining-Default 0) and the next request waits its 60 s instead of a 429.
    # Requests: 1 (429) | 60 s | 1, 2 | 60 s | 3, 4 | 60 s | 5, 6 — two passes of 3 pages.
    fake.limit = 2
    fake._throttle(), fake._throttle()
    five_bookings(fake)
    told: list[str] = []
    summary = sync(fake, page_size=2, waiting=told.append)

    assert summary.error is None and summary.inserted == 5
    assert fake.throttled == 1 and fake.slept == [60.0, 60.0, 60.0]
    assert told == [MESSAGE] * 3 and summary.waits == told
    assert "limite de débit du site : 3 pause(s), 180 s d'attente" in summary.report_lines()
    assert set(bookings_by_ref(centre)) >= {"r8", "r9", "r10", "r11", "r12"}


def test_an_answer_that_spends_the_limit_is_followed_by_a_pause_not_by_a_429(
    fake: FakeCalcom,  # noqa: F811
    centre: Engine,  # noqa: F811
):
    # The same two calls a minute. Every answer says what is left (throttler-guard.ts):
    # request 2 answers Remaining-Default 0, Reset-Default 60. Before, the sync sent request 3
    # anyway: a 429, and Cal.com blocks the key for its block duration from that call (60 s by
    # default, up to an hour for a key with its own limits) — for every other use of the key,
    # the webhooks' reads included. Now it waits for the window the answer names, and Cal.com
    # never has to refuse a call: same pauses, no 429.
    fake.limit = 2
    five_bookings(fake)
    summary = sync(fake, page_size=2)

    assert summary.error is None and summary.inserted == 5
    assert fake.throttled == 0
    # Requests 1-2 | 60 s | 3-4 | 60 s | 5-6 (the second pass ends the sync: no pause after).
    assert fake.slept == [60.0, 60.0] and len(fake.queries) == 6


def test_the_command_line_says_it_waits_and_exits_0(
    fake: FakeCalcom,  # noqa: F811
    centre: Engine,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
):
    fake.bookings.append(booking("w1", email="w1@example.org"))
    made = calcom.calcom_client
    monkeypatch.setattr(calcom, "calcom_client", lambda sleep=None: made(sleep=fake.sleep))
    # Another tool spent the key's minute just before: the sync's first request is refused.
    fake.limit = 1
    fake._throttle()
    assert main(["sync", "bookings"]) == 0
    out, err = capsys.readouterr()
    assert (
        "Cal.com GET /v2/bookings : limite de débit atteinte (limite : 1 requêtes par fenêtre), "
        "attente de 60 s avant de reprendre" in err.splitlines()
    )
    assert fake.slept and all(wait == 60.0 for wait in fake.slept)
    assert "Cal.com : " in out and "pause(s)" in out


def test_a_block_longer_than_the_ceiling_stops_with_what_the_site_asked(
    fake: FakeCalcom,  # noqa: F811
    centre: Engine,  # noqa: F811
):
    # A key with its own limit (one call a minute, then an hour blocked). The sync itself waits
    # for the window once an answer says the minute is spent (Remaining-Default 0), but
    # something else using the key meanwhile (the webhooks' reads) goes past it: the key is
    # blocked for an hour. Waiting is not worth it, the sync says so; page 1 stays stored.
    fake.limit, fake.block = 1, 3600.0
    fake.bookings += [booking("b1", email="b1@example.org"), booking("b2", email="b2@example.org")]

    def another_tool(server: FakeCalcom) -> None:
        server._throttle(), server._throttle()

    fake.before[2] = another_tool
    summary = sync(fake, page_size=1)
    assert summary.error == (
        "Cal.com GET /v2/bookings : HTTP 429, le service demande d'attendre 3600 s ; relancez plus tard"
    )
    assert fake.slept == [60.0] and summary.inserted == 1


def test_the_first_spent_limit_to_reset_sets_the_wait():
    # A key with two limits (the « short » and « long » of Cal.com's global-throttler e2e spec):
    # a 429 means both are spent; the next call goes through once the first one resets.
    headers = {
        "X-RateLimit-Limit-Short": "2",
        "X-RateLimit-Remaining-Short": "0",
        "X-RateLimit-Reset-Short": "2",
        "X-RateLimit-Limit-Long": "3",
        "X-RateLimit-Remaining-Long": "0",
        "X-RateLimit-Reset-Long": "4",
    }
    assert api.requested_wait(headers) == 2.0
    # A limit that is not spent does not hold the call back.
    assert api.requested_wait({**headers, "X-RateLimit-Remaining-Short": "1"}) == 4.0
    # Retry-After, where a vendor sends it, comes first; nothing said: None (backoff).
    assert api.requested_wait({**headers, "Retry-After": "7"}) == 7.0
    assert api.requested_wait({}) is None
