"""Sending e-mail over SMTP (``SMTP_URL``, ``SMTP_FROM``; docs/configuration.md).

One connection for a run of messages. A passing failure (the server hangs up, a ``4xx`` answer,
a network error) is retried on a fresh connection; an address the server refuses for good
(``5xx``) is reported for that message and the others go on. A server that cannot be reached or
refuses the sign-in stops the run with a French message that names the host, never the password.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType
from urllib.parse import unquote, urlsplit

from services import config
from services.config import SettingError

#: Hosts where a plain connection (no STARTTLS offered) may carry a message: this machine only.
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
#: Tries of one message before it is reported as failed.
ATTEMPTS = 3
#: Seconds a network operation may take.
TIMEOUT = 30


class MailError(RuntimeError):
    """The mail server cannot be used at all (unreachable, no TLS, sign-in refused)."""


class MessageRefused(RuntimeError):
    """One message not sent: refused for good by the server, or failed at every try."""


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send: ``smtp://`` (STARTTLS) or ``smtps://`` (TLS from the start)."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def shown(self) -> str:
        """The server as a message may name it (no user, no password)."""
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"


def smtp_server(url: str) -> SmtpServer:
    """Read ``SMTP_URL``; ``SettingError`` naming what is wrong (never the password)."""
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"}:
        raise SettingError("SMTP_URL : l'adresse doit commencer par smtp:// ou smtps://")
    try:
        port = parts.port
    except ValueError as error:
        raise SettingError("SMTP_URL : port illisible") from error
    if not parts.hostname:
        raise SettingError("SMTP_URL : nom du serveur absent")
    implicit = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname,
        port=port or (465 if implicit else 587),
        implicit_tls=implicit,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def configured_server() -> tuple[SmtpServer, str] | None:
    """The server and sender address from the settings, or None when ``SMTP_URL`` is unset."""
    url = config.integration_setting("SMTP_URL")
    if not url:
        return None
    sender = config.integration_setting("SMTP_FROM")
    if "@" not in sender:
        raise SettingError("SMTP_FROM : adresse d'expéditeur absente ou invalide (nécessaire avec SMTP_URL)")
    return smtp_server(url), sender


class MailNotConfigured(SettingError):
    """``SMTP_URL`` is unset: nothing is sent."""


def configured_mailer(sleep: Callable[[float], None] = time.sleep) -> tuple[Mailer, str]:
    """A mailer on the configured server and the sender address; ``MailNotConfigured`` without
    ``SMTP_URL``."""
    configured = configured_server()
    if configured is None:
        raise MailNotConfigured(
            "SMTP_URL n'est pas réglé : aucun e-mail n'est envoyé (voir docs/configuration.md)"
        )
    server, sender = configured
    return Mailer(server, sleep=sleep), sender


def setup_problem() -> str | None:
    """Why nothing can be sent (French), or None when ``SMTP_URL`` and ``SMTP_FROM`` are usable."""
    try:
        return None if configured_server() else "SMTP_URL"
    except SettingError as error:
        return str(error)


def sender_address() -> str:
    """The sender the messages carry (``SMTP_FROM``), or a placeholder for a preview without it."""
    return config.integration_setting("SMTP_FROM") or "expediteur@non-configure.invalid"


def _reason(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = (
            error.smtp_error.decode("utf-8", "replace")
            if isinstance(error.smtp_error, bytes)
            else error.smtp_error
        )
        return f"{error.smtp_code} {text}".strip()
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()))
        return f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
    return str(error) or type(error).__name__


def _code(error: BaseException) -> int | None:
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return next(iter(error.recipients.values()))[0]
    return None


class Mailer:
    """A connection to the mail server for a run of messages (a context manager)."""

    def __init__(
        self,
        server: SmtpServer,
        *,
        attempts: int = ATTEMPTS,
        retry_pause: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.server = server
        self.attempts = attempts
        self.retry_pause = retry_pause
        self.sleep = sleep
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        self._connect()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._close()

    def _close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None

    def _connect(self) -> None:
        server = self.server
        context = ssl.create_default_context()
        try:
            if server.implicit_tls:
                smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT, context=context)
            else:
                smtp = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT)
        except (OSError, smtplib.SMTPException) as error:
            raise MailError(f"serveur d'envoi injoignable : {server.shown} ({_reason(error)})") from error
        try:
            smtp.ehlo()
            if not server.implicit_tls:
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=context)
                    smtp.ehlo()
                elif server.host not in LOOPBACK:
                    raise MailError(
                        f"le serveur d'envoi {server.shown} ne propose pas STARTTLS : rien n'est envoyé "
                        "en clair hors de cette machine (utilisez smtps:// ou un serveur qui chiffre)"
                    )
            if server.username:
                smtp.login(server.username, server.password or "")
        except smtplib.SMTPAuthenticationError as error:
            smtp.close()
            raise MailError(
                f"identifiants refusés par le serveur d'envoi {server.shown} ({error.smtp_code})"
            ) from error
        except (OSError, smtplib.SMTPException) as error:
            smtp.close()
            raise MailError(f"serveur d'envoi inutilisable : {server.shown} ({_reason(error)})") from error
        self._smtp = smtp

    def send(self, message: EmailMessage) -> int:
        """Send one message; the number of tries it took, or ``MessageRefused`` with the reason."""
        for attempt in range(1, self.attempts + 1):
            try:
                if self._smtp is None:
                    self._connect()
                self._smtp.send_message(message)
                return attempt
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
                code = _code(error) or 0
                if code >= 500:
                    raise MessageRefused(f"refusé par le serveur : {_reason(error)}") from error
                reason = _reason(error)
                self._reset()
            except (smtplib.SMTPException, OSError, MailError) as error:
                reason = _reason(error)
                self._close_quietly()
            if attempt < self.attempts:
                self.sleep(self.retry_pause * attempt)
        raise MessageRefused(f"échec après {self.attempts} essais : {reason}")

    def _reset(self) -> None:
        """After a refused transaction, the connection may still serve (RSET), else a new one."""
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._close_quietly()

    def _close_quietly(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            except OSError:
                pass
        self._smtp = None
