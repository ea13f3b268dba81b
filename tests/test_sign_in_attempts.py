"""Sign-in attempts at once: the failure count and the lockout hold on both engines, and the
sign-in form's e-mail field is bounded (issue 16, items 7 and 14)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from services.access import accounts
from services.access.accounts import REFUSED, AccountError
from services.store import audit
from services.store.models import Account

pytestmark = pytest.mark.postgresql  # these tests run on SQLite and on PostgreSQL

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
EMAIL = "directrice@cfai-lorraine.fr"
PASSWORD = "correct horse battery"
GUESSES = 30


@pytest.fixture
def director(engine) -> str:
    accounts.add_account(email=EMAIL, role="director", password=PASSWORD, actor="test")
    return EMAIL


def _guess_all_at_once(guesses: int) -> list[bool]:
    """``guesses`` wrong passwords sent together (a barrier releases them at the same instant);
    for each, whether it was refused."""
    start = threading.Barrier(guesses)

    def guess(number: int) -> bool:
        start.wait()
        try:
            accounts.authenticate(EMAIL, f"wrong guess {number}", now=NOW)
        except AccountError as refusal:
            return str(refusal) == REFUSED
        return False

    with ThreadPoolExecutor(max_workers=guesses) as pool:
        return list(pool.map(guess, range(guesses)))


def test_parallel_wrong_guesses_lock_the_account_once(engine, director):
    assert all(_guess_all_at_once(GUESSES))
    # Five failures lock the account whatever their order: the right password is refused then.
    with pytest.raises(AccountError, match=REFUSED):
        accounts.authenticate(EMAIL, PASSWORD, now=NOW + timedelta(minutes=1))
    with engine.connect() as connection:
        locked_until = connection.execute(sa.select(Account.__table__.c.locked_until)).scalar_one()
    assert locked_until is not None and locked_until > NOW + timedelta(minutes=14)
    actions = list(audit.recent_events()["action"])
    # Every attempt is audited (the 30 guesses and the refused right password); the account is
    # locked exactly once: the attempts after the fifth failure found it locked.
    assert actions.count("sign_in.failed") == GUESSES + 1
    assert actions.count("account.locked") == 1
    # The lock ends after 15 minutes, as for attempts one after the other.
    assert accounts.authenticate(EMAIL, PASSWORD, now=NOW + timedelta(minutes=16)).role == "director"


# ---------------------------------------------------------------- the e-mail field's bound (item 14)


@pytest.fixture
def hashes(monkeypatch) -> list[str]:
    """The passwords Argon2 verified during the test (it still verifies them)."""
    verified: list[str] = []
    hasher = accounts._hasher

    class Counting:
        def hash(self, password: str) -> str:
            return hasher.hash(password)

        def verify(self, stored: str, password: str) -> bool:
            verified.append(password)
            return hasher.verify(stored, password)

    monkeypatch.setattr(accounts, "_hasher", Counting())
    return verified


def _failed_sign_ins() -> list[str]:
    events = audit.recent_events()
    return events[events["action"] == "sign_in.failed"]["actor"].tolist()


def test_an_e_mail_longer_than_an_address_is_refused_without_hashing_and_audited_short(
    engine, director, hashes
):
    megabyte = "a" * 1_000_000 + "@cfai-lorraine.fr"
    with pytest.raises(AccountError, match=REFUSED):
        accounts.authenticate(megabyte, PASSWORD, now=NOW)
    assert hashes == []  # nothing hashed for an e-mail no account can have
    assert _failed_sign_ins() == ["a" * accounts.AUDITED_UNKNOWN_EMAIL + "…"]
    # A megabyte of password neither.
    with pytest.raises(AccountError, match=REFUSED):
        accounts.authenticate(EMAIL, "x" * 1_000_000, now=NOW)
    assert hashes == []


def test_an_unknown_e_mail_is_audited_by_its_first_64_characters(engine, director, hashes):
    unknown = "quelqu.un." + "x" * 200 + "@cfai-lorraine.fr"  # 227 characters: an address, no account
    with pytest.raises(AccountError, match=REFUSED):
        accounts.authenticate(unknown, PASSWORD, now=NOW)
    assert hashes == [PASSWORD]  # verified against a dummy hash: the same time as a known e-mail
    assert _failed_sign_ins() == [unknown[:64] + "…"]
    # A known account's failures name it in full.
    with pytest.raises(AccountError, match=REFUSED):
        accounts.authenticate(EMAIL.upper(), "wrong password", now=NOW)
    assert _failed_sign_ins()[0] == EMAIL
