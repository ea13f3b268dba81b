"""Job-dating schedules and reminders sent by e-mail (issue 22), against a real SMTP server on
loopback (aiosmtpd); every message is parsed back with the standard ``email`` package and its
attachments with ``icalendar``."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from icalendar import Calendar
from sqlalchemy.engine import Engine

from services.__main__ import main
from services.access import rights
from services.integrations import invitations
from services.integrations.mail import Mailer, MailError, smtp_server
from services.store import audit
from services.store.models import AuditEvent, MailSend
from tests.browser import free_port
from tests.conftest import load

ALPHA, BETA, GAMMA = "11111111111111", "22222222222222", "33333333333333"
SENDER = "jobdating@centre.example.org"
REFUSED = "refuse@example.org"


class Inbox:
    """An aiosmtpd handler: keeps each message delivered, refuses ``REFUSED`` for good (550) and
    answers 451 (try again later) to the first ``busy`` messages."""

    def __init__(self, busy: int = 0) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.busy = busy

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802, ANN001, ANN201
        if address == REFUSED:
            return "550 5.1.1 <refuse@example.org>: boîte inconnue"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001, ANN201
        if self.busy:
            self.busy -= 1
            return "451 4.3.0 réessayez plus tard"
        parsed = email.message_from_bytes(
            envelope.original_content or envelope.content, policy=email.policy.default
        )
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for recipients, message in self.messages if recipients == [address]]


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch):
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("SMTP_FROM", SENDER)
    monkeypatch.setenv("SMTP_PAUSE_MS", "0")
    yield handler
    controller.stop()


@pytest.fixture
def event(engine: Engine) -> Engine:
    """JD « Job dating printemps » on 2 and 3 May 2040. Alpha (alpha@) meets Léa Martin (C1,
    adult) at 09:00 and Tom Petit (C2, 16 on 2 May 2040, parent's address known) at 09:20; Beta
    (beta@) meets Léa at 10:00; Gamma (no address) meets Zoé (C3, whose address the server
    refuses) at 09:00 — all on 2 May, Paris time. Each agreed to be presented to companies (Tom
    is over 15: his own consent is enough)."""
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load("programs", "code,name,site_code,seats\nBTS-CRSA,BTS CRSA,MAX,12\nCAP-RI,CAP RI,MAX,12\n", engine)
    load(
        "events",
        "code,name,kind,starts_on,ends_on\nJD,Job dating printemps,job_dating,2040-05-02,2040-05-03\n",
        engine,
    )
    load(
        "companies",
        f"siret,name,email\n{ALPHA},Alpha Usinage,alpha@example.org\n{BETA},Beta Soudure,beta@example.org\n"
        f"{GAMMA},Gamma Forge,\n",
        engine,
    )
    load(
        "offers",
        "ref,siret,program_code,site_code,positions,published_on\n"
        f"O1,{ALPHA},BTS-CRSA,MAX,2,2040-03-01\nO2,{BETA},CAP-RI,MAX,1,2040-03-01\n"
        f"O3,{GAMMA},CAP-RI,MAX,1,2040-03-01\n",
        engine,
    )
    load(
        "candidates",
        "ref,first_name,last_name,email,phone,birth_date,parent_email,created_at,presentation_consent\n"
        "C1,Léa,Martin,lea@example.org,0611111111,2001-02-03,,2040-04-01 10:00,oui\n"
        "C2,Tom,Petit,tom@example.org,0622222222,2023-09-10,parent.tom@example.org,2040-04-01 10:00,oui\n"
        f"C3,Zoé,Durand,{REFUSED},,2000-01-01,,2040-04-01 10:00,oui\n",
        engine,
    )
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,status,meeting_url\n"
        "M1,JD,C1,O1,2040-05-02 09:00,planned,https://centre.whereby.com/jd-m1\n"
        "M2,JD,C2,O1,2040-05-02 09:20,planned,https://centre.whereby.com/jd-m2\n"
        "M3,JD,C1,O2,2040-05-02 10:00,planned,https://centre.whereby.com/jd-m3\n"
        "M4,JD,C3,O3,2040-05-02 09:00,planned,\n",
        engine,
    )
    return engine


def _send(engine: Engine) -> invitations.SendReport:
    mailing = invitations.schedules_to_send("JD", sender=SENDER, engine=engine)
    return invitations.deliver(mailing, actor="test", sleep=lambda seconds: None, engine=engine)


def _body(message: EmailMessage) -> str:
    """The plain text part, with the line ends of a file (SMTP carries CRLF)."""
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def _calendars(message: EmailMessage) -> list[Calendar]:
    return [
        Calendar.from_ical(
            part.get_content() if isinstance(part.get_content(), str) else part.get_content().decode()
        )
        for part in message.iter_attachments()
        if part.get_content_type() == "text/calendar"
    ]


def _event(calendar: Calendar) -> tuple:
    (vevent,) = calendar.walk("VEVENT")
    return (
        str(calendar["METHOD"]),
        str(vevent["UID"]),
        int(vevent["SEQUENCE"]),
        vevent.decoded("DTSTART").astimezone(UTC),
    )


def _log(engine: Engine) -> list[tuple]:
    table = MailSend.__table__
    with engine.connect() as connection:
        return connection.execute(
            sa.select(
                table.c.role,
                table.c.siret,
                table.c.candidate_ref,
                table.c.recipient,
                table.c.kind,
                table.c.status,
            ).order_by(table.c.id)
        ).all()


def test_each_company_and_candidate_gets_their_schedule_once(event, inbox):
    report = _send(event)
    # Alpha, Beta; Léa, Tom, Tom's parent (he is 16); Zoé's address is refused; Gamma has none.
    assert sorted(message.recipient for message in report.sent) == [
        "alpha@example.org",
        "beta@example.org",
        "lea@example.org",
        "parent.tom@example.org",
        "tom@example.org",
    ]
    assert [(message.recipient, reason) for message, reason in report.failed] == [
        (REFUSED, "refusé par le serveur : 550 5.1.1 <refuse@example.org>: boîte inconnue")
    ]
    assert len(inbox.messages) == 5

    (alpha,) = inbox.to("alpha@example.org")
    assert alpha["From"] == SENDER
    assert alpha["Subject"] == "Job dating « Job dating printemps » : planning des rencontres"
    body = _body(alpha)
    assert "Voici le planning de vos rencontres au job dating « Job dating printemps »" in body
    # 09:00 and 09:20 in Paris on Wednesday 2 May 2040; first name and programme, the link (a
    # link from a file, without our externalId, is sent as it is).
    assert "- mercredi 2 mai 2040, 09:00 – 09:20 : Léa, BTS CRSA" in body
    assert "- mercredi 2 mai 2040, 09:20 – 09:40 : Tom, BTS CRSA" in body
    assert "  salle visio : https://centre.whereby.com/jd-m1\n" in body
    # Nothing else of the candidates: no last name, address, phone, birth date, nor Beta's meeting.
    for other in (
        "Martin",
        "Petit",
        "lea@",
        "tom@",
        "parent.tom",
        "0611111111",
        "2001",
        "2023",
        "Zoé",
        "jd-m3",
    ):
        assert other not in alpha.as_string(), other
    events = sorted(_event(calendar) for calendar in _calendars(alpha))
    assert events == [
        ("REQUEST", "meeting-M1@rencontres.pole-formation", 0, datetime(2040, 5, 2, 7, 0, tzinfo=UTC)),
        ("REQUEST", "meeting-M2@rencontres.pole-formation", 0, datetime(2040, 5, 2, 7, 20, tzinfo=UTC)),
    ]
    (beta,) = inbox.to("beta@example.org")
    assert "Tom" not in beta.as_string() and "Léa, CAP RI" in _body(beta)

    (lea,) = inbox.to("lea@example.org")
    lea_body = _body(lea)
    assert lea_body.startswith("Bonjour Léa,\n")
    assert (
        "09:00 – 09:20 : Alpha Usinage, BTS CRSA" in lea_body
        and "10:00 – 10:20 : Beta Soudure, CAP RI" in lea_body
    )
    assert len(_calendars(lea)) == 2
    (parent,) = inbox.to("parent.tom@example.org")
    assert parent["Subject"] == "Job dating « Job dating printemps » : planning des rencontres de Tom"
    assert "Voici le planning des rencontres de Tom" in _body(parent)

    # The log: one row per message tried, the failure included; the audit counts, no address.
    assert ("candidate", None, "C3", REFUSED, "schedule", "failed") in _log(event)
    with event.connect() as connection:
        audited = connection.execute(
            sa.select(AuditEvent.__table__.c.target, AuditEvent.__table__.c.detail).where(
                AuditEvent.__table__.c.action == "mail.send"
            )
        ).all()
    assert audited == [("JD", "kinds=schedule sent=5 failed=1")]

    # A second run sends nothing new: only Zoé's failed message is tried again.
    again = invitations.schedules_to_send("JD", sender=SENDER, engine=event)
    assert [(message.recipient, message.kind) for message in again.messages] == [(REFUSED, "schedule")]
    _send(event)
    assert len(inbox.messages) == 5
    assert again.without_address == ["entreprise 33333333333333"]


def test_a_candidate_who_may_not_be_presented_is_never_named_to_a_company(event, inbox):
    # Nina (C4) is 14 on 2 May 2040 and neither she nor a parent agreed to be presented; her
    # meeting M5 with Alpha comes from a file (meetings.csv checks no consent): Alpha's mail
    # leaves it out, the run names the meeting, Nina still gets her own schedule.
    load(
        "candidates",
        "ref,first_name,last_name,email,birth_date,created_at,presentation_consent,parent_presentation_consent\n"
        "C4,Nina,Roux,nina@example.org,2026-01-01,2040-04-01 10:00,non,non\n",
        event,
    )
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,status,meeting_url\n"
        "M5,JD,C4,O1,2040-05-02 09:40,planned,https://centre.whereby.com/jd-m5\n",
        event,
    )
    mailing = invitations.schedules_to_send("JD", sender=SENDER, engine=event)
    assert mailing.withheld == ["M5"]
    assert any("M5" in line for line in mailing.summary_lines())
    _send(event)
    (alpha,) = inbox.to("alpha@example.org")
    assert "Nina" not in _body(alpha) and "jd-m5" not in _body(alpha)
    assert all("Nina" not in str(calendar.to_ical(), "utf-8") for calendar in _calendars(alpha))
    uids = sorted(_event(calendar)[1].split("@")[0] for calendar in _calendars(alpha))
    assert uids == ["meeting-M1", "meeting-M2"]
    (nina,) = inbox.to("nina@example.org")
    assert "Alpha Usinage" in _body(nina)


def test_an_event_name_on_two_lines_is_sent_on_one(event, inbox):
    # A quoted cell may hold a line break; an e-mail header may not: the subject is one line.
    load(
        "events",
        'code,name,kind,starts_on,ends_on\nJD,"Job dating\nprintemps",job_dating,2040-05-02,2040-05-03\n',
        event,
    )
    assert "\n" in invitations.schedules_to_send("JD", sender=SENDER, engine=event).event["name"]
    report = _send(event)
    assert len(report.sent) == 5  # as in the first test: none is lost to the name
    (alpha,) = inbox.to("alpha@example.org")
    assert alpha["Subject"] == "Job dating « Job dating printemps » : planning des rencontres"


def test_a_message_whose_outcome_was_not_written_is_not_sent_again(event, inbox, monkeypatch):
    # The server took the first message, then the store refused to write it down: the run
    # stops, its audit entry is written all the same, and the message, logged "pending" before
    # it left, is not offered again (what was not sent yet is).
    settle = invitations._settle

    def store_fails_once(engine, row_id, **values):
        monkeypatch.setattr(invitations, "_settle", settle)
        raise sa.exc.OperationalError("UPDATE", {}, Exception("database is locked"))

    monkeypatch.setattr(invitations, "_settle", store_fails_once)
    first = invitations.schedules_to_send("JD", sender=SENDER, engine=event)
    with pytest.raises(sa.exc.OperationalError):
        _send(event)
    assert len(inbox.messages) == 1
    again = invitations.schedules_to_send("JD", sender=SENDER, engine=event)
    assert [m.recipient for m in again.messages] == [m.recipient for m in first.messages[1:]]
    assert audit.recent_events(engine=event).query("action == 'mail.send'").shape[0] == 1


def test_a_changed_plan_sends_updates_and_cancellations_to_those_concerned_only(event, inbox):
    _send(event)
    delivered = len(inbox.messages)
    # Tom's meeting moves to 09:40; Léa's with Beta is cancelled; Léa's with Alpha stays.
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,status,meeting_url\n"
        "M2,JD,C2,O1,2040-05-02 09:40,planned,https://centre.whereby.com/jd-m2\n"
        "M3,JD,C1,O2,2040-05-02 10:00,cancelled,https://centre.whereby.com/jd-m3\n",
        event,
    )
    report = _send(event)
    assert sorted((m.recipient, m.kind) for m in report.sent) == [
        ("alpha@example.org", "update"),
        ("beta@example.org", "cancel"),
        ("lea@example.org", "update"),
        ("parent.tom@example.org", "update"),
        ("tom@example.org", "update"),
    ]
    new = inbox.messages[delivered:]
    assert len(new) == 5
    (alpha,) = inbox.to("alpha@example.org")[1:]
    assert alpha["Subject"] == "Job dating « Job dating printemps » : planning modifié"
    # Only the moved meeting is attached, its SEQUENCE raised; the body gives the whole schedule.
    assert [_event(c) for c in _calendars(alpha)] == [
        ("REQUEST", "meeting-M2@rencontres.pole-formation", 1, datetime(2040, 5, 2, 7, 40, tzinfo=UTC))
    ]
    assert "09:40 – 10:00 : Tom, BTS CRSA" in _body(alpha)
    (beta,) = inbox.to("beta@example.org")[1:]
    assert beta["Subject"] == "Job dating « Job dating printemps » : rencontres annulées"
    assert [_event(c) for c in _calendars(beta)] == [
        ("CANCEL", "meeting-M3@rencontres.pole-formation", 1, datetime(2040, 5, 2, 8, 0, tzinfo=UTC))
    ]
    assert "- mercredi 2 mai 2040, 10:00 – 10:20 (annulée)" in _body(beta)
    (lea,) = inbox.to("lea@example.org")[1:]
    assert [_event(c)[:3] for c in _calendars(lea)] == [("CANCEL", "meeting-M3@rencontres.pole-formation", 1)]
    # Once more: nothing new for anyone (Zoé's refused address aside).
    assert [
        m.recipient for m in invitations.schedules_to_send("JD", sender=SENDER, engine=event).messages
    ] == [REFUSED]


def test_the_reminder_the_day_before_goes_once_to_everyone_with_a_meeting(event, inbox):
    mailing = invitations.reminders_to_send("JD", date(2040, 5, 1), sender=SENDER, engine=event)
    assert sorted(m.recipient for m in mailing.messages) == [
        "alpha@example.org",
        "beta@example.org",
        "lea@example.org",
        "parent.tom@example.org",
        REFUSED,
        "tom@example.org",
    ]
    report = invitations.deliver(mailing, actor="cron", sleep=lambda s: None, engine=event)
    assert len(report.sent) == 5 and len(report.failed) == 1
    (lea,) = inbox.to("lea@example.org")
    assert lea["Subject"] == "Rappel : job dating « Job dating printemps » demain"
    assert "ont lieu demain, mercredi 2 mai 2040" in _body(lea)
    # Once: the next run (the same day, or a cron run twice) has only the failure to try again;
    # the day of the event itself reminds nobody (no meeting on 3 May).
    again = invitations.reminders_to_send("JD", date(2040, 5, 1), sender=SENDER, engine=event)
    assert [m.recipient for m in again.messages] == [REFUSED]
    assert invitations.reminders_to_send("JD", date(2040, 5, 2), sender=SENDER, engine=event).messages == []


def test_a_passing_failure_is_retried(event, inbox):
    inbox.busy = 2  # the first two messages get "451 try again later"
    report = _send(event)
    assert len(report.sent) == 5 and len(inbox.messages) == 5
    table = MailSend.__table__
    with event.connect() as connection:
        attempts = (
            connection.execute(
                sa.select(table.c.attempts).where(table.c.status == "sent").order_by(table.c.id)
            )
            .scalars()
            .all()
        )
    # The first message got the two 451 answers and went on its third try; the others at once.
    assert attempts == [3, 1, 1, 1, 1]


def test_the_command_line_previews_sends_and_says_when_the_server_is_unreachable(
    event, inbox, capsys, monkeypatch
):
    assert main(["jobdating", "send", "JD", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "schedule : entreprise 11111111111111 : 2 pièce(s) jointe(s) .ics" in out
    assert "6 message(s) à envoyer" in out and "aperçu : rien n'a été envoyé" in out
    assert "entreprise 33333333333333" in out  # no address
    assert inbox.messages == []
    assert main(["jobdating", "send", "JD"]) == 1  # one failure
    captured = capsys.readouterr()
    assert "5 message(s) envoyé(s), 1 échec(s)" in captured.out
    assert "échec : candidat C3 : refusé par le serveur : 550" in captured.err
    assert REFUSED not in captured.err  # no address in a terminal or a cron log
    port = free_port()
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{port}")
    assert main(["jobdating", "send", "JD"]) == 3
    assert captured_line(capsys).startswith(
        f"erreur : serveur d'envoi injoignable : smtp://127.0.0.1:{port} ("
    )
    monkeypatch.delenv("SMTP_URL")
    assert main(["jobdating", "send", "JD"]) == 3
    assert (
        captured_line(capsys)
        == "erreur : SMTP_URL n'est pas réglé : aucun e-mail n'est envoyé (voir docs/configuration.md)"
    )
    assert main(["jobdating", "remind", "NOPE"]) == 2


def captured_line(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err.strip()


def test_no_starttls_off_this_machine_and_the_url_is_read(monkeypatch):
    # A server on another loopback address offers no STARTTLS: the password would travel in clear.
    port = free_port()
    controller = Controller(Inbox(), hostname="127.0.0.2", port=port)
    controller.start()
    try:
        with (
            pytest.raises(MailError, match="ne propose pas STARTTLS"),
            Mailer(smtp_server(f"smtp://u:p@127.0.0.2:{port}")),
        ):
            pass
    finally:
        controller.stop()
    server = smtp_server("smtps://jd%40centre.fr:s%3Acret@mail.example.org")
    assert (server.host, server.port, server.implicit_tls, server.username, server.password) == (
        "mail.example.org",
        465,
        True,
        "jd@centre.fr",
        "s:cret",
    )
    assert "s:cret" not in repr(server)
    assert smtp_server("smtp://mail.example.org").port == 587


def test_the_send_log_is_in_the_access_export_and_erased(event, inbox):
    _send(event)
    export = rights.export_candidate("C2", actor="dpo", engine=event)
    assert sorted(row["recipient"] for row in export["mail_sent"]) == [
        "parent.tom@example.org",
        "tom@example.org",
    ]
    done = rights.erase_candidate("C2", actor="dpo", engine=event)
    assert done["mail_sends"] == 2
    assert [row for row in _log(event) if row[2] == "C2"] == []
