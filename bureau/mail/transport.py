"""Delivering a composed message: by SMTP (BUREAU_SMTP_URL) or as an .eml file.

SMTP replies decide what happens next: 4xx and lost connections are transient (retried
later), 5xx are permanent (the job fails with the server's words kept).
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bureau.config import Settings
from bureau.outbox import PermanentError, TransientError, around_tasks
from bureau.private_files import private_folder

SMTP_TIMEOUT = 30


def deliver(
    raw: bytes, *, sender: str, recipients: list[str], settings: Settings, name: str
) -> str:
    """Send the message; returns where it went (for the log)."""
    if settings.smtp_url is None:
        return str(write_eml(raw, settings.instance_path / "mail", name))
    try:
        send_smtp(raw, sender=sender, recipients=recipients, url=settings.smtp_url)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        detail = "; ".join(
            f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in error.recipients.items()
        )
        if all(500 <= code < 600 for code in codes):
            raise PermanentError(f"recipient refused: {detail}") from error
        raise TransientError(f"recipient deferred: {detail}") from error
    except smtplib.SMTPResponseException as error:
        text = f"{error.smtp_code} {_text(error.smtp_error)}"
        if 500 <= error.smtp_code < 600:
            raise PermanentError(f"SMTP server refused: {text}") from error
        raise TransientError(f"SMTP server deferred: {text}") from error
    except (smtplib.SMTPException, OSError) as error:
        raise TransientError(f"SMTP unreachable: {type(error).__name__}: {error}") from error
    return urlsplit(settings.smtp_url).hostname or "smtp"


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


# While a worker task runs (outbox.execute), one SMTP connection serves all its emails.
_open_clients: ContextVar[dict[str, smtplib.SMTP] | None] = ContextVar(
    "bureau_smtp_clients", default=None
)


@around_tasks
@contextmanager
def reuse_smtp_connections() -> Iterator[None]:
    clients: dict[str, smtplib.SMTP] = {}
    token = _open_clients.set(clients)
    try:
        yield
    finally:
        _open_clients.reset(token)
        for client in clients.values():
            with suppress(smtplib.SMTPException, OSError):
                client.quit()


def _connect(url: str) -> smtplib.SMTP:
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    if parts.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            host, parts.port or 465, timeout=SMTP_TIMEOUT, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(host, parts.port or 25, timeout=SMTP_TIMEOUT)
    try:
        if parts.scheme == "smtp+starttls":
            client.starttls(context=ssl.create_default_context())
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
    except BaseException:
        client.close()
        raise
    return client


def send_smtp(raw: bytes, *, sender: str, recipients: list[str], url: str) -> None:
    shared = _open_clients.get()
    if shared is None:
        with _connect(url) as single:
            single.sendmail(sender, recipients, raw)
        return
    cached = shared.get(url)
    if cached is not None:
        try:
            cached.rset()  # still there? (a server may have closed an idle connection)
        except (smtplib.SMTPException, OSError):
            cached.close()
            cached = None
    client = cached if cached is not None else _connect(url)
    shared[url] = client
    try:
        client.sendmail(sender, recipients, raw)
    except BaseException:
        # After any failure the conversation's state is unknown: start the next one afresh.
        shared.pop(url, None)
        client.close()
        raise


def write_eml(raw: bytes, folder: Path, name: str) -> Path:
    """Write atomically under a stable name: a retry replaces the file, never adds one.
    The folder is 0700 and the file 0600 (mkstemp's mode): emails carry personal data."""
    private_folder(folder)
    target = folder / f"{name}.eml"
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(raw)
    os.replace(temporary, target)
    return target
