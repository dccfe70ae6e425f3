"""Is this message from a machine? RFC 3834 and the headers real autoresponders add.

An automatic message is recorded but never answered and never re-opens anything: that is how
two autoresponders are kept from mailing each other for ever.
"""

from __future__ import annotations

import enum
from email.message import Message

# Subject prefixes of out-of-office replies (Exchange/Outlook in English, Chinese, German, French).
_OUT_OF_OFFICE_SUBJECTS = (
    "automatic reply:",
    "auto reply:",
    "autoreply:",
    "out of office:",
    "out of office reply:",
    "自动答复:",
    "自动答复\uff1a",  # the full-width colon Chinese clients write
    "自動回覆:",
    "automatische antwort:",
    "abwesenheitsnotiz:",
    "réponse automatique :",
    "réponse automatique:",
)


_LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post")


class Automatic(enum.StrEnum):
    """Why a message counts as sent by a machine."""

    OUT_OF_OFFICE = "out_of_office"
    AUTO_REPLIED = "auto_replied"
    AUTO_GENERATED = "auto_generated"
    BULK = "bulk"
    MAILING_LIST = "mailing_list"


def header(msg: Message, name: str) -> str:
    """One header's value as plain text, or "" when it is missing or cannot be read."""
    try:
        value = msg.get(name)
    except Exception:  # a header the parser chokes on counts as absent
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def is_automatic(msg: Message) -> Automatic | None:
    """The kind of automatic message this is, or None for a message a person wrote."""
    auto_submitted = header(msg, "Auto-Submitted").lower().split(";")[0].strip()
    subject = header(msg, "Subject").lower()
    suppress = header(msg, "X-Auto-Response-Suppress").lower()
    out_of_office = subject.startswith(_OUT_OF_OFFICE_SUBJECTS) or "oof" in suppress.split(", ")
    if out_of_office and (auto_submitted not in ("", "no") or suppress or _exchange_oof(msg)):
        return Automatic.OUT_OF_OFFICE
    if auto_submitted == "auto-replied":
        return Automatic.OUT_OF_OFFICE if out_of_office else Automatic.AUTO_REPLIED
    if auto_submitted and auto_submitted != "no":
        return Automatic.AUTO_GENERATED
    if header(msg, "X-Autoreply") or header(msg, "X-Autorespond") or header(msg, "X-Autoresponder"):
        return Automatic.AUTO_REPLIED
    if suppress == "all" or _exchange_oof(msg):
        return Automatic.AUTO_REPLIED
    if out_of_office:
        return Automatic.OUT_OF_OFFICE
    if _null_sender(msg):
        return Automatic.AUTO_GENERATED
    precedence = header(msg, "Precedence").lower()
    if precedence in {"bulk", "junk", "auto_reply"}:
        return Automatic.BULK
    if precedence == "list" or any(header(msg, name) for name in _LIST_HEADERS):
        return Automatic.MAILING_LIST
    return None


def _null_sender(msg: Message) -> bool:
    """An empty envelope sender (Return-Path: <>) or a mailer daemon: RFC 3834 says never
    to answer either, and non-RFC 3464 bounces (qmail, old Exchange) look like this."""
    if header(msg, "Return-Path").replace(" ", "") == "<>":
        return True
    sender = header(msg, "From").lower()
    return "mailer-daemon@" in sender or "postmaster@" in sender


def _exchange_oof(msg: Message) -> bool:
    """Exchange marks the answers its mailbox rules send (out-of-office is one) in headers that
    no person's client sets."""
    return bool(
        header(msg, "X-MS-Exchange-Inbox-Rules-Loop")
        or header(msg, "X-MS-Exchange-Generated-Message-Source")
    )
