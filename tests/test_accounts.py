"""Accounts: Argon2 passwords, roles, lockout, server-side sessions, audit, the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.access import accounts
from services.access.accounts import REFUSED, AccountError
from services.store import audit
from services.store.models import Account
from tests.conftest import load

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def director(engine) -> str:
    accounts.add_account(email="Directrice@Example.org ", role="director", password=PASSWORD, actor="test")
    return "directrice@example.org"


def test_passwords_are_argon2_hashes_never_the_password(engine, director):
    with engine.connect() as connection:
        stored = connection.execute(sa.select(Account.__table__.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2")
    assert PASSWORD not in stored
    assert PASSWORD not in accounts.list_accounts().to_csv()
    assert PASSWORD not in audit.recent_events().to_csv()


def test_sign_in_with_the_right_password(engine, director):
    signed = accounts.authenticate(" DIRECTRICE@example.org", PASSWORD, now=NOW)
    assert (signed.email, signed.role, signed.advisor_email) == ("directrice@example.org", "director", None)
    assert "sign_in" in set(audit.recent_events()["action"])


@pytest.mark.parametrize(
    ("email", "password"), [("directrice@example.org", "wrong password"), ("nobody@example.org", PASSWORD)]
)
def test_a_refusal_does_not_say_whether_the_account_exists(engine, director, email, password):
    with pytest.raises(AccountError) as refused:
        accounts.authenticate(email, password, now=NOW)
    assert str(refused.value) == REFUSED


def test_five_failures_lock_the_account_for_fifteen_minutes(engine, director):
    for _ in range(5):
        with pytest.raises(AccountError):
            accounts.authenticate(director, "wrong password", now=NOW)
    # Locked: even the right password is refused, with the same message.
    with pytest.raises(AccountError, match=REFUSED):
        accounts.authenticate(director, PASSWORD, now=NOW + timedelta(minutes=14))
    assert (
        accounts.authenticate(director, PASSWORD, now=NOW + timedelta(minutes=15, seconds=1)).role
        == "director"
    )
    actions = list(audit.recent_events()["action"])
    assert actions.count("sign_in.failed") == 6 and "account.locked" in actions


def test_four_failures_then_success_resets_the_count(engine, director):
    for _ in range(4):
        with pytest.raises(AccountError):
            accounts.authenticate(director, "wrong password", now=NOW)
    accounts.authenticate(director, PASSWORD, now=NOW)
    for _ in range(4):
        with pytest.raises(AccountError):
            accounts.authenticate(director, "wrong password", now=NOW)
    assert accounts.authenticate(director, PASSWORD, now=NOW).role == "director"  # not locked


def test_disabled_account_cannot_sign_in_and_its_sessions_end(engine, director):
    token = accounts.open_session(accounts.authenticate(director, PASSWORD, now=NOW), now=NOW)
    accounts.disable_account(email=director, actor="admin@example.org")
    assert accounts.session_account(token, now=NOW) is None
    with pytest.raises(AccountError, match=REFUSED):
        accounts.authenticate(director, PASSWORD, now=NOW)
    # Enabled again, the account signs in; the ended session stays ended.
    accounts.enable_account(email=director, actor="admin@example.org")
    assert accounts.authenticate(director, PASSWORD, now=NOW).email == director
    assert accounts.session_account(token, now=NOW) is None
    assert audit.recent_events()["action"].tolist()[:2] == ["sign_in", "account.enable"]


def test_sessions_expire_after_idle_time_and_end_on_sign_out(engine, director, monkeypatch):
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "30")
    signed = accounts.authenticate(director, PASSWORD, now=NOW)
    token = accounts.open_session(signed, now=NOW)
    # Activity at +20 min keeps it alive until +50 min.
    assert accounts.session_account(token, now=NOW + timedelta(minutes=20)) == signed
    assert accounts.session_account(token, now=NOW + timedelta(minutes=49)) == signed
    assert accounts.session_account(token, now=NOW + timedelta(minutes=80)) is None
    assert accounts.session_account(token, now=NOW + timedelta(minutes=81)) is None  # ended for good
    other = accounts.open_session(signed, now=NOW)
    accounts.end_session(other, now=NOW)
    assert accounts.session_account(other, now=NOW) is None
    assert accounts.session_account("forged-token", now=NOW) is None


def test_roles_and_advisor_link_are_checked(engine):
    with pytest.raises(AccountError, match="rôle inconnu"):
        accounts.add_account(email="a@example.org", role="root", password=PASSWORD, actor="t")
    with pytest.raises(AccountError, match="--advisor"):
        accounts.add_account(email="a@example.org", role="advisor", password=PASSWORD, actor="t")
    with pytest.raises(AccountError, match="conseiller inconnu"):
        accounts.add_account(
            email="a@example.org",
            role="advisor",
            password=PASSWORD,
            actor="t",
            advisor_email="ghost@example.org",
        )
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load("advisors", "email,name,site_code\nanne@example.org,Anne,MAX\n", engine)
    accounts.add_account(
        email="anne@example.org",
        role="advisor",
        password=PASSWORD,
        actor="t",
        advisor_email="Anne@Example.org",
    )
    assert accounts.authenticate("anne@example.org", PASSWORD).advisor_email == "anne@example.org"
    with pytest.raises(AccountError, match="trop court"):
        accounts.add_account(email="b@example.org", role="director", password="short", actor="t")
    with pytest.raises(AccountError, match="existe déjà"):
        accounts.add_account(email="anne@example.org", role="director", password=PASSWORD, actor="t")


def test_a_new_role_ends_open_sessions(engine, director):
    token = accounts.open_session(accounts.authenticate(director, PASSWORD, now=NOW), now=NOW)
    accounts.set_role(email=director, role="marketing", actor="admin")
    assert accounts.session_account(token, now=NOW) is None
    assert accounts.authenticate(director, PASSWORD, now=NOW).role == "marketing"


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services", "users", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )


def test_command_line_reads_the_password_from_standard_input(engine):
    created = run("add", "boss@example.org", "--role", "admin", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert PASSWORD not in created.stdout + created.stderr
    assert accounts.authenticate("boss@example.org", PASSWORD).role == "admin"
    listed = run("list")
    assert "boss@example.org" in listed.stdout and "$argon2" not in listed.stdout
    assert run("set-password", "boss@example.org", stdin="another long password\n").returncode == 0
    assert accounts.authenticate("boss@example.org", "another long password").role == "admin"
    refused = run("set-role", "boss@example.org", "advisor")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--advisor" in refused.stderr
    assert run("disable", "boss@example.org").returncode == 0
    assert run("disable", "nobody@example.org").returncode == 2


# ---------------------------------------------------------------- what an account may be (issue 16, item 15)


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-email", "adresse e-mail invalide"),
        ("   ", "adresse e-mail vide"),
        ("", "adresse e-mail vide"),
        ("prenom@cfai", "adresse e-mail invalide"),
        ("prenom nom@cfai-lorraine.fr", "adresse e-mail invalide"),
        ("prenom@@cfai-lorraine.fr", "adresse e-mail invalide"),
        ("prenom@cfai-lorraine.fr\nBcc: x@y.fr", "adresse e-mail invalide"),
        ("a" * 250 + "@cfai-lorraine.fr", "adresse e-mail trop longue"),
    ],
)
def test_an_account_needs_an_e_mail_address(engine, email, message):
    with pytest.raises(AccountError, match=message):
        accounts.add_account(email=email, role="admin", password=PASSWORD, actor="test")
    assert accounts.list_accounts().empty


def test_an_address_is_stored_stripped_and_lower_case(engine):
    accounts.add_account(
        email="  Prenom.Nom@CFAI-Lorraine.fr ", role="director", password=PASSWORD, actor="t"
    )
    assert accounts.list_accounts()["email"].tolist() == ["prenom.nom@cfai-lorraine.fr"]
    assert (
        accounts.authenticate("PRENOM.NOM@cfai-lorraine.fr", PASSWORD).email == "prenom.nom@cfai-lorraine.fr"
    )
    # Test addresses keep working (the special-use domains .test and .local are not needed).
    accounts.add_account(email="x@test.rencontres.fr", role="marketing", password=PASSWORD, actor="t")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        (" " * 10, "vide ou fait seulement d'espaces"),
        ("", "vide"),
        ("court", "trop court"),
        ("aaaaaaaaaaaa", "un seul caractère répété"),
        ("1111111111", "un seul caractère répété"),
        ("motdepasse", "plus courants"),
        ("Mot de passe 2024!", "plus courants"),
        ("password123", "plus courants"),
        ("AZERTYUIOP", "plus courants"),
        ("0123456789", "plus courants"),
        ("prenom.nom@cfai-lorraine.fr", "l'adresse e-mail du compte"),
        ("Prenom.Nom", "l'adresse e-mail du compte"),
        ("x" * 1025, "trop long"),
    ],
)
def test_blank_or_trivially_weak_passwords_are_refused(engine, password, message):
    email = "prenom.nom@cfai-lorraine.fr"
    with pytest.raises(AccountError, match=message):
        accounts.add_account(email=email, role="director", password=password, actor="test")
    assert accounts.list_accounts().empty
    accounts.add_account(email=email, role="director", password=PASSWORD, actor="test")
    with pytest.raises(AccountError, match=message):
        accounts.set_password(email=email, password=password, actor="test")
    assert accounts.authenticate(email, PASSWORD).role == "director"  # unchanged


def test_the_command_line_refuses_what_is_not_an_address(engine):
    # Issue 17, item 12: a blank e-mail made an admin account with an empty e-mail.
    for email in ("   ", "not-an-email"):
        refused = run("add", email, "--role", "admin", stdin=PASSWORD + "\n")
        assert refused.returncode == 2 and "adresse e-mail" in refused.stderr, refused.stderr
    refused = run("add", "boss@example.org", "--role", "admin", stdin=" " * 10 + "\n")
    assert refused.returncode == 2 and "espaces" in refused.stderr
    assert accounts.list_accounts().empty


def test_a_session_check_is_a_read_and_refreshes_the_idle_time_once_a_minute(engine):
    # Checked at every request and message: in between refreshes, nothing is written.
    from services.store.models import SignInSession

    accounts.add_account(email="paul@cfai.fr", role="marketing", password="une-phrase-longue", actor="t")
    start = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    token = accounts.open_session(accounts.authenticate("paul@cfai.fr", "une-phrase-longue"), now=start)

    def seen() -> datetime:
        with engine.connect() as connection:
            value = connection.execute(sa.select(SignInSession.last_seen_at)).scalar_one()
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    assert accounts.session_account(token, now=start + timedelta(seconds=59)) is not None
    assert seen() == start  # 59 s later: read only
    assert accounts.session_account(token, now=start + timedelta(seconds=60)) is not None
    assert seen() == start + timedelta(seconds=60)  # a minute later: refreshed
    # Idle for longer than the limit (30 minutes) since the last refresh (at 1 minute): at 32
    # minutes, 31 minutes idle, ended.
    assert accounts.session_account(token, now=start + timedelta(minutes=32)) is None


def test_a_password_hashed_ahead_signs_in_only_on_the_account_it_was_checked_for(engine):
    # The demo's seed hashes its accounts' passwords in another thread (services/demo.py): the
    # hash made ahead is stored as is, and the checks of check_password ran against its e-mail.
    hashed = accounts.hashed_password(PASSWORD, email=" Anne@Example.org")
    assert hashed.email == "anne@example.org" and hashed.hash.startswith("$argon2")
    with pytest.raises(AccountError, match="l'adresse e-mail du compte"):
        accounts.hashed_password("anne.martin", email="anne.martin@example.org")
    with pytest.raises(AccountError, match="un autre compte"):
        accounts.add_account(email="paul@example.org", role="director", password=hashed, actor="test")
    assert accounts.list_accounts().empty
    accounts.add_account(email="anne@example.org", role="director", password=hashed, actor="test")
    assert accounts.authenticate("anne@example.org", PASSWORD).role == "director"
