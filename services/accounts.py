"""Staff accounts: Argon2 passwords, roles, lockout after failed sign-ins, server-side sessions,
and who single sign-on (st.login) lets in.

A refused sign-in never says whether the account exists; passwords are never logged or shown.
A single sign-on person gets the role of the account with their e-mail, else the role of their
provider groups mapped in ``sso_groups`` (an account is then created for them), else nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from services import audit, config
from services.database import get_engine, write_transaction
from services.models import ROLES, Account, Advisor, SignInSession, SsoGroup

ACCOUNTS = Account.__table__
SESSIONS = SignInSession.__table__
ADVISORS = Advisor.__table__
SSO_GROUPS = SsoGroup.__table__
#: Roles from the fewest rights to the most: of several matching groups, the first one wins.
ROLES_BY_RIGHTS = ("marketing", "advisor", "director", "admin")
#: The actor of what single sign-on does by itself in the audit log (an account it creates).
SSO_ACTOR = "sso"
MAX_FAILED_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
REFUSED = "adresse e-mail ou mot de passe incorrect, ou compte momentanément bloqué"
_hasher = PasswordHasher()
#: Verified when the account does not exist, so that a refusal takes the same time either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """An account change the rules refuse (the message says why, in French)."""


class SsoRefused(AccountError):
    """A single sign-on person the store does not let in.

    ``reason``: ``no_email`` (the provider sent no usable e-mail), ``disabled`` (their account
    is disabled) or ``not_mapped`` (no account and no mapped group).
    """

    def __init__(self, reason: str, email: str | None) -> None:
        self.reason, self.email = reason, email
        who = email or "sans adresse e-mail vérifiée"
        super().__init__(
            f"Votre compte {who} n'a pas accès au tableau de bord ; demandez à un administrateur."
        )


class SessionEnded(AccountError):
    """This sign-in token's session has ended (signed out, expired): it never opens another."""

    def __init__(self) -> None:
        super().__init__("cette connexion est terminée : reconnectez-vous")


@dataclass(frozen=True)
class SignedIn:
    """Who is signed in: what the pages need to decide what to show."""

    account_id: int
    email: str
    role: str
    advisor_email: str | None


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"mot de passe trop court (au moins {MIN_PASSWORD_LENGTH} caractères)")


def _check_role(connection: sa.Connection, role: str, advisor_email: str | None) -> None:
    if role not in ROLES:
        raise AccountError(f"rôle inconnu « {role} » (attendu : {', '.join(ROLES)})")
    if role == "advisor":
        if not advisor_email:
            raise AccountError("un compte conseiller est lié à un conseiller : --advisor EMAIL")
        if (
            connection.execute(sa.select(ADVISORS.c.id).where(ADVISORS.c.email == advisor_email)).first()
            is None
        ):
            raise AccountError(f"conseiller inconnu : {advisor_email} (importez advisors.csv)")
    elif advisor_email:
        raise AccountError("seul un compte conseiller est lié à un conseiller")


def add_account(
    *,
    email: str,
    role: str,
    password: str | None,
    actor: str,
    advisor_email: str | None = None,
    engine: Engine | None = None,
) -> int:
    """Create an account; a None password means single sign-on only. Returns its id."""
    email = email.strip().lower()
    advisor_email = advisor_email.strip().lower() if advisor_email else None
    if password is not None:
        _check_password(password)
    with write_transaction(engine) as connection:
        _check_role(connection, role, advisor_email)
        if connection.execute(sa.select(ACCOUNTS.c.id).where(ACCOUNTS.c.email == email)).first():
            raise AccountError(f"un compte existe déjà pour {email}")
        account_id = connection.execute(
            ACCOUNTS.insert().values(
                email=email,
                role=role,
                advisor_email=advisor_email,
                created_at=datetime.now(UTC),
                password_hash=_hasher.hash(password) if password is not None else None,
            )
        ).inserted_primary_key[0]
        audit.record("account.add", actor=actor, target=email, detail=f"role={role}", connection=connection)
    return int(account_id)


def list_accounts(engine: Engine | None = None) -> pd.DataFrame:
    """Every account (never its password hash)."""
    query = sa.select(
        ACCOUNTS.c.email,
        ACCOUNTS.c.role,
        ACCOUNTS.c.advisor_email,
        ACCOUNTS.c.disabled,
        ACCOUNTS.c.locked_until,
        ACCOUNTS.c.created_at,
    ).order_by(ACCOUNTS.c.email)
    with (engine or get_engine()).connect() as connection:
        return pd.DataFrame(
            connection.execute(query).all(),
            columns=["email", "role", "advisor_email", "disabled", "locked_until", "created_at"],
        )


def _update(
    email: str,
    values: dict,
    *,
    actor: str,
    action: str,
    detail: str | None,
    engine: Engine | None,
    connection_check=None,
) -> None:
    email = email.strip().lower()
    with write_transaction(engine) as connection:
        if connection_check:
            connection_check(connection)
        result = connection.execute(ACCOUNTS.update().where(ACCOUNTS.c.email == email).values(**values))
        if result.rowcount == 0:
            raise AccountError(f"aucun compte pour {email}")
        if values.get("disabled") or "password_hash" in values or "role" in values:
            # A disabled account, a new password or a new role ends the account's sign-ins.
            account_ids = sa.select(ACCOUNTS.c.id).where(ACCOUNTS.c.email == email)
            connection.execute(
                SESSIONS.update()
                .where(SESSIONS.c.account_id.in_(account_ids), SESSIONS.c.ended_at.is_(None))
                .values(ended_at=datetime.now(UTC))
            )
        audit.record(action, actor=actor, target=email, detail=detail, connection=connection)


def disable_account(*, email: str, actor: str, engine: Engine | None = None) -> None:
    """Disable an account and end its sign-ins."""
    _update(email, {"disabled": True}, actor=actor, action="account.disable", detail=None, engine=engine)


def enable_account(*, email: str, actor: str, engine: Engine | None = None) -> None:
    """Enable a disabled account again (and unlock it)."""
    _update(
        email,
        {"disabled": False, "failed_attempts": 0, "locked_until": None},
        actor=actor,
        action="account.enable",
        detail=None,
        engine=engine,
    )


def set_password(*, email: str, password: str, actor: str, engine: Engine | None = None) -> None:
    """Give an account a new password (and unlock it)."""
    _check_password(password)
    _update(
        email,
        {"password_hash": _hasher.hash(password), "failed_attempts": 0, "locked_until": None},
        actor=actor,
        action="account.set_password",
        detail=None,
        engine=engine,
    )


def set_role(
    *, email: str, role: str, actor: str, advisor_email: str | None = None, engine: Engine | None = None
) -> None:
    """Change an account's role (an advisor account names its advisor)."""
    advisor_email = advisor_email.strip().lower() if advisor_email else None
    _update(
        email,
        {"role": role, "advisor_email": advisor_email},
        actor=actor,
        action="account.set_role",
        detail=f"role={role}",
        engine=engine,
        connection_check=lambda connection: _check_role(connection, role, advisor_email),
    )


def authenticate(
    email: str, password: str, *, now: datetime | None = None, engine: Engine | None = None
) -> SignedIn:
    """The account if the password is right; otherwise ``AccountError(REFUSED)``, whatever the reason.

    Five failed attempts lock the account for 15 minutes; every attempt is in the audit log.
    """
    now = _now(now)
    email = email.strip().lower()
    with write_transaction(engine) as connection:
        account = connection.execute(sa.select(ACCOUNTS).where(ACCOUNTS.c.email == email)).mappings().first()
        locked = account is not None and account["locked_until"] is not None and account["locked_until"] > now
        stored_hash = (
            account["password_hash"] if account is not None and account["password_hash"] else _DUMMY_HASH
        )
        try:
            _hasher.verify(stored_hash, password)
            valid = account is not None and account["password_hash"] is not None
        except (VerificationError, InvalidHashError):
            valid = False
        if valid and not locked and not account["disabled"]:
            connection.execute(
                ACCOUNTS.update()
                .where(ACCOUNTS.c.id == account["id"])
                .values(failed_attempts=0, locked_until=None)
            )
            audit.record("sign_in", actor=email, connection=connection)
            return SignedIn(account["id"], account["email"], account["role"], account["advisor_email"])
        if account is not None and not locked:
            attempts = account["failed_attempts"] + 1
            lock = attempts >= MAX_FAILED_ATTEMPTS
            connection.execute(
                ACCOUNTS.update()
                .where(ACCOUNTS.c.id == account["id"])
                .values(failed_attempts=0 if lock else attempts, locked_until=now + LOCKOUT if lock else None)
            )
            if lock:
                audit.record("account.locked", actor=email, connection=connection)
        audit.record("sign_in.failed", actor=email, connection=connection)
    raise AccountError(REFUSED)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    account: SignedIn, *, token: str | None = None, now: datetime | None = None, engine: Engine | None = None
) -> str:
    """Start a sign-in session; returns its secret token (only its hash is stored).

    The token is random unless given (single sign-on: the value of Streamlit's identity cookie).
    """
    token = token or secrets.token_urlsafe(32)
    now = _now(now)
    with write_transaction(engine) as connection:
        connection.execute(
            SESSIONS.insert().values(
                token_hash=_digest(token), account_id=account.account_id, created_at=now, last_seen_at=now
            )
        )
    return token


def session_account(
    token: str | None, *, now: datetime | None = None, engine: Engine | None = None
) -> SignedIn | None:
    """The account of a live session (its idle time refreshed), or None when absent or expired."""
    if not token:
        return None
    now = _now(now)
    idle = timedelta(minutes=config.session_idle_minutes())
    with write_transaction(engine) as connection:
        row = _live_session(connection, token)
        if row is None:
            return None
        if row["disabled"] or now - row["last_seen_at"] > idle:
            connection.execute(SESSIONS.update().where(SESSIONS.c.id == row["id"]).values(ended_at=now))
            return None
        connection.execute(SESSIONS.update().where(SESSIONS.c.id == row["id"]).values(last_seen_at=now))
        return SignedIn(row["account_id"], row["email"], row["role"], row["advisor_email"])


def _live_session(connection: sa.Connection, token: str) -> sa.RowMapping | None:
    """The session of this token that has not ended, with its account's sign-in details."""
    return (
        connection.execute(
            sa.select(
                SESSIONS.c.id,
                SESSIONS.c.last_seen_at,
                ACCOUNTS.c.id.label("account_id"),
                ACCOUNTS.c.email,
                ACCOUNTS.c.role,
                ACCOUNTS.c.advisor_email,
                ACCOUNTS.c.disabled,
            )
            .join(ACCOUNTS, ACCOUNTS.c.id == SESSIONS.c.account_id)
            .where(SESSIONS.c.token_hash == _digest(token), SESSIONS.c.ended_at.is_(None))
        )
        .mappings()
        .first()
    )


def end_session(
    token: str | None, *, now: datetime | None = None, engine: Engine | None = None
) -> SignedIn | None:
    """Sign out: the session ends on the server, whatever the browser keeps. Returns whose it was."""
    if not token:
        return None
    with write_transaction(engine) as connection:
        row = _live_session(connection, token)
        if row is None:
            return None
        connection.execute(SESSIONS.update().where(SESSIONS.c.id == row["id"]).values(ended_at=_now(now)))
    return SignedIn(row["account_id"], row["email"], row["role"], row["advisor_email"])


def has_accounts(engine: Engine | None = None) -> bool:
    """Whether any account exists (none yet: the first admin is created on the command line)."""
    with (engine or get_engine()).connect() as connection:
        return connection.execute(sa.select(ACCOUNTS.c.id).limit(1)).first() is not None


def map_group(*, group: str, role: str, actor: str, engine: Engine | None = None) -> None:
    """Give the members of a provider group a role at single sign-on (replaces its old role)."""
    group = group.strip()
    if not group:
        raise AccountError("nom de groupe vide")
    if role not in ROLES:
        raise AccountError(f"rôle inconnu « {role} » (attendu : {', '.join(ROLES)})")
    with write_transaction(engine) as connection:
        current = connection.execute(sa.select(SSO_GROUPS.c.role).where(SSO_GROUPS.c.name == group)).scalar()
        if current == role:
            return
        if current is None:
            connection.execute(
                SSO_GROUPS.insert().values(name=group, role=role, created_at=datetime.now(UTC))
            )
        else:
            connection.execute(SSO_GROUPS.update().where(SSO_GROUPS.c.name == group).values(role=role))
        audit.record("sso_group.map", actor=actor, target=group, detail=f"role={role}", connection=connection)


def unmap_group(*, group: str, actor: str, engine: Engine | None = None) -> None:
    """Stop giving a role to a provider group (accounts it already created stay as they are)."""
    group = group.strip()
    with write_transaction(engine) as connection:
        if connection.execute(SSO_GROUPS.delete().where(SSO_GROUPS.c.name == group)).rowcount == 0:
            raise AccountError(f"aucun rôle n'est associé au groupe « {group} »")
        audit.record("sso_group.unmap", actor=actor, target=group, connection=connection)


def list_groups(engine: Engine | None = None) -> pd.DataFrame:
    """Every provider group mapped to a role."""
    query = sa.select(SSO_GROUPS.c.name, SSO_GROUPS.c.role, SSO_GROUPS.c.created_at).order_by(
        SSO_GROUPS.c.name
    )
    with (engine or get_engine()).connect() as connection:
        return pd.DataFrame(connection.execute(query).all(), columns=["group", "role", "created_at"])


def sso_email(claims: Mapping[str, object]) -> str | None:
    """The e-mail of a single sign-on identity, or None when absent or said to be unverified."""
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or claims.get("email_verified") is False:
        return None
    return email.strip().lower()


def _claimed_groups(claims: Mapping[str, object]) -> list[str]:
    groups = claims.get("groups")
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list | tuple):
        return []
    return [group.strip() for group in groups if isinstance(group, str) and group.strip()]


def _sso_account(connection: sa.Connection, email: str | None, groups: list[str], now: datetime) -> SignedIn:
    # Raises SsoRefused; creates the account of a person let in through a group.
    if email is None:
        raise SsoRefused("no_email", None)
    account = connection.execute(sa.select(ACCOUNTS).where(ACCOUNTS.c.email == email)).mappings().first()
    if account is not None:
        if account["disabled"]:
            raise SsoRefused("disabled", email)
        return SignedIn(account["id"], account["email"], account["role"], account["advisor_email"])
    mapped = (
        connection.execute(
            sa.select(SSO_GROUPS.c.name, SSO_GROUPS.c.role).where(SSO_GROUPS.c.name.in_(groups))
        ).all()
        if groups
        else []
    )
    is_advisor = (
        connection.execute(sa.select(ADVISORS.c.id).where(ADVISORS.c.email == email)).first() is not None
    )
    # An advisor group gives the advisor role only to an advisor of the data, whose interviews
    # the account is then linked to; for anyone else that group does not count.
    choices = sorted(
        (ROLES_BY_RIGHTS.index(role), name, role)
        for name, role in mapped
        if role in ROLES_BY_RIGHTS and (role != "advisor" or is_advisor)
    )
    if not choices:
        raise SsoRefused("not_mapped", email)
    _, group, role = choices[0]
    advisor_email = email if role == "advisor" else None
    account_id = connection.execute(
        ACCOUNTS.insert().values(
            email=email, role=role, advisor_email=advisor_email, created_at=now, password_hash=None
        )
    ).inserted_primary_key[0]
    audit.record(
        "account.add",
        actor=SSO_ACTOR,
        target=email,
        detail=f"role={role} group={group}",
        connection=connection,
    )
    return SignedIn(int(account_id), email, role, advisor_email)


def sso_sign_in(
    *, claims: Mapping[str, object], token: str, now: datetime | None = None, engine: Engine | None = None
) -> SignedIn:
    """Let a single sign-on person in and open their session under ``token``.

    The role: their account's (by e-mail), else that of the mapped group with the fewest rights
    among their ``groups`` claim (an account is then created). ``SsoRefused`` when the store
    gives them none or their account is disabled; ``SessionEnded`` when this token's session
    has already ended. Sign-ins and refusals are in the audit log.
    """
    try:
        return _sso_sign_in_once(claims, token, _now(now), engine)
    except sa.exc.IntegrityError:
        # Another tab of the same browser opened this session (or created this account) at the
        # same instant: a second try finds it.
        return _sso_sign_in_once(claims, token, _now(now), engine)


def _sso_sign_in_once(
    claims: Mapping[str, object], token: str, now: datetime, engine: Engine | None
) -> SignedIn:
    email = sso_email(claims)
    with write_transaction(engine) as connection:
        session = connection.execute(
            sa.select(SESSIONS.c.ended_at).where(SESSIONS.c.token_hash == _digest(token))
        ).first()
        if session is not None and session.ended_at is not None:
            raise SessionEnded()
        try:
            account = _sso_account(connection, email, _claimed_groups(claims), now)
        except SsoRefused as refusal:
            # Recorded in this transaction, which must commit: the refusal is raised after it.
            audit.record(
                "sign_in.failed",
                actor=email or SSO_ACTOR,
                detail=f"sso:{refusal.reason}",
                connection=connection,
            )
            refused = refusal
        else:
            if session is None:
                connection.execute(
                    SESSIONS.insert().values(
                        token_hash=_digest(token),
                        account_id=account.account_id,
                        created_at=now,
                        last_seen_at=now,
                    )
                )
                audit.record("sign_in", actor=account.email, detail="sso", connection=connection)
            return account
    raise refused
