"""Whereby rooms for job-dating meetings: one room per meeting (a candidate, often a minor, who
joins early never walks into another candidate's meeting), and attendance read from their calls,
against the fake Whereby of tests/test_whereby.py (same fixtures: ``server``, ``fake``, ``client``,
``waits``).

The job dating of these tests, JD on 19-20 May 2020 (Paris time, summer time, UTC+2); "now" is
19 May 08:30 in Paris:

- Alpha (11111111111111): M0 19 May 08:00 (already over: left alone), M1 09:00 and M2 09:20 on
  19 May, M3 20 May 09:00, all planned without a link: one room each;
- Beta (22222222222222): M4 19 May 10:00 planned without a link (a room), M5 10:20 cancelled
  (left alone), M6 11:00 planned with a link of its own (left alone).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.__main__ import main
from services.integrations import api, whereby, whereby_attendance, whereby_meeting_rooms, whereby_rooms
from services.jobdating import meetings
from services.store import database
from services.store.models import Meeting, MeetingChange, SyncCursor
from services.store.room_links import company_external_id, company_link, link_external_id
from services.store.versioned import ChangeRefused, ConflictError
from tests import test_whereby
from tests.conftest import load
from tests.test_whereby import KEY, FakeWhereby, _json, audited, lost_answer

# The fake Whereby's fixtures, shared with tests/test_whereby.py.
server, fake, client, waits = test_whereby.server, test_whereby.fake, test_whereby.client, test_whereby.waits

NOW = datetime(2020, 5, 19, 6, 30, tzinfo=UTC)  # 08:30 in Paris
ALPHA, BETA = "11111111111111", "22222222222222"
MEETINGS = Meeting.__table__
CLAIMS = SyncCursor.__table__
#: The end of 19 May and of 20 May in Paris, in UTC: the company days' rooms close then.
END_19, END_20 = "2020-05-19T22:00:00Z", "2020-05-20T22:00:00Z"
ALPHA_19 = f"entreprise {ALPHA} le 19/05/2020 (JD)"
ALPHA_20 = f"entreprise {ALPHA} le 20/05/2020 (JD)"
BETA_19 = f"entreprise {BETA} le 19/05/2020 (JD)"


@pytest.fixture
def event(engine: Engine) -> Engine:
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load("programs", "code,name,site_code,seats\nBTS-CRSA,BTS CRSA,MAX,12\n", engine)
    load(
        "events", "code,name,kind,starts_on,ends_on\nJD,Job dating,job_dating,2020-05-19,2020-05-20\n", engine
    )
    load("companies", f"siret,name\n{ALPHA},Alpha Usinage\n{BETA},Beta Soudure\n", engine)
    load(
        "offers",
        "ref,siret,program_code,site_code,positions,published_on\n"
        f"O1,{ALPHA},BTS-CRSA,MAX,2,2020-03-01\nO2,{BETA},BTS-CRSA,MAX,1,2020-03-01\n",
        engine,
    )
    load(
        "candidates",
        "ref,first_name,last_name,created_at\n"
        + "".join(f"C{n},Prénom{n},Nom{n},2020-04-01 10:00\n" for n in range(7)),
        engine,
    )
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,status,meeting_url\n"
        "M0,JD,C0,O1,2020-05-19 08:00,planned,\n"
        "M1,JD,C1,O1,2020-05-19 09:00,planned,\n"
        "M2,JD,C2,O1,2020-05-19 09:20,planned,\n"
        "M3,JD,C3,O1,2020-05-20 09:00,planned,\n"
        "M4,JD,C4,O2,2020-05-19 10:00,planned,\n"
        "M5,JD,C5,O2,2020-05-19 10:20,cancelled,\n"
        "M6,JD,C6,O2,2020-05-19 11:00,planned,https://visio.cfai.fr/m6\n",
        engine,
    )
    return engine


def links(engine: Engine) -> dict[str, tuple]:
    """Meeting ref → (meeting_url, version)."""
    with engine.connect() as connection:
        query = sa.select(MEETINGS.c.ref, MEETINGS.c.meeting_url, MEETINGS.c.version)
        return {ref: (url, version) for ref, url, version in connection.execute(query)}


def room_of(fake: FakeWhereby, prefix: str) -> dict:
    (room,) = [m for m in fake.meetings if m["roomName"].startswith(f"/{prefix}")]
    return room


def prefix(siret: str, day: str, ref: str) -> str:
    return f"jd{siret}{day}{hashlib.sha256(ref.encode()).hexdigest()[:8]}"


def sync(client: api.ApiClient, engine: Engine, **kwargs) -> whereby_rooms.RoomSummary:
    return whereby_rooms.sync_rooms(
        actor="cli:test", now=kwargs.pop("now", NOW), client=client, engine=engine, **kwargs
    )


# ---------------------------------------------------------------- item 10: one room per meeting


def test_each_meeting_gets_a_room_of_its_own(event, fake, client):
    summary = sync(client, event)
    # M1, M2 (Alpha, 19th), M4 (Beta, 19th), M3 (Alpha, 20th): four rooms, one each, closing at
    # the end of the meeting's day in Paris; the prefix names the company, the day and the meeting.
    assert fake.posts == [
        {"endDate": END_19, "roomNamePrefix": prefix(ALPHA, "20200519", "M1"), "roomMode": "normal"},
        {"endDate": END_19, "roomNamePrefix": prefix(ALPHA, "20200519", "M2"), "roomMode": "normal"},
        {"endDate": END_19, "roomNamePrefix": prefix(BETA, "20200519", "M4"), "roomMode": "normal"},
        {"endDate": END_20, "roomNamePrefix": prefix(ALPHA, "20200520", "M3"), "roomMode": "normal"},
    ]
    urls = {ref: links(event)[ref][0] for ref in ("M1", "M2", "M3", "M4")}
    # Two candidates of the same company and day never share a room.
    assert len({whereby.room_name(url) for url in urls.values()}) == 4
    assert urls["M1"] == f"{room_of(fake, prefix(ALPHA, '20200519', 'M1'))['roomUrl']}?externalId=M1"
    assert links(event)["M0"] == (None, 0) and links(event)["M5"] == (None, 0)
    assert links(event)["M6"] == ("https://visio.cfai.fr/m6", 0)
    assert summary.meeting_rooms.created == ["M1", "M2", "M4", "M3"] and not summary.has_failures
    assert {ref: version for ref, (_, version) in links(event).items() if version} == dict.fromkeys(
        ["M1", "M2", "M3", "M4"], 1
    )
    changes = MeetingChange.__table__
    with event.connect() as connection:
        logged = connection.execute(
            sa.select(changes.c.meeting_ref, changes.c.field, changes.c.old_value)
        ).all()
    assert sorted(logged) == [(ref, "meeting_url", None) for ref in ("M1", "M2", "M3", "M4")]
    assert ("room.create", "M1", "meeting=m1") in audited(event, "room.")
    # Again: nothing to do.
    again = sync(client, event, now=NOW + timedelta(minutes=10))
    assert len(fake.posts) == 4 and again.meeting_rooms.created == [] and again.meeting_rooms.linked == []


def test_the_company_gets_its_own_externalid_in_the_same_room(event, fake, client):
    sync(client, event)
    frame = meetings.event_meetings("JD", event).set_index("ref")
    company = meetings.company_schedule(frame.reset_index(), ALPHA).set_index("ref")
    candidate = meetings.candidate_schedule(frame.reset_index(), "C1").set_index("ref")
    assert whereby.room_name(company.loc["M1", "meeting_url"]) == whereby.room_name(
        candidate.loc["M1", "meeting_url"]
    )
    assert link_external_id(candidate.loc["M1", "meeting_url"]) == "M1"
    assert link_external_id(company.loc["M1", "meeting_url"]) == company_external_id("M1")
    assert fake.join(company.loc["M1", "meeting_url"]).status_code == 200


def test_meetings_of_a_shared_company_room_made_before_get_their_own(event, fake, client):
    # As the sync did before: one room for Alpha's 19th, M1 and M2 linked to it.
    shared = fake.make_meeting({"endDate": END_19, "roomNamePrefix": f"jd{ALPHA}20200519"})
    claim = {"state": "created", "meeting_id": shared["meetingId"], "room_url": shared["roomUrl"]}
    with database.write_transaction(event) as connection:
        connection.execute(
            CLAIMS.insert().values(
                name=f"whereby.meeting_room:JD:{ALPHA}:2020-05-19", cursor=json.dumps(claim), synced_at=NOW
            )
        )
        for ref in ("M1", "M2"):
            connection.execute(
                MEETINGS.update()
                .where(MEETINGS.c.ref == ref)
                .values(meeting_url=f"{shared['roomUrl']}?externalId={ref}", version=1)
            )
    summary = sync(client, event)
    assert summary.meeting_rooms.moved_out == ["M1", "M2"]
    assert whereby.room_name(links(event)["M1"][0]) != whereby.room_name(links(event)["M2"][0])
    assert links(event)["M1"][1] == 2  # a versioned update
    assert "rencontres sorties d'une salle partagée d'entreprise : 2 (M1, M2)" in summary.lines()


def test_a_lost_answer_is_found_again_never_asked_twice(event, fake, client):
    fake.script = [lost_answer]  # M1's room is made, its answer is lost
    summary = sync(client, event)
    assert [who for who, _ in summary.meeting_rooms.uncertain] == ["M1"]
    assert links(event)["M1"] == (None, 0)
    soon = sync(client, event, now=NOW + timedelta(minutes=1))
    assert [who for who, _ in soon.meeting_rooms.failed] == ["M1"] and len(fake.posts) == 4
    later = sync(client, event, now=NOW + whereby_meeting_rooms.CLAIM_IN_FLIGHT)
    assert later.meeting_rooms.adopted == ["M1"] and later.meeting_rooms.created == []
    assert len(fake.posts) == 4 and len(fake.meetings) == 4
    assert ("room.adopt", "M1", "meeting=m1") in audited(event, "room.")


def test_a_failing_meeting_is_named_and_the_others_are_done(event, fake, client):
    fake.script = [_json({"error": "Your plan does not allow more rooms"}, 403)]
    summary = sync(client, event)
    (failure,) = summary.meeting_rooms.failed
    assert (
        failure[0] == "M1"
        and "HTTP 403" in failure[1]
        and "Your plan does not allow more rooms" in failure[1]
    )
    assert summary.meeting_rooms.created == ["M2", "M4", "M3"] and links(event)["M1"] == (None, 0)


def test_a_dry_run_writes_nothing(event, fake, client):
    before = database.data_version(event)
    summary = sync(client, event, dry_run=True)
    assert summary.meeting_rooms.created == ["M1", "M2", "M4", "M3"]
    assert "rencontres job dating : 4 salle(s) de rencontre à créer, 0 retrouvée(s), 4 lien(s) à écrire" in (
        "\n".join(summary.lines())
    )
    assert fake.posts == [] and all(version == 0 for _, version in links(event).values())
    assert database.data_version(event) == before


def test_the_command_line_does_meetings_too(event, server, fake, capsys, monkeypatch):
    load(
        "events",
        "code,name,kind,starts_on,ends_on\nJD99,Job dating,job_dating,2099-05-19,2099-05-19\n",
        event,
    )
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,status\nM9,JD99,C1,O2,2099-05-19 09:00,planned\n",
        event,
    )
    monkeypatch.setenv("WHEREBY_API_URL", server.url_for(""))
    monkeypatch.setenv("WHEREBY_API_KEY", KEY)
    assert main(["sync", "rooms"]) == 0
    printed = capsys.readouterr().out
    assert (
        "rencontres job dating : 1 salle(s) de rencontre créée(s), 0 retrouvée(s), 1 lien(s) écrit(s) (M9)"
        in (printed)
    )
    assert KEY not in printed and links(event)["M9"][1] == 1


# ---------------------------------------------------------------- item 9: attendance of meetings

#: 19 May 12:00 in Paris: M1 (09:00-09:20), M2 and M4 are over, their rooms read after 15 minutes.
LATER = datetime(2020, 5, 19, 10, 0, tzinfo=UTC)


@pytest.fixture
def met(event, fake, client) -> FakeWhereby:
    sync(client, event)
    url = {ref: links(event)[ref][0] for ref in ("M1", "M2", "M4")}
    company = {ref: company_link(url[ref], ref) for ref in url}
    # M1: Alpha's recruiter (company link) and Léa (queued before the host: granted_viewer).
    fake.call(url["M1"], [("visitor", "Recruteur", company["M1"]), ("granted_viewer", "Prénom1")])
    # M2: Alpha waited, the candidate never came.
    fake.call(url["M2"], [("visitor", "Recruteur", company["M2"])])
    # M4: the candidate waited alone; Beta never joined.
    fake.call(url["M4"], [("visitor", "Prénom4")])
    return fake


def meeting_status(engine: Engine, ref: str) -> tuple:
    with engine.connect() as connection:
        query = sa.select(MEETINGS.c.status, MEETINGS.c.version).where(MEETINGS.c.ref == ref)
        return tuple(connection.execute(query).one())


def test_meeting_attendance_is_suggested_and_confirmed_through_the_meetings_rules(met, event, client):
    summary = whereby_attendance.sync_attendance(
        actor="cli:test", now=LATER, since=date(2020, 5, 19), client=client
    )
    assert summary.meetings_suggested == [("M1", "held"), ("M2", "no_show"), ("M4", "company_absent")]
    pending = whereby_attendance.pending_meeting_suggestions(["M1", "M2", "M4"], event).set_index("ref")
    assert pending.loc["M1", ["candidate_joined", "company_joined"]].tolist() == [True, True]
    assert meeting_status(event, "M1") == ("planned", 1)  # nothing written before an advisor says so
    again = whereby_attendance.sync_attendance(
        actor="cli:test", now=LATER, since=date(2020, 5, 19), client=client
    )
    assert again.meetings_suggested == [] and again.unchanged == 3
    # Confirmed: the meetings' own save (rules, version, history, audit).
    assert (
        whereby_attendance.confirm_meeting_suggestion("M1", actor="anne@cfai.fr", read_version=1, now=LATER)
        == 2
    )
    assert meeting_status(event, "M1") == ("held", 2)
    assert ("meeting.outcome", "M1", "status=held outcome=none") in audited(event, "meeting.")
    with pytest.raises(ChangeRefused, match="déjà été traitée"):
        whereby_attendance.confirm_meeting_suggestion("M1", actor="anne@cfai.fr", read_version=2, now=LATER)
    # A stale page cannot confirm; an absent company changes no status.
    with pytest.raises(ConflictError):
        whereby_attendance.confirm_meeting_suggestion("M2", actor="anne@cfai.fr", read_version=0, now=LATER)
    assert (
        whereby_attendance.confirm_meeting_suggestion("M4", actor="anne@cfai.fr", read_version=1, now=LATER)
        == 1
    )
    assert meeting_status(event, "M4") == ("planned", 1)
    # A meeting already recorded otherwise: a conflict, never applied.
    meetings.record_meeting_outcome(
        "M2", outcome=meetings.MeetingOutcome("held"), author="anne@cfai.fr", read_version=1, now=LATER
    )
    with pytest.raises(whereby_attendance.SuggestionConflict):
        whereby_attendance.confirm_meeting_suggestion("M2", actor="anne@cfai.fr", read_version=2, now=LATER)
    whereby_attendance.dismiss_meeting_suggestion("M2", actor="anne@cfai.fr", now=LATER)
    assert whereby_attendance.pending_meeting_suggestions(["M2"], event).empty
