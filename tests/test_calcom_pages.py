"""No booking is lost when bookings change while the sync reads the pages: the fake of
tests/test_calcom.py pages with ``skip`` over the list sorted by ``updatedAt`` exactly as Cal.com
does (bookings.service.ts ``getBookings``, pagination.ts), so a booking updated between two
pages moves to the end and shifts the others by one."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from werkzeug import Response

from services.integrations import calcom
from tests.test_calcom import (  # noqa: F401
    FakeCalcom,
    _json,
    booking,
    bookings_by_ref,
    centre,
    cursor,
    fake,
    pagination,
    sync,
)


def test_a_booking_updated_between_two_pages_is_not_lost(fake: FakeCalcom, centre: Engine):  # noqa: F811
    # a, b, c, d updated on 8, 9, 10, 11 April; two per page. Page 1 gives a, b. Then a is
    # cancelled (updatedAt 12 April): the list is b, c, d, a and page 2 (skip 2) gives d, a —
    # c is skipped. Moving the cursor to 12 April lost c for good; the second pass finds it.
    for day, uid in ((8, "a"), (9, "b"), (10, "c"), (11, "d")):
        fake.bookings.append(booking(uid, email=f"{uid}@example.org", created=f"2020-04-{day:02d}T08:00:00Z"))

    def cancel_a(server: FakeCalcom) -> None:
        server.bookings[0] |= {"status": "cancelled", "updatedAt": "2020-04-12T08:00:00.000Z"}

    fake.before[2] = cancel_a
    summary = sync(page_size=2)

    stored = bookings_by_ref(centre)
    assert {"a", "b", "c", "d"} <= set(stored)
    assert stored["a"]["status"] == "cancelled"
    # Pass 1: a, b | d, a(new) → something new: pass 2: b, c | d, a → c is new: pass 3 reads
    # b, c | d, a, all already seen, same total: the cursor moves to a's 12 April.
    assert summary.passes == 3 and summary.error is None and not summary.unsettled
    assert cursor(centre) == "2020-04-12T08:00:00+00:00"
    # Each version of a booking is written once: a twice (booked, then cancelled), b, c, d once.
    assert (summary.read, summary.inserted, summary.updated) == (5, 4, 1)


def test_bookings_that_never_stop_changing_keep_the_cursor_where_it_was(
    fake: FakeCalcom,  # noqa: F811
    centre: Engine,  # noqa: F811
):
    for day, uid in ((8, "h1"), (9, "h2"), (10, "h3")):
        fake.bookings.append(booking(uid, email=f"{uid}@example.org", created=f"2020-04-{day:02d}T08:00:00Z"))

    def touch(moment: str):
        def change(server: FakeCalcom) -> None:
            server.bookings[0]["updatedAt"] = moment

        return change

    # Before every one of the 10 requests (5 passes of 2 pages), h1 changes again.
    for number in range(1, 2 * calcom.MAX_PASSES + 1):
        fake.before[number] = touch(f"2020-04-{10 + number:02d}T08:00:00.000Z")
    summary = sync(page_size=2)

    assert summary.error is None and summary.unsettled and summary.passes == calcom.MAX_PASSES
    assert {"h1", "h2", "h3"} <= set(bookings_by_ref(centre))  # what was read is stored
    assert cursor(centre) is None
    assert any("le curseur n'avance pas" in line for line in summary.problem_lines())


def test_a_page_that_repeats_what_the_pass_already_read_stops_the_sync(
    fake: FakeCalcom,  # noqa: F811
    centre: Engine,  # noqa: F811
):
    # Cal.com pages by offset: the page at skip=2 holds the 3rd and 4th bookings, and a skip past
    # the end gives an empty page (pagination.ts clamps it; bookings.service.ts passes skip to
    # the query). Something between (a cache that ignores the query string, a faulty replica)
    # answers the first page again for skip=2, in every pass. Before, the sync went on at skip=4:
    # c and d were never read, yet the pass looked clean (nothing new, same total) and the
    # cursor moved to f's 13 April, past c and d: lost. An answer to an offset that only repeats
    # bookings this pass already read is no page of the list: the sync stops, says so, and the
    # cursor stays.
    for day, uid in ((8, "a"), (9, "b"), (10, "c"), (11, "d"), (12, "e"), (13, "f")):
        fake.bookings.append(booking(uid, email=f"{uid}@example.org", created=f"2020-04-{day:02d}T08:00:00Z"))
    first = fake.bookings[:2]
    fake.failures[2] = [
        _json({"status": "success", "data": first, "pagination": pagination(0, 2, 6)}) for _ in range(10)
    ]
    summary = sync(page_size=2)

    assert summary.error == (
        "Cal.com GET /v2/bookings : la réponse à skip=2 ne redonne que des rendez-vous déjà lus "
        "(page 2) ; arrêt, le curseur ne bouge pas"
    )
    assert cursor(centre) is None
    assert {"a", "b"} <= set(bookings_by_ref(centre))  # the page read before stays stored
    # No personal data in what the user reads.
    assert "@" not in summary.error


def a_to_e(server: FakeCalcom) -> None:
    """Bookings a … e, updated on 8 … 12 April."""
    for day, uid in ((8, "a"), (9, "b"), (10, "c"), (11, "d"), (12, "e")):
        server.bookings.append(
            booking(uid, email=f"{uid}@example.org", created=f"2020-04-{day:02d}T08:00:00Z")
        )


def test_a_page_shorter_than_asked_is_the_last_whatever_the_total_says(
    fake: FakeCalcom,  # noqa: F811
    centre: Engine,  # noqa: F811
):
    # Five bookings a..e updated on 8..12 April; the first sync stores them all.
    a_to_e(fake)
    assert sync(page_size=3).error is None
    assert cursor(centre) == "2020-04-12T08:00:00+00:00"
    # Then c is cancelled on 13 April. The next sync asks from 12 April 07:59:59: e (read again)
    # and c, 2 bookings, fewer than the 3 asked: that answer is the whole list, one snapshot.
    # Cal.com's total still counts all 5 (get.handler.ts counts before the afterUpdatedAt
    # filter), so hasNextPage says « more » (0 + 3 < 5). Before, the sync believed it: page 2
    # (empty), and as two pages are no snapshot, a second pass of two more requests, four
    # requests where one says everything: four times the rate limit's share in the open days.
    fake.bookings[2] |= {"status": "cancelled", "updatedAt": "2020-04-13T08:00:00.000Z"}
    fake.queries.clear()
    progress: list[tuple[int, int | None]] = []
    summary = sync(page_size=3, progress=lambda done, total: progress.append((done, total)))

    assert len(fake.queries) == 1 and fake.queries[0]["skip"] == "0"
    # The data page's bar says page 1 of 1, not of Cal.com's 2 (5 bookings, 3 a page).
    assert progress == [(1, 1)]
    assert (summary.passes, summary.pages, summary.read, summary.updated) == (1, 1, 2, 1)
    assert bookings_by_ref(centre)["c"]["status"] == "cancelled"
    assert cursor(centre) == "2020-04-13T08:00:00+00:00"


def test_a_full_page_is_followed_even_when_the_total_says_it_was_the_last(
    fake: FakeCalcom,  # noqa: F811
    centre: Engine,  # noqa: F811
):
    # For a team admin's key, the later get.handler.ts counts a full page's total from the query
    # planner's estimate; here it says 2 for 5 bookings, so the first page (2 of 2 asked) says
    # hasNextPage false (0 + 2 < 2 is false). Before, the sync stopped there: a, b stored, the
    # cursor moved to b's 9 April, c, d, e left to later syncs, one page each, in the week when
    # every booking counts. A full page may be followed by more; the list ends at a page
    # shorter than asked (here the third: e alone).
    a_to_e(fake)
    fake.estimated = 2
    summary = sync(page_size=2)

    assert summary.error is None
    assert {"a", "b", "c", "d", "e"} <= set(bookings_by_ref(centre))
    assert [query["skip"] for query in fake.queries[:3]] == ["0", "2", "4"]
    assert cursor(centre) == "2020-04-12T08:00:00+00:00"


def test_a_page_size_the_site_caps_below_the_one_asked_is_still_read_to_the_end(
    fake: FakeCalcom,  # noqa: F811
    centre: Engine,  # noqa: F811
):
    # A site that gives at most 2 a page while 3 are asked, and says so (itemsPerPage 2, as
    # pagination.ts writes the page size it used): 2 is a full page, not the end.
    a_to_e(fake)

    def capped(skip: int) -> Response:
        page = fake.bookings[skip : skip + 2]
        return _json({"status": "success", "data": page, "pagination": pagination(skip, 2, 5)})

    for skip in (0, 2, 4):
        fake.failures[skip] = [capped(skip) for _ in range(2)]
    summary = sync(page_size=3)

    assert summary.error is None
    assert {"a", "b", "c", "d", "e"} <= set(bookings_by_ref(centre))
    assert cursor(centre) == "2020-04-12T08:00:00+00:00"
