"""Whereby rooms for job-dating meetings: one room per company and day, against the fake Whereby
of tests/test_whereby.py (same fixtures: ``server``, ``fake``, ``client``, ``waits``).

The job dating of these tests, JD on 19-20 May 2020 (Paris time, summer time, UTC+2); "now" is
19 May 08:30 in Paris:

- Alpha (11111111111111): M0 19 May 08:00 (already over: left alone), M1 09:00 and M2 09:20 on
  19 May, M3 20 May 09:00, all planned without a link: one room on the 19th, one on the 20th;
- Beta (22222222222222): M4 19 May 10:00 planned without a link (a room), M5 10:20 cancelled
  (left alone), M6 11:00 planned with a link of its own (left alone).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services import api, database, whereby
from services.__main__ import main
from services.models import Meeting, MeetingChange, SyncCursor
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


def sync(client: api.ApiClient, engine: Engine, **kwargs) -> whereby.RoomSummary:
    return whereby.sync_rooms(
        actor="cli:test", now=kwargs.pop("now", NOW), client=client, engine=engine, **kwargs
    )


def test_each_company_day_gets_one_room_and_each_of_its_meetings_the_link(event, fake, client):
    before = database.data_version(event)
    summary = sync(client, event)
    # Three company days: Alpha on the 19th (M1, M2), Beta on the 19th (M4), Alpha on the 20th
    # (M3), asked in the order of their first meeting; each room closes at the end of its day.
    assert fake.posts == [
        {"endDate": END_19, "roomNamePrefix": f"jd{ALPHA}20200519", "roomMode": "normal"},
        {"endDate": END_19, "roomNamePrefix": f"jd{BETA}20200519", "roomMode": "normal"},
        {"endDate": END_20, "roomNamePrefix": f"jd{ALPHA}20200520", "roomMode": "normal"},
    ]
    alpha_19 = room_of(fake, f"jd{ALPHA}20200519")["roomUrl"]
    alpha_20 = room_of(fake, f"jd{ALPHA}20200520")["roomUrl"]
    beta_19 = room_of(fake, f"jd{BETA}20200519")["roomUrl"]
    # Each meeting of a company day: the same room, its own externalId; version 0 → 1.
    assert links(event) == {
        "M0": (None, 0),  # over already
        "M1": (f"{alpha_19}?externalId=M1", 1),
        "M2": (f"{alpha_19}?externalId=M2", 1),
        "M3": (f"{alpha_20}?externalId=M3", 1),
        "M4": (f"{beta_19}?externalId=M4", 1),
        "M5": (None, 0),  # cancelled
        "M6": ("https://visio.cfai.fr/m6", 0),  # its own link stays
    }
    assert summary.meeting_rooms.created == [ALPHA_19, BETA_19, ALPHA_20]
    assert summary.meeting_rooms.linked == ["M1", "M2", "M4", "M3"]
    assert not summary.has_failures
    assert "rencontres job dating : 3 salle(s) d'entreprise créée(s), 0 retrouvée(s), 4 lien(s) écrit(s)" in (
        "\n".join(summary.lines())
    )
    assert audited(event, "room.") == [
        ("room.create", f"JD:{ALPHA}:2020-05-19", "meeting=m1 rencontres=2"),
        ("room.create", f"JD:{BETA}:2020-05-19", "meeting=m2 rencontres=1"),
        ("room.create", f"JD:{ALPHA}:2020-05-20", "meeting=m3 rencontres=1"),
    ]
    # The link is in each meeting's history, as the advisor's changes are.
    changes = MeetingChange.__table__
    with event.connect() as connection:
        logged = connection.execute(
            sa.select(changes.c.meeting_ref, changes.c.field, changes.c.old_value, changes.c.changed_by)
        ).all()
    assert sorted(logged) == [(ref, "meeting_url", None, "cli:test") for ref in ("M1", "M2", "M3", "M4")]
    assert database.data_version(event) > before


def test_a_second_run_creates_nothing_and_a_later_meeting_gets_its_days_room(event, fake, client):
    sync(client, event)
    first = links(event)
    again = sync(client, event, now=NOW + timedelta(minutes=10))
    assert len(fake.posts) == 3 and again.meeting_rooms.created == [] and again.meeting_rooms.linked == []
    assert links(event) == first
    # A meeting planned later for Alpha on the 19th: the day's room, no new one.
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,status\nM7,JD,C6,O1,2020-05-19 14:00,planned\n",
        event,
    )
    later = sync(client, event, now=NOW + timedelta(minutes=20))
    assert len(fake.posts) == 3 and later.meeting_rooms.linked == ["M7"]
    alpha_19 = room_of(fake, f"jd{ALPHA}20200519")["roomUrl"]
    assert links(event)["M7"] == (f"{alpha_19}?externalId=M7", 1)


def test_a_failing_company_day_is_named_and_left_untouched_while_the_others_are_done(event, fake, client):
    # Whereby fails Alpha's room of the 19th (the first asked), then answers the others.
    fake.script = [_json({"error": "Internal error"}, 500)]
    summary = sync(client, event)
    (failure,) = summary.meeting_rooms.failed
    assert failure[0] == ALPHA_19 and "HTTP 500" in failure[1]
    assert f"échec : {ALPHA_19} : " in "\n".join(summary.lines()) and summary.has_failures
    assert summary.meeting_rooms.created == [BETA_19, ALPHA_20]
    now = links(event)
    assert now["M1"] == (None, 0) and now["M2"] == (None, 0)  # nothing half written
    assert now["M3"][1] == 1 and now["M4"][1] == 1
    # Next run (the claim is older than the in-flight delay): Whereby made no room, so one is asked.
    retry = sync(client, event, now=NOW + whereby.CLAIM_IN_FLIGHT)
    assert retry.meeting_rooms.created == [ALPHA_19] and len(fake.posts) == 4 and len(fake.meetings) == 3
    assert links(event)["M1"][0].startswith(room_of(fake, f"jd{ALPHA}20200519")["roomUrl"])


def test_a_lost_answer_is_found_again_never_asked_twice(event, fake, client):
    fake.script = [lost_answer]  # Alpha's room of the 19th is made, its answer is lost
    summary = sync(client, event)
    assert [who for who, _ in summary.meeting_rooms.uncertain] == [ALPHA_19]
    assert links(event)["M1"] == (None, 0)
    # A run while the claim may still be in flight refuses to ask again.
    soon = sync(client, event, now=NOW + timedelta(minutes=1))
    assert [who for who, _ in soon.meeting_rooms.failed] == [ALPHA_19] and len(fake.posts) == 3
    later = sync(client, event, now=NOW + whereby.CLAIM_IN_FLIGHT)
    assert later.meeting_rooms.adopted == [ALPHA_19] and later.meeting_rooms.created == []
    assert len(fake.posts) == 3 and len(fake.meetings) == 3  # three company days, three rooms
    alpha_19 = room_of(fake, f"jd{ALPHA}20200519")["roomUrl"]
    assert links(event)["M2"] == (f"{alpha_19}?externalId=M2", 1)
    assert ("room.adopt", f"JD:{ALPHA}:2020-05-19", "meeting=m1 rencontres=2") in audited(event, "room.")


def test_a_dry_run_writes_nothing(event, fake, client):
    before = database.data_version(event)
    summary = sync(client, event, dry_run=True)
    assert summary.meeting_rooms.created == [ALPHA_19, BETA_19, ALPHA_20]
    assert "rencontres job dating : 3 salle(s) d'entreprise à créer, 0 retrouvée(s), 4 lien(s) à écrire" in (
        "\n".join(summary.lines())
    )
    assert fake.posts == [] and fake.meetings == []
    assert all(version == 0 for _, version in links(event).values())
    with event.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(CLAIMS)).scalar() == 0
    assert database.data_version(event) == before


def test_the_command_line_does_meetings_too_and_only_when_whereby_is_configured(
    event, server, fake, capsys, monkeypatch
):
    # The command line runs on the real clock: a job dating in 2099 is upcoming.
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
    monkeypatch.setenv("WHEREBY_API_KEY", "")
    assert main(["sync", "rooms"]) == 1
    assert "clé d'API absente" in capsys.readouterr().err and links(event)["M9"] == (None, 0)
    monkeypatch.setenv("WHEREBY_API_KEY", KEY)
    assert main(["sync", "rooms"]) == 0
    printed = capsys.readouterr().out
    assert (
        "rencontres job dating : 1 salle(s) d'entreprise créée(s), 0 retrouvée(s), 1 lien(s) écrit(s) (M9)"
        in (printed)
    )
    assert KEY not in printed and links(event)["M9"][1] == 1
