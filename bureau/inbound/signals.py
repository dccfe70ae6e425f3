"""Read one raw email into plain facts, and say what kind of message it is.

Pure: no database, no Flask. The inbound pipeline stores the raw bytes first and then calls
`parse`; whatever the bytes are, `parse` returns a `Parsed` or refuses with `MessageRefused`
(too big, empty), and never raises anything else, so no message is lost to a parser error.
"""

from __future__ import annotations

import email
import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.header import decode_header, make_header
from email.message import Message
from email.policy import default
from email.utils import getaddresses, parsedate_to_datetime

from bureau.inbound.attachments import Attachment, attachments, calendar_parts
from bureau.inbound.automatic import Automatic, is_automatic
from bureau.inbound.bounces import Bounce, first_message_id, read_bounce
from bureau.inbound.itip import CalendarReply, read_reply
from bureau.inbound.text import html_to_text, part_text, reply_only

__all__ = [
    "Attachment",
    "Automatic",
    "Bounce",
    "CalendarReply",
    "Kind",
    "MessageRefused",
    "Parsed",
    "classify",
    "is_automatic",
    "parse",
]

_ANGLED = re.compile(r"<[^<>\s]+>")


class MessageRefused(ValueError):
    """The message is not taken at all (over the size limit, or empty); the text says why."""


class Kind(enum.StrEnum):
    """What the pipeline does with a message."""

    REPLY = "reply"
    AUTOMATIC = "automatic"
    BOUNCE = "bounce"
    CALENDAR_REPLY = "calendar_reply"


@dataclass(frozen=True)
class Parsed:
    """The facts of one message. Addresses are lower case; names are kept apart.
    `delivered_to` is the envelope recipient the receiving server recorded (Delivered-To,
    X-Original-To): the plus-address a reply was sent to, even when it was a Bcc."""

    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    from_name: str
    from_address: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: tuple[str, ...]
    delivered_to: tuple[str, ...]
    subject: str
    date: datetime | None
    text: str
    reply: str
    attachments: tuple[Attachment, ...] = ()
    automatic: Automatic | None = None
    bounce: Bounce | None = None
    calendar: CalendarReply | None = None
    defects: tuple[str, ...] = field(default=())


def parse(raw: bytes, *, max_bytes: int) -> Parsed:
    """Read `raw`. Refuses a message over `max_bytes` or without any content."""
    if len(raw) > max_bytes:
        raise MessageRefused(f"The message is {len(raw)} bytes; the limit is {max_bytes} bytes.")
    if not raw.strip():
        raise MessageRefused("The message is empty.")
    try:
        msg = email.message_from_bytes(raw, policy=default)
        return _read(msg)
    except Exception as error:  # the last guard: keep a message nothing else could read
        text = raw.decode("utf-8", errors="replace")
        return Parsed(
            message_id=None, in_reply_to=None, references=(), from_name="", from_address="",
            to=(), cc=(), reply_to=(), delivered_to=(), subject="", date=None, text=text,
            reply=text.strip(),
            defects=(f"unreadable: {type(error).__name__}",),
        )  # fmt: skip


def classify(parsed: Parsed) -> Kind:
    """Bounce before calendar answer before automatic: a report is a report even when it also
    says Auto-Submitted, and an accepted invite matters even from an assistant's mailbox."""
    if parsed.bounce is not None:
        return Kind.BOUNCE
    if parsed.calendar is not None:
        return Kind.CALENDAR_REPLY
    if parsed.automatic is not None:
        return Kind.AUTOMATIC
    return Kind.REPLY


def _read(msg: Message) -> Parsed:
    from_name, from_address = _first_address(msg, "From")
    text = _body_text(msg)
    return Parsed(
        message_id=first_message_id(_header(msg, "Message-ID")),
        in_reply_to=first_message_id(_header(msg, "In-Reply-To")),
        references=tuple(_ANGLED.findall(_header(msg, "References"))),
        from_name=from_name,
        from_address=from_address,
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        reply_to=_addresses(msg, "Reply-To"),
        delivered_to=_addresses(msg, "Delivered-To") + _addresses(msg, "X-Original-To"),
        subject=_header(msg, "Subject"),
        date=_date(msg),
        text=text,
        reply=reply_only(text),
        attachments=tuple(attachments(msg)),
        automatic=is_automatic(msg),
        bounce=read_bounce(msg),
        calendar=_calendar(msg),
        defects=tuple(sorted({type(d).__name__ for part in msg.walk() for d in part.defects})),
    )


def _header(msg: Message, name: str) -> str:
    """A header decoded (RFC 2047 words, any charset), unfolded; "" when absent."""
    try:
        value = msg.get(name)
        return " ".join(str(value).split()) if value is not None else ""
    except Exception:  # noqa: S110 - the header registry refused it: decode by hand below
        pass
    for key, raw in msg.raw_items():
        if key.lower() == name.lower():
            try:
                return " ".join(str(make_header(decode_header(str(raw)))).split())
            except Exception:
                return " ".join(str(raw).split())
    return ""


def _addresses_with_names(msg: Message, name: str) -> list[tuple[str, str]]:
    try:
        values = [" ".join(str(value).split()) for value in msg.get_all(name) or ()]
    except Exception:  # one of them is unreadable: the first, decoded by hand, will do
        values = [_header(msg, name)]
    pairs = getaddresses(values)
    return [
        (person.strip(), address.strip().lower()) for person, address in pairs if "@" in address
    ]


def _first_address(msg: Message, name: str) -> tuple[str, str]:
    found = _addresses_with_names(msg, name)
    return found[0] if found else ("", "")


def _addresses(msg: Message, name: str) -> tuple[str, ...]:
    return tuple(address for _, address in _addresses_with_names(msg, name))


def _date(msg: Message) -> datetime | None:
    try:
        return parsedate_to_datetime(_header(msg, "Date"))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _body_text(msg: Message) -> str:
    """text/plain when the message has one, else its HTML as text."""
    plain: str | None = None
    html: str | None = None
    for part in msg.walk():
        if part.is_multipart() or _is_attachment(part):
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = part_text(part)
        elif kind == "text/html" and html is None:
            html = part_text(part)
    if plain is not None and plain.strip():
        return plain.replace("\r\n", "\n").strip()
    if html is not None:
        return html_to_text(html)
    return (plain or "").strip()


def _is_attachment(part: Message) -> bool:
    try:
        return part.get_content_disposition() == "attachment"
    except Exception:
        return False


def _calendar(msg: Message) -> CalendarReply | None:
    for data, charset in calendar_parts(msg):
        reply = read_reply(data, charset)
        if reply is not None:
            return reply
    return None
