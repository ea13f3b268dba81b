"""Staff accounts: Argon2 passwords, roles, lockout after failed sign-ins, server-side sessions,
and who single sign-on (st.login) lets in.

A refused sign-in never says whether the account exists; passwords are never logged or shown.
A single sign-on person gets the role of the account with their e-mail, else the role of their
provider groups mapped in ``sso_groups`` (an account is then created for them), else nothing.

An account's e-mail is a valid address (``email-validator``), stored stripped and lower-case; its
password is neither blank nor trivially weak (``check_password``). The demo's accounts (in
``DEMO_DOMAIN``) sign in only while the store holds the demo alone: ``end_demo`` disables them in
the transaction that first stores anything else.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.engine import Engine

from services import config
from services.store import audit, database
from services.store.database import get_engine, write_transaction
from services.store.models import ROLES, Account, Advisor, SignInSession, SsoGroup, StoreState

ACCOUNTS = Account.__table__
SESSIONS = SignInSession.__table__
ADVISORS = Advisor.__table__
SSO_GROUPS = SsoGroup.__table__
STORE = StoreState.__table__
#: Roles from the fewest rights to the most: of several matching groups, the first one wins.
ROLES_BY_RIGHTS = ("marketing", "advisor", "director", "admin")
#: The actor of what single sign-on does by itself in the audit log (an account it creates).
SSO_ACTOR = "sso"
MAX_FAILED_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)
#: A session's idle time is refreshed at most this often (its checks are reads in between).
SEEN_EVERY = timedelta(minutes=1)
MIN_PASSWORD_LENGTH = 10
#: Longer input is refused before anything is hashed or looked up: an address has at most 254
#: characters (RFC 5321), and nobody types a password of more than 1024.
MAX_EMAIL_LENGTH = 254
MAX_PASSWORD_LENGTH = 1024
#: What the audit log keeps of an e-mail that names no account (anyone can type anything there).
AUDITED_UNKNOWN_EMAIL = 64
#: Passwords refused whatever their case, spaces and punctuation, with or without digits at the
#: end ("Mot de passe 2024!" is "motdepasse"): the most common ones, French and English.
COMMON_PASSWORDS = frozenset(
    {
        "motdepasse",
        "password",
        "passw0rd",
        "azertyuiop",
        "azerty",
        "qwertyuiop",
        "qwerty",
        "azertyui",
        "qsdfghjklm",
        "wxcvbn",
        "abcdefghij",
        "abcdef",
        "abc",
        "bonjour",
        "soleil",
        "doudou",
        "chouchou",
        "loulou",
        "marseille",
        "jetaime",
        "iloveyou",
        "welcome",
        "changeme",
        "letmein",
        "admin",
        "administrateur",
        "administrator",
        "secret",
        "rencontres",
        "cfai",
        "demo",
        "test",
        "utilisateur",
        "0123456789",
        "1234567890",
        "9876543210",
        "0987654321",
        "1234512345",
        "1122334455",
    }
)
#: The demo's accounts (services/demo.py) are in this domain, and only they.
DEMO_DOMAIN = "demo.rencontres.fr"
#: Who writes the demo (the accounts' ``actor``, the importer's ``imported_by``): what it stores
#: is the demo; anything stored by anyone else ends it (``end_demo``).
SEED_ACTOR = "seed"
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


def checked_email(email: str) -> str:
    """The address an account is stored under (stripped, lower-case), or ``AccountError`` saying
    in French why it is no address."""
    email = email.strip()
    if not email:
        raise AccountError("adresse e-mail vide")
    if len(email) > MAX_EMAIL_LENGTH:
        raise AccountError(f"adresse e-mail trop longue (au plus {MAX_EMAIL_LENGTH} caractères)")
    try:
        # Syntax only: no DNS query (the server may be offline, the check must not wait).
        normalized = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        raise AccountError(
            f"adresse e-mail invalide : « {_shown(email)} » (attendu : prenom.nom@domaine.fr)"
        ) from None
    return normalized.lower()


def email_key(email: str) -> str:
    """The stored form of an address typed to find an account (sign-in, changes): that of
    ``checked_email`` when it is an address, else the text stripped and lower-case (it then
    finds no account created since addresses are checked, and still finds an older one)."""
    try:
        return checked_email(email)
    except AccountError:
        return email.strip().lower()


def _shown(text: str, limit: int = AUDITED_UNKNOWN_EMAIL) -> str:
    """At most ``limit`` characters of a text typed by anyone (an ellipsis says it was cut)."""
    return text if len(text) <= limit else text[:limit] + "…"


def check_password(password: str, *, email: str | None = None) -> None:
    """``AccountError`` (why, in French) for a password that is blank, too short or too long, one
    character repeated, the account's e-mail, or one of the most common passwords."""
    if not password.strip():
        raise AccountError("mot de passe vide ou fait seulement d'espaces")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"mot de passe trop court (au moins {MIN_PASSWORD_LENGTH} caractères)")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"mot de passe trop long (au plus {MAX_PASSWORD_LENGTH} caractères)")
    folded = password.strip().casefold()
    if len(set(folded)) == 1:
        raise AccountError("mot de passe trop faible : un seul caractère répété")
    if email and folded in {email.strip().casefold(), email.strip().casefold().partition("@")[0]}:
        raise AccountError("mot de passe trop faible : c'est l'adresse e-mail du compte")
    letters = re.sub(r"[\W_]+", "", folded)
    if letters in COMMON_PASSWORDS or letters.rstrip("0123456789") in COMMON_PASSWORDS:
        raise AccountError("mot de passe trop faible : c'est l'un des plus courants, choisissez-en un autre")


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


@dataclass(frozen=True)
class HashedPassword:
    """A password checked and hashed ahead of the account it is for (``hashed_password``)."""

    email: str
    hash: str


def hashed_password(password: str, *, email: str) -> HashedPassword:
    """Check a new account's password (``check_password``) and hash it (Argon2, a quarter of a
    second of one core): done before the write transaction, or ahead in another thread (the
    demo's seed hashes its accounts' passwords while it draws its rows; Argon2 lets go of the GIL)."""
    email = checked_email(email)
    check_password(password, email=email)
    return HashedPassword(email, _hasher.hash(password))


def add_account(
    *,
    email: str,
    role: str,
    password: str | HashedPassword | None,
    actor: str,
    advisor_email: str | None = None,
    engine: Engine | None = None,
) -> int:
    """Create an account; a None password means single sign-on only; a ``HashedPassword`` is one
    checked and hashed already (for this e-mail). Returns its id.

    An account added by anyone but the demo's seeder ends the demo (``end_demo``)."""
    email = checked_email(email)
    advisor_email = advisor_email.strip().lower() if advisor_email else None
    if isinstance(password, str):
        password = hashed_password(password, email=email)
    elif password is not None and password.email != email:
        raise AccountError(f"mot de passe préparé pour un autre compte que {email}")
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
                password_hash=password.hash if password is not None else None,
            )
        ).inserted_primary_key[0]
        audit.record("account.add", actor=actor, target=email, detail=f"role={role}", connection=connection)
        end_demo(connection, actor=actor, reason=f"account.add {email}")
    return int(account_id)


def end_demo(connection: sa.Connection, *, actor: str | None, reason: str) -> bool:
    """Record, in the transaction that stores something the demo's seeder did not write (an
    import, a sync, an account added by hand), that the store no longer holds the demo alone:
    its flag is cleared, the demo's accounts (whose passwords are public) are disabled and their
    sessions end, all audited. Returns whether the demo ended now (False when it had already,
    or for the seeder's own writes)."""
    if actor == SEED_ACTOR or not database.end_demo_data(connection):
        return False
    who = actor or "?"
    audit.record("demo.end", actor=who, detail=reason, connection=connection)
    demo_accounts = ACCOUNTS.c.email.endswith(f"@{DEMO_DOMAIN}")
    disabled = (
        connection.execute(
            ACCOUNTS.update()
            .where(demo_accounts, ACCOUNTS.c.disabled.is_(False))
            .values(disabled=True)
            .returning(ACCOUNTS.c.email)
        )
        .scalars()
        .all()
    )
    connection.execute(
        SESSIONS.update()
        .where(
            SESSIONS.c.account_id.in_(sa.select(ACCOUNTS.c.id).where(demo_accounts)),
            SESSIONS.c.ended_at.is_(None),
        )
        .values(ended_at=datetime.now(UTC))
    )
    for email in sorted(disabled):
        audit.record("account.disable", actor=who, target=email, detail="demo.end", connection=connection)
    return True


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
    email = email_key(email)
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
    """Enable a disabled account again (and unlock it); a demo account only while the store
    holds the demo alone (its password is public)."""
    if email_key(email).endswith(f"@{DEMO_DOMAIN}") and not database.holds_demo_data(engine):
        raise AccountError(
            "un compte de démonstration reste désactivé : la base ne contient plus la démo seule"
        )
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
    check_password(password, email=email_key(email))
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

    Five failed attempts lock the account for 15 minutes, even when they come all at once; every
    attempt is in the audit log (an e-mail that names no account, by its first 64 characters).
    """
    now = _now(now)
    email = email.strip()
    if len(email) > MAX_EMAIL_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
        # Nothing is hashed nor looked up for input no account can have.
        audit.record("sign_in.failed", actor=_shown(email), detail="too_long", engine=engine)
        raise AccountError(REFUSED)
    email = email_key(email)
    with (engine or get_engine()).connect() as connection:
        account = connection.execute(sa.select(ACCOUNTS).where(ACCOUNTS.c.email == email)).mappings().first()
    stored_hash = account["password_hash"] if account is not None and account["password_hash"] else None
    # Verified outside the write transaction (Argon2 takes tens of milliseconds: SQLite's only
    # writer must not wait for it), against a dummy hash when there is none, so that a refusal
    # takes the same time whether the account exists or not.
    try:
        valid = _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        valid = False
    with write_transaction(engine) as connection:
        if account is None:
            audit.record("sign_in.failed", actor=_shown(email), connection=connection)
        else:
            signed = _count_attempt(connection, account, stored_hash if valid else None, now)
            if signed is not None:
                return signed
    raise AccountError(REFUSED)


def _demo_account_allowed() -> sa.ColumnElement[bool]:
    """True for an account that is not the demo's, or while the store holds the demo alone."""
    holds_demo = sa.exists(sa.select(STORE.c.id).where(STORE.c.demo_data == sa.true()))
    return sa.or_(sa.not_(ACCOUNTS.c.email.endswith(f"@{DEMO_DOMAIN}")), holds_demo)


def _unlocked(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(ACCOUNTS.c.locked_until.is_(None), ACCOUNTS.c.locked_until <= now)


def _count_attempt(
    connection: sa.Connection, account: sa.RowMapping, verified_hash: str | None, now: datetime
) -> SignedIn | None:
    """Record a sign-in attempt on an existing account: its session's account when the password
    was right (``verified_hash``), the account enabled and not locked; None otherwise.

    Each statement reads and writes the row at once (UPDATE … RETURNING): on PostgreSQL, attempts
    in parallel wait for each other's row lock and see each other's counts (an UPDATE sees the
    row as committed by the one before), so that no failure is lost; SQLite has one writer.
    """
    email = account["email"]
    if verified_hash is not None:
        signed = connection.execute(
            ACCOUNTS.update()
            .where(
                ACCOUNTS.c.id == account["id"],
                ACCOUNTS.c.password_hash == verified_hash,  # not changed meanwhile
                ACCOUNTS.c.disabled.is_(False),
                _unlocked(now),
                _demo_account_allowed(),
            )
            .values(failed_attempts=0, locked_until=None)
            .returning(ACCOUNTS.c.id, ACCOUNTS.c.email, ACCOUNTS.c.role, ACCOUNTS.c.advisor_email)
        ).first()
        if signed is not None:
            audit.record("sign_in", actor=email, connection=connection)
            return SignedIn(signed.id, signed.email, signed.role, signed.advisor_email)
    locks = ACCOUNTS.c.failed_attempts + 1 >= MAX_FAILED_ATTEMPTS
    counted = connection.execute(
        ACCOUNTS.update()
        .where(ACCOUNTS.c.id == account["id"], _unlocked(now))
        .values(
            failed_attempts=sa.case((locks, 0), else_=ACCOUNTS.c.failed_attempts + 1),
            locked_until=sa.case(
                (locks, sa.literal(now + LOCKOUT, ACCOUNTS.c.locked_until.type)), else_=sa.null()
            ),
        )
        .returning(ACCOUNTS.c.locked_until)
    ).first()
    if counted is not None and counted.locked_until is not None:
        audit.record("account.locked", actor=email, connection=connection)
    audit.record("sign_in.failed", actor=email, connection=connection)
    return None


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
    """The account of a live session (its idle time refreshed), or None when absent or expired.

    Asked at every request and message of the app: a read, and a write only to end the session
    or to refresh its idle time once a minute (``SEEN_EVERY``), so that checks do not queue
    behind a long import for SQLite's only write lock."""
    if not token:
        return None
    now = _now(now)
    idle = timedelta(minutes=config.session_idle_minutes())
    engine = engine or get_engine()
    with engine.connect() as connection:
        row = _live_session(connection, token)
    if row is None:
        return None
    if row["disabled"] or now - row["last_seen_at"] > idle:
        with write_transaction(engine) as connection:
            connection.execute(SESSIONS.update().where(SESSIONS.c.id == row["id"]).values(ended_at=now))
        return None
    if now - row["last_seen_at"] >= SEEN_EVERY:
        with write_transaction(engine) as connection:
            connection.execute(
                SESSIONS.update()
                .where(SESSIONS.c.id == row["id"], SESSIONS.c.ended_at.is_(None))
                .values(last_seen_at=now)
            )
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
        end_demo(connection, actor=actor, reason=f"sso_group.map {group}")


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
    if len(email.strip()) > MAX_EMAIL_LENGTH:
        return None
    # The provider verified it: not refused when the library would (an internal domain), but
    # stored and looked up in the same form as the accounts added by hand.
    return email_key(email)


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
