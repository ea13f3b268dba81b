"""Whereby as it documents itself (see tests/test_whereby.py for the fake and its sources):
``externalId`` rules, every ``roleName``, a room that no longer fits, a 403 for a plan limit.

Same centre as tests/test_whereby.py (B1 1 person, B2 4 people, B3 3 people; "now" 10 April).
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from services.advising import outcomes
from services.integrations import whereby_attendance
from services.store import database
from services.store.models import BookingChange
from services.store.room_links import EXTERNAL_ID, external_id, link_external_id
from tests import test_whereby
from tests.conftest import load
from tests.test_whereby import (
    ANNE,
    BOOKINGS,
    FakeWhereby,
    _json,
    attempts,
    audited,
    booking,
    rooms,
    sync_attendance,
    sync_rooms,
)

server, fake, client, waits, centre, calls = (
    test_whereby.server,
    test_whereby.fake,
    test_whereby.client,
    test_whereby.waits,
    test_whereby.centre,
    test_whereby.calls,
)

#: Refs our booking contract takes (any text up to 64 characters) that Whereby would refuse.
SLASH, SPACE = "RDV-2027/001", "RDV 2027 002"
LONG = "RDV-2027-PORTES-OUVERTES-MAXEVILLE-SOIREE-0001"  # 46 characters


# ---------------------------------------------------------------- item 3: externalId


def test_external_ids_are_valid_stable_and_distinct():
    assert len(LONG) > 36
    # Refs Whereby takes stay as they are: the links made before keep working and matching.
    assert [external_id(ref) for ref in ("B1", "M-12_a")] == ["B1", "M-12_a"]
    # Refs that differ only by the replaced characters (and the one already using "_") must not
    # share an id; a valid ref shaped like a derived id is derived too, so it cannot take one.
    refs = [SLASH, "RDV-2027 001", "RDV-2027:001", "RDV-2027_001", SPACE, LONG, LONG + "X", "a_0123456789"]
    ids = [external_id(ref) for ref in refs]
    assert all(EXTERNAL_ID.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(refs)
    assert ids == [external_id(ref) for ref in refs]  # stable: a function of the ref alone
    assert ids[0].startswith("RDV-2027_001_") and ids[3] == "RDV-2027_001"
    assert external_id("a_0123456789") != "a_0123456789"
    assert re.fullmatch(r"RDV-2027-PORTES-OUVERTES-_[0-9a-f]{10}", ids[5])


@pytest.fixture
def odd_refs(centre):
    load(
        "bookings",
        "ref,candidate_ref,site_code,advisor_email,starts_at,status,booked_at\n"
        f"{SLASH},C7,MAX,{ANNE},2020-04-16 14:00,booked,2020-04-01 09:00\n"
        f'"{SPACE}",C7,MAX,{ANNE},2020-04-16 15:00,booked,2020-04-01 09:00\n'
        f"{LONG},C7,MAX,{ANNE},2020-04-16 16:00,booked,2020-04-01 09:00\n",
    )
    return centre


def test_links_of_refs_whereby_refuses_are_joinable(odd_refs, fake, client):
    sync_rooms(client)
    links = {ref: row[1:] for ref, row in rooms(odd_refs).items()}
    for ref in (SLASH, SPACE, LONG):
        for link in links[ref]:
            assert fake.join(link).status_code == 200, link
            assert link_external_id(link) == external_id(ref)
    # The old way (the ref itself) is what Whereby refused.
    assert FakeWhereby.join(f"{links[SLASH][0].split('?')[0]}?externalId=RDV-2027%2F001").status_code == 400


def test_a_link_made_before_is_rewritten_and_its_room_still_found(odd_refs, fake, client):
    sync_rooms(client)
    # As the sync wrote it before: the same room, the raw ref as externalId (refused by Whereby).
    meeting_id, url, host = rooms(odd_refs)[SLASH]
    old = url.split("?")[0] + "?externalId=RDV-2027%2F001"
    with database.write_transaction(odd_refs) as connection:
        connection.execute(BOOKINGS.update().where(BOOKINGS.c.ref == SLASH).values(meeting_url=old))
    summary = sync_rooms(client)
    assert summary.relinked == [SLASH] and summary.created == [] and len(fake.meetings) == 6
    assert rooms(odd_refs)[SLASH] == (meeting_id, url, host)
    assert ("room.relink", SLASH, f"meeting={meeting_id}") in audited(odd_refs, "room.")
    assert sync_rooms(client).relinked == []


# ---------------------------------------------------------------- item 4: every roleName


def test_every_documented_role_counts_for_what_it_is(calls, centre, client):
    url = {ref: row[1] for ref, row in rooms(centre).items()}
    # B2: the candidate queued before Yves joined (granted_viewer): they were in the call.
    calls.call(url["B2"], [("granted_viewer", "Léo"), ("host", "Yves")])
    # B3: every role Whereby lists; the bots and "none" are nobody; 4 people came by the link.
    calls.call(
        url["B3"],
        [
            ("host", "Anne"),
            ("visitor", "Zoé"),
            ("granted_visitor", "Père de Zoé"),
            ("viewer", "Mère de Zoé"),
            ("granted_viewer", "Sœur de Zoé"),
            ("recorder", "Enregistreur"),
            ("streamer", "Diffusion"),
            ("captioner", "Sous-titres"),
            ("assistant", "Assistant"),
            ("none", "En attente"),
        ],
    )
    suggested = dict(sync_attendance(client).suggested)
    assert suggested["B2"] == "attended" and suggested["B3"] == "attended"
    assert whereby_attendance.pending_suggestions(["B3"]).iloc[0]["visitors"] == 4


def test_an_unknown_role_fails_the_reading_not_the_suggestion(calls, centre, client):
    calls.call(rooms(centre)["B2"][1], [("host", "Yves"), ("spectre", "?")])
    summary = sync_attendance(client)
    assert summary.failed == [("B2", "Whereby : rôle de participant inconnu « spectre »")]
    assert "B2" not in dict(summary.suggested)


# ---------------------------------------------------------------- item 6: a room that no longer fits


def test_an_interview_grown_past_four_people_gets_a_group_room_before_it_starts(centre, fake, client):
    sync_rooms(client)
    assert [post["roomMode"] for post in fake.posts] == ["normal", "group", "normal"]
    # B1 (1 person, normal room m1) now comes with 4 people: 4 + Anne = 5 > 4.
    outcomes.record_outcome(
        "B1", outcome=outcomes.Outcome("booked", 4), author=ANNE, read_version=0, now=test_whereby.BEFORE
    )
    old_url = rooms(centre)["B1"][1]
    summary = sync_rooms(client)
    assert summary.resized == ["B1"] and summary.created == ["B1"]
    assert fake.deletes == ["m1"] and fake.posts[-1]["roomMode"] == "group"
    # Never two live rooms for B1: m1 is gone, m4 holds it.
    assert "m1" not in {m["meetingId"] for m in fake.meetings} and rooms(centre)["B1"][0] == "m4"
    assert attempts(centre)["B1"][0] == "created"
    # The link changed by a versioned update (1 → 2), its history says so (no host link in it).
    assert booking(centre, "B1") == ("booked", 4, 2)
    changes = BookingChange.__table__
    with centre.connect() as connection:
        logged = connection.execute(
            sa.select(changes.c.field, changes.c.old_value).where(
                changes.c.booking_ref == "B1", changes.c.field == "meeting_url"
            )
        ).all()
    assert [tuple(row) for row in logged] == [("meeting_url", old_url)]
    # A group room fits fewer people too: back to 2, nothing changes; B2 (group from the start) stays.
    outcomes.record_outcome(
        "B1", outcome=outcomes.Outcome("booked", 1), author=ANNE, read_version=2, now=test_whereby.BEFORE
    )
    again = sync_rooms(client)
    assert again.resized == [] and again.created == [] and len(fake.posts) == 4


def test_a_room_asked_before_its_mode_was_kept_is_taken_as_normal(centre, fake, client):
    sync_rooms(client)
    with database.write_transaction(centre) as connection:
        connection.execute(test_whereby.ATTEMPTS.update().values(room_mode=None))
    # B2 (4 people) had a group room, but nothing says so any more: taken as normal, made again.
    assert sync_rooms(client).resized == ["B2"]
    assert sync_rooms(client).resized == []


# ---------------------------------------------------------------- item 7: a 403 for a plan limit


def test_a_plan_limit_names_the_booking_and_the_reason_and_the_others_go_on(centre, fake, client, waits):
    reason = "Your plan does not allow more rooms this month"
    fake.script = [_json({"error": reason}, 403)]
    summary = sync_rooms(client)
    (failure,) = summary.failed
    assert failure[0] == "B1"
    assert failure[1] == (
        "Whereby POST /v1/meetings : HTTP 403, refusé par Whereby "
        f"(ce que permet l'offre du compte, pas la clé) : {reason}"
    )
    assert "clé d'API refusée" not in failure[1] and f"échec : B1 : {failure[1]}" in summary.lines()
    assert summary.created == ["B2", "B3"] and summary.has_failures and waits == []
