"""Seated events and bookings without an attendee's e-mail, against the fake of
tests/test_calcom.py. A seated booking is what Cal.com's
apps/api/v2/src/ee/bookings/2024-08-13/services/output.service.ts (``getOutputSeatedBooking``)
writes: no ``bookingFieldsResponses`` nor ``guests`` of its own, each attendee with its
``seatUid``, its ``bookingFieldsResponses`` without the e-mail (« not returned for privacy »)
and its ``metadata``; with the attendees hidden from the key, ``attendees`` is empty."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from services.integrations import calcom_bookings
from services.store.models import Candidate, Touchpoint
from tests.test_calcom import FakeCalcom, booking, bookings_by_ref, centre, fake, ref_of, rows, sync  # noqa: F401


def seat(number: int, email: str, name: str, *, absent: bool = False, responses: dict | None = None) -> dict:
    """One attendee of a seated booking, as ``SeatedAttendee``."""
    return {
        "name": name,
        "email": email,
        "timeZone": "Europe/Paris",
        "language": "fr",
        "absent": absent,
        "seatUid": f"3be561a9-31f1-4b8e-aefc-9d9a085f0d{number:02d}",
        "bookingFieldsResponses": {"name": name, **(responses or {})},
        "metadata": {},
    }


def seated(uid: str, seats: list[dict], *, updated: str = "2020-04-08T08:00:00.000Z") -> dict:
    """A seated booking (event type 101) as ``GetSeatedBookingOutput_2024_08_13``."""
    whole = booking(uid, updated=updated)
    for name in ("guests", "bookingFieldsResponses", "metadata"):
        del whole[name]
    whole["attendees"] = seats
    return whole


SEAT = "3be561a9-31f1-4b8e-aefc-9d9a085f0d"


def test_every_seat_becomes_a_candidate_with_its_own_booking(fake: FakeCalcom, centre: Engine):  # noqa: F811
    fake.bookings.append(
        seated(
            "grp1",
            [
                seat(1, "lea@example.org", "Léa Martin", responses={"utm_source": "facebook"}),
                seat(2, "hugo@example.org", "Hugo Petit", absent=True),
                seat(3, "alice@example.org", "Alice Durand"),  # the scenario's candidate CA
            ],
        )
    )
    summary = sync()
    assert summary.problems == [] and summary.error is None

    stored = bookings_by_ref(centre)
    refs = {f"grp1.{SEAT}01", f"grp1.{SEAT}02", f"grp1.{SEAT}03"}
    assert refs <= set(stored) and "grp1" not in stored
    people = {stored[ref]["candidate_ref"]: stored[ref] for ref in refs}
    assert set(people) == {ref_of("lea@example.org"), ref_of("hugo@example.org"), "CA"}
    # Each seat is one person in the room; Hugo was marked absent on the site.
    assert {row["attendees"] for row in people.values()} == {1}
    assert people[ref_of("hugo@example.org")]["status"] == "no_show"
    assert people["CA"]["status"] == "booked" and people["CA"]["site_code"] == "MAX"
    assert summary.candidates_inserted == 2  # Léa and Hugo; Alice is known
    names = {row["email"]: (row["first_name"], row["last_name"]) for row in rows(centre, Candidate)}
    assert names["hugo@example.org"] == ("Hugo", "Petit")
    # Léa's seat answered the hidden UTM question: her visit, and only hers.
    visits = [row for row in rows(centre, Touchpoint) if row["candidate_ref"].startswith("cal-")]
    assert [(row["candidate_ref"], row["utm_source"]) for row in visits] == [
        (ref_of("lea@example.org"), "facebook")
    ]

    # Hugo's seat leaves the booking after the interview: his no_show is an outcome the site
    # never replaces, so it stays (no « place libérée » either).
    fake.bookings[0] = seated(
        "grp1", [fake.bookings[0]["attendees"][i] for i in (0, 2)], updated="2020-04-09T08:00:00Z"
    )
    summary = sync()
    assert bookings_by_ref(centre)[f"grp1.{SEAT}02"]["status"] == "no_show"
    assert (summary.problems, summary.warnings) == ([], [])


def test_a_seat_given_up_on_the_site_is_cancelled_and_the_older_row_kept(fake: FakeCalcom, centre: Engine):  # noqa: F811
    # The older sync stored this booking under its uid with its first attendee only (Léa).
    fake.bookings.append(booking("grp2", email="lea@example.org"))
    sync()
    assert bookings_by_ref(centre)["grp2"]["candidate_ref"] == ref_of("lea@example.org")

    fake.bookings[0] = seated(
        "grp2",
        [seat(1, "lea@example.org", "Léa Martin"), seat(2, "hugo@example.org", "Hugo Petit")],
        updated="2020-04-09T08:00:00Z",
    )
    sync()
    stored = bookings_by_ref(centre)
    # Léa keeps the booking stored under the uid (its history stays); Hugo gets his seat's.
    assert stored["grp2"]["candidate_ref"] == ref_of("lea@example.org")
    assert stored[f"grp2.{SEAT}02"]["candidate_ref"] == ref_of("hugo@example.org")
    assert f"grp2.{SEAT}01" not in stored

    # Hugo gives up his seat (Cal.com removes the attendee): his booking becomes cancelled.
    fake.bookings[0] = seated(
        "grp2", [seat(1, "lea@example.org", "Léa Martin")], updated="2020-04-10T08:00:00Z"
    )
    summary = sync()
    stored = bookings_by_ref(centre)
    assert stored[f"grp2.{SEAT}02"]["status"] == "cancelled" and stored["grp2"]["status"] == "booked"
    assert [(w.uid, w.reason) for w in summary.warnings if "place" in w.reason] == [
        (f"grp2.{SEAT}02", "place libérée sur le site : annulée")
    ]


def test_hidden_attendees_are_refused_saying_what_to_change(fake: FakeCalcom, centre: Engine):  # noqa: F811
    fake.bookings.append(seated("grp3", []))
    summary = sync()
    assert [(p.uid, p.reason) for p in summary.problems] == [("grp3", calcom_bookings.HIDDEN_ATTENDEES)]
    assert "propriétaire ou administrateur de l'équipe" in calcom_bookings.HIDDEN_ATTENDEES
    assert "afficher les participants" in calcom_bookings.HIDDEN_ATTENDEES
    assert "grp3" not in bookings_by_ref(centre)


def test_an_attendee_without_e_mail_falls_back_on_the_booking_form(fake: FakeCalcom, centre: Engine):  # noqa: F811
    # Older Cal.com versions: the attendee has no e-mail (o1), or there is no attendee list at
    # all (o2); the booking form's answers (bookingFieldsResponses) hold the e-mail and the
    # name, which may come as {firstName, lastName}.
    first = booking("o1", email=None, name="")
    first["bookingFieldsResponses"] = {"email": "Old.One@Example.org", "name": "Inès Bernard"}
    second = booking("o2", email=None)
    del second["attendees"]
    second["bookingFieldsResponses"] = {
        "email": "old.two@example.org",
        "name": {"firstName": "Jean", "lastName": "De la Tour"},
    }
    fake.bookings += [first, second]
    summary = sync()
    assert summary.problems == []
    stored = bookings_by_ref(centre)
    assert stored["o1"]["candidate_ref"] == ref_of("old.one@example.org")
    assert stored["o2"]["candidate_ref"] == ref_of("old.two@example.org")
    names = {row["email"]: (row["first_name"], row["last_name"]) for row in rows(centre, Candidate)}
    assert names["old.one@example.org"] == ("Inès", "Bernard")
    assert names["old.two@example.org"] == ("Jean", "De la Tour")
