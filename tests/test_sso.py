"""Single sign-on (st.login): who the store lets in and with which role, and the commands
that map the provider's groups to roles. The dashboard and the browser path are in
test_sso_app.py.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.access import accounts
from services.access.accounts import SessionEnded, SsoRefused
from services.store import audit, database
from services.store.models import Account
from tests.conftest import load
from tests.test_accounts import run

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent


def claims(email: str | None, *groups: str, **more: object) -> dict[str, object]:
    """What st.user holds after a sign-in at the provider (the id token's claims)."""
    found: dict[str, object] = {"is_logged_in": True, "sub": "user-1", **more}
    if email is not None:
        found["email"] = email
    if groups:
        found["groups"] = list(groups)
    return found


def events(action: str) -> list[tuple[str, str | None, str | None]]:
    """(actor, target, detail) of the audit events of an action, oldest first."""
    table = audit.EVENTS
    query = sa.select(table.c.actor, table.c.target, table.c.detail).where(table.c.action == action)
    with database.get_engine().connect() as connection:
        return [tuple(row) for row in connection.execute(query.order_by(table.c.id))]


@pytest.fixture
def groups(engine) -> None:
    """The provider's groups as an administrator mapped them."""
    for group, role in (
        ("cfai-direction", "director"),
        ("cfai-marketing", "marketing"),
        ("cfai-admins", "admin"),
        ("cfai-conseillers", "advisor"),
    ):
        accounts.map_group(group=group, role=role, actor="cli:admin")


@pytest.fixture
def advisor(engine) -> str:
    load("sites", "code,name\nMAX,Maxéville\n", engine)
    load("advisors", "email,name,site_code\nanne@cfai.fr,Anne,MAX\n", engine)
    return "anne@cfai.fr"


# ---------------------------------------------------------------- who gets which role


def test_an_account_with_the_email_gives_its_role_whatever_the_groups(engine, groups):
    accounts.add_account(email="directrice@cfai.fr", role="director", password=None, actor="cli:admin")
    # The account decides, even though the admins' group would give more rights.
    account = accounts.sso_sign_in(
        claims=claims("Directrice@CFAI.fr", "cfai-admins"), token="cookie-1", now=NOW
    )
    assert (account.email, account.role, account.advisor_email) == ("directrice@cfai.fr", "director", None)
    assert accounts.session_account("cookie-1", now=NOW + timedelta(minutes=5)) == account
    assert events("sign_in") == [("directrice@cfai.fr", None, "sso")]
    assert events("account.add") == [("cli:admin", "directrice@cfai.fr", "role=director")]


def test_a_mapped_group_lets_in_and_creates_a_password_less_account(engine, groups):
    account = accounts.sso_sign_in(
        claims=claims("paul@cfai.fr", "cfai-marketing", "tous-les-salaries"), token="cookie-1", now=NOW
    )
    assert (account.role, account.advisor_email) == ("marketing", None)
    with engine.connect() as connection:
        row = connection.execute(sa.select(Account.__table__).where(Account.email == "paul@cfai.fr")).one()
    assert row.password_hash is None and row.role == "marketing"
    assert events("account.add") == [("sso", "paul@cfai.fr", "role=marketing group=cfai-marketing")]
    # A password sign-in stays impossible for that account.
    with pytest.raises(accounts.AccountError):
        accounts.authenticate("paul@cfai.fr", "")
    # The next sign-in (a new cookie) finds the account: no second creation.
    assert accounts.sso_sign_in(claims=claims("paul@cfai.fr"), token="cookie-2", now=NOW) == account
    assert len(events("account.add")) == 1
    assert events("sign_in") == [("paul@cfai.fr", None, "sso")] * 2


def test_of_several_matching_groups_the_role_with_the_fewest_rights_wins(engine, groups):
    # director, admin and marketing match: marketing has the fewest rights.
    account = accounts.sso_sign_in(
        claims=claims("x@cfai.fr", "cfai-admins", "cfai-direction", "cfai-marketing"), token="t1", now=NOW
    )
    assert account.role == "marketing"
    # director and admin match: director.
    account = accounts.sso_sign_in(claims=claims("y@cfai.fr", "cfai-admins", "cfai-direction"), token="t2")
    assert account.role == "director"
    # A provider that sends a single group as a string is read the same way.
    assert accounts.sso_sign_in(claims=claims("z@cfai.fr", groups="cfai-admins"), token="t3").role == "admin"


def test_an_advisor_group_gives_the_advisor_role_only_to_an_advisor_of_the_data(engine, groups, advisor):
    account = accounts.sso_sign_in(claims=claims(advisor, "cfai-conseillers", "cfai-direction"), token="t1")
    # advisor < director, and Anne is an advisor of the data: her account is linked to her interviews.
    assert (account.role, account.advisor_email) == ("advisor", "anne@cfai.fr")
    # Someone else in the advisors' group is no advisor of the data: that group does not count...
    with pytest.raises(SsoRefused) as refused:
        accounts.sso_sign_in(claims=claims("stagiaire@cfai.fr", "cfai-conseillers"), token="t2")
    assert refused.value.reason == "not_mapped"
    # ...and their other groups still do.
    other = accounts.sso_sign_in(
        claims=claims("chef@cfai.fr", "cfai-conseillers", "cfai-direction"), token="t3"
    )
    assert (other.role, other.advisor_email) == ("director", None)


def test_no_account_and_no_mapped_group_is_refused_in_french_and_logged(engine, groups):
    with pytest.raises(SsoRefused) as refused:
        accounts.sso_sign_in(claims=claims("intrus@ailleurs.fr", "visiteurs"), token="t1", now=NOW)
    assert refused.value.reason == "not_mapped"
    assert str(refused.value) == (
        "Votre compte intrus@ailleurs.fr n'a pas accès au tableau de bord ; demandez à un administrateur."
    )
    assert accounts.list_accounts().empty
    assert accounts.session_account("t1", now=NOW) is None
    assert events("sign_in.failed") == [("intrus@ailleurs.fr", None, "sso:not_mapped")]
    assert events("sign_in") == []


def test_a_disabled_account_is_refused_even_with_a_mapped_group(engine, groups):
    accounts.add_account(email="ancien@cfai.fr", role="director", password=None, actor="cli:admin")
    accounts.disable_account(email="ancien@cfai.fr", actor="cli:admin")
    with pytest.raises(SsoRefused) as refused:
        accounts.sso_sign_in(claims=claims("ancien@cfai.fr", "cfai-direction"), token="t1")
    assert refused.value.reason == "disabled"
    assert accounts.session_account("t1") is None
    assert events("sign_in.failed") == [("ancien@cfai.fr", None, "sso:disabled")]


@pytest.mark.parametrize(
    "identity",
    [claims(None, "cfai-direction"), claims("paul@cfai.fr", "cfai-direction", email_verified=False)],
    ids=["no e-mail", "unverified e-mail"],
)
def test_an_identity_without_a_verified_email_is_refused(engine, groups, identity):
    with pytest.raises(SsoRefused) as refused:
        accounts.sso_sign_in(claims=identity, token="t1")
    assert refused.value.reason == "no_email"
    assert accounts.list_accounts().empty
    assert events("sign_in.failed")[0][2] == "sso:no_email"


def test_an_ended_sign_in_never_opens_a_new_session(engine, groups, monkeypatch):
    accounts.sso_sign_in(claims=claims("paul@cfai.fr", "cfai-marketing"), token="cookie-1", now=NOW)
    # Signed out: the same identity cookie does not sign in again.
    accounts.end_session("cookie-1", now=NOW)
    assert accounts.session_account("cookie-1", now=NOW) is None
    with pytest.raises(SessionEnded):
        accounts.sso_sign_in(claims=claims("paul@cfai.fr", "cfai-marketing"), token="cookie-1", now=NOW)
    # Idle past SESSION_IDLE_MINUTES (30): the same.
    accounts.sso_sign_in(claims=claims("paul@cfai.fr"), token="cookie-2", now=NOW)
    assert accounts.session_account("cookie-2", now=NOW + timedelta(minutes=31)) is None
    with pytest.raises(SessionEnded):
        accounts.sso_sign_in(claims=claims("paul@cfai.fr"), token="cookie-2", now=NOW + timedelta(minutes=31))
    # A new role ends it too: the person signs in again (new cookie) and gets the new role.
    accounts.sso_sign_in(claims=claims("paul@cfai.fr"), token="cookie-3", now=NOW)
    accounts.set_role(email="paul@cfai.fr", role="director", actor="cli:admin")
    with pytest.raises(SessionEnded):
        accounts.sso_sign_in(claims=claims("paul@cfai.fr"), token="cookie-3", now=NOW)
    assert accounts.sso_sign_in(claims=claims("paul@cfai.fr"), token="cookie-4", now=NOW).role == "director"


# ---------------------------------------------------------------- the mapping and its commands


def test_group_mappings_are_checked_and_every_change_is_audited(engine):
    accounts.map_group(group=" cfai-direction ", role="director", actor="cli:admin")
    accounts.map_group(group="cfai-direction", role="director", actor="cli:admin")  # unchanged: no event
    accounts.map_group(group="cfai-direction", role="marketing", actor="cli:admin")
    assert accounts.list_groups()[["group", "role"]].values.tolist() == [["cfai-direction", "marketing"]]
    with pytest.raises(accounts.AccountError, match="rôle inconnu"):
        accounts.map_group(group="x", role="root", actor="cli:admin")
    with pytest.raises(accounts.AccountError, match="vide"):
        accounts.map_group(group="  ", role="director", actor="cli:admin")
    accounts.unmap_group(group="cfai-direction", actor="cli:admin")
    assert accounts.list_groups().empty
    with pytest.raises(accounts.AccountError, match="aucun rôle"):
        accounts.unmap_group(group="cfai-direction", actor="cli:admin")
    assert events("sso_group.map") == [
        ("cli:admin", "cfai-direction", "role=director"),
        ("cli:admin", "cfai-direction", "role=marketing"),
    ]
    assert events("sso_group.unmap") == [("cli:admin", "cfai-direction", None)]


def test_the_command_line_maps_groups_and_adds_single_sign_on_accounts(engine):
    mapped = run("map-group", "cfai-direction", "--role", "director")
    assert mapped.returncode == 0, mapped.stderr
    listed = run("groups")
    assert "cfai-direction" in listed.stdout and "director" in listed.stdout
    assert "cfai-direction" in run("list").stdout
    added = run("add", "directrice@cfai.fr", "--role", "director", "--sso")
    assert added.returncode == 0 and "connexion unique" in added.stdout
    assert accounts.sso_sign_in(claims=claims("directrice@cfai.fr"), token="t1").role == "director"
    # Without --sso an empty password is a mistake, said in one line.
    empty = run("add", "autre@cfai.fr", "--role", "director", stdin="\n")
    assert empty.returncode == 2 and "--sso" in empty.stderr and empty.stderr.count("\n") == 1
    assert run("unmap-group", "cfai-direction").returncode == 0
    assert run("unmap-group", "cfai-direction").returncode == 2
    assert "aucun groupe" in run("groups").stdout
    # The command line signs its changes with the operator's login.
    changes = events("sso_group.map") + events("sso_group.unmap")
    assert [actor for actor, _, _ in changes] == [f"cli:{getpass.getuser()}"] * 2
