"""Composing emails from templates/mail/<name>.txt and .html, with safe headers."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.headerregistry import Address, UnstructuredHeader
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from sqlalchemy.orm import object_session

from bureau.bookings.models import BookingRequest
from bureau.bookings.states import Status, organizer_label, organizer_next_step
from bureau.db import utcnow
from bureau.mail.attachments import Attachment
from bureau.mail.facts import Facts, mail_facts, view
from bureau.mail.recipients import AUDIENCES, Recipient
from bureau.templating import local_time
from bureau.text import clean_line


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str


SUBJECTS = {
    "acknowledgement": "We received your request {ref}: {event}",
    "assigned": "New request {ref} for you: {event}",
    "unassigned_alert": "Action needed: no one could be assigned request {ref}",
    "proposal": "Your shortlist of speakers for {event} ({ref})",
    "offer_received": "Firm offer received for {ref}: {event}",
    "availability_request": "Are you available? {event}, {date}",
    "speaker_answered": "{speaker} {answer} {ref}: {event}",
    "speaker_accepted": "Speaker available: {speaker} for {event} ({ref})",
    "speaker_declined": "Speaker unavailable for {event}: {speaker} ({ref})",
    "contract_ready": "Contract and deposit details for {event} ({ref})",
    "contract_sent": "Your contract for {event}: please read and accept ({ref})",
    "contract_final": "Countersigned contract for {event} ({ref})",
    "contract_declined": "Contract declined by the organizer: {ref}, {event}",
    "confirmed": "Confirmed: {speaker} at {event}, {date}",
    "rescheduled": "Rescheduled: {event}, now {date} ({ref})",
    "cancelled": "Cancelled: {event} ({ref})",
    "hold_expired": "Hold expired for {ref}: {event}",
    "status_update": "Your request {ref}: {status}",
    "feedback_request": "How was {event}? Your feedback on {ref}",
    "invite": "{verb}: {event}, {date}",
    "reminder_7d": "In one week: {event}, {date}",
    "reminder_1d": "Tomorrow: {event}, {date}",
    "hold_expiring": "The hold for {ref} expires within a day: {event}",
    "sla_breach": "First response overdue on {ref}: {event}",
    "reply_received": "A reply by email on {ref}: {event}",
    "staff_reply": "{event} ({ref})",  # answering an email: "Re: " and its subject instead
    "email_bounced": "Undeliverable: an email on {ref} bounced ({event})",
    "invite_declined": "The speaker declined the invitation for {ref}: {event}",
    "invoice_issued": "{invoice.title} {invoice.number} for {event} ({ref})",
    "invoice_due_soon": "Reminder: {invoice.number} is due on {invoice.due} ({ref})",
    "invoice_overdue_1d": "Overdue: {invoice.number} was due on {invoice.due} ({ref})",
    "invoice_overdue_7d": "A week overdue: {invoice.number}, due {invoice.due} ({ref})",
}


def render_booking_mail(
    template: str,
    booking: BookingRequest,
    *,
    role: Recipient,
    links: Mapping[str, str],
    facts: Facts | None = None,
    **extra: Any,
) -> Mail:
    """The email ``template`` for a reader in ``role``, whose links (recipients.links_for)
    are all it can show: the templates get no other URL.

    It tells the ``facts`` fixed when its change committed (bureau/mail/facts.py); without
    them, the booking's as it stands now (with ``engagement``, that engagement's)."""
    if template not in SUBJECTS:
        raise KeyError(f"no email template {template!r}")
    if role not in AUDIENCES[template]:
        raise ValueError(f"the {template!r} email is not meant for the {role.value}")
    live_engagement = extra.pop("engagement", None)
    if facts is None:
        session = object_session(booking)
        assert session is not None, "a booking without its session has no facts to tell"
        facts = mail_facts(session, booking, template, role.value, engagement=live_engagement)
    told = view(facts)
    offer, engagement = told.offer, told.engagement
    status = Status(told.status)
    context = {
        "booking": booking,
        "offer": offer,
        "engagement": engagement,
        "previous": getattr(told, "previous", None),
        "contract": told.contract,
        "shortlist": getattr(told, "shortlist", []),
        "agent": told.agent,
        "closed_reason": told.closed_reason,
        "status_label": organizer_label(status),
        "next_step": organizer_next_step(status),
        "deadline": _in_zone(told.hold.expires_at, told.zone) if told.hold else None,
        "request_url": None,
        "invoice": getattr(told, "invoice", None),
        "declined": getattr(told, "declined", None),
        **extra,
        **links,
    }
    when = (
        engagement.starts_at.astimezone(ZoneInfo(engagement.timezone))
        if engagement
        else offer.starts_local
        if offer
        else None
    )
    subject = SUBJECTS[template].format(
        ref=booking.reference,
        event=booking.event_name,
        status=organizer_label(status),
        date=f"{when:%d %b %Y}" if when else "",
        speaker=offer.speaker.name if offer else "the speaker",
        answer={"accepted": "accepted", "declined": "declined"}.get(
            (offer.response if offer else None) or "", "answered"
        ),
        verb=extra.get("verb", ""),
        invoice=getattr(told, "invoice", None),
    )
    return Mail(
        subject=clean_line(subject)[:250],
        text=render_template(f"mail/{template}.txt", **context),
        html=render_template(f"mail/{template}.html", **context),
    )


def _in_zone(instant: datetime, zone: str) -> str:
    """An instant as its reader reads it: their wall-clock time, the zone named."""
    return f"{local_time(instant.astimezone(ZoneInfo(zone)))} ({zone} time)"


class _QuickFoldPolicy(EmailPolicy):
    """``policy.SMTP`` with two shortcuts: repeated MIME headers parsed once, quick folding.

    SMTP's ``fold`` re-parses every header into a token tree and refolds it, which made up
    most of the cost of composing an email. A header whose line is plain ASCII, has no line
    break and fits in ``max_line_length`` comes out of that as ``Name: value`` unchanged, so
    it is written so directly; every other header (non-ASCII names, long subjects) still
    takes the full path. tests/test_mail.py checks the output is byte-identical to SMTP's.

    And one repair: a non-ASCII subject is written as encoded words only. SMTP's folder can
    write ``Handels \r\n =?utf-8?b?4oCU?= Gipfel``, keeping the space it folds at, which
    mail clients unfold into two spaces; between two encoded words white space is not text
    (RFC 2047, section 6.2), so folding between them cannot change what the reader sees.
    """

    def fold(self, name: str, value: Any) -> str:
        if hasattr(value, "name"):  # a parsed header object (what EmailMessage stores)
            line = f"{name}: {value}"
            if isinstance(value, UnstructuredHeader) and not line.isascii():
                encoded = Header(str(value), "utf-8", header_name=name).encode(
                    linesep=self.linesep, maxlinelen=self.max_line_length or 78
                )
                return f"{name}: {encoded}{self.linesep}"
            if (
                str(value)  # an empty value is written "Name:", without the space
                and len(line) <= (self.max_line_length or len(line))
                and line.isascii()
                and "\r" not in line
                and "\n" not in line
            ):
                return line + self.linesep
        folded: str = super().fold(name, value)
        return folded

    def fold_binary(self, name: str, value: Any) -> bytes:
        # What as_bytes() calls: the same lines as as_string(), the one the worker sends.
        folded = self.fold(name, value)
        return folded.encode("ascii") if folded.isascii() else super().fold_binary(name, value)

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        # The MIME headers are the same few strings in every message; their parsed form is
        # immutable, so each is parsed once per process (a boundary, being random, is not).
        key = (name, value)
        if isinstance(value, str) and name.lower() in _SAME_IN_EVERY_MESSAGE:
            cached = _parsed_headers.get(key)
            if cached is None:
                cached = super().header_store_parse(name, value)
                if "boundary=" not in value and len(_parsed_headers) < 256:
                    _parsed_headers[key] = cached
            return cached
        return super().header_store_parse(name, value)


_SAME_IN_EVERY_MESSAGE = frozenset(
    {"mime-version", "content-type", "content-transfer-encoding", "content-disposition"}
)
_parsed_headers: dict[tuple[str, str], tuple[str, Any]] = {}


QUICK_SMTP = _QuickFoldPolicy() + SMTP


def build_message(
    mail: Mail,
    *,
    to_name: str,
    to_email: str,
    reply_to: tuple[str, str] | None = None,
    calendar: tuple[bytes, str] | None = None,
    attachments: Sequence[Attachment] = (),
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
) -> EmailMessage:
    """A multipart/alternative message (text, HTML) with a fresh Message-ID.

    With ``calendar`` (the .ics and its iTIP method) it is multipart/mixed: the alternative
    gains ``text/calendar; method=…`` (what Outlook and Gmail act on) and the same .ics is
    attached for the other clients; the MIME method always equals the calendar's METHOD.

    ``attachments`` (a contract's or invoice's PDF) make it multipart/mixed too.

    Names go through Address objects, which encode UTF-8 and refuse line breaks: user text
    cannot add headers.

    ``in_reply_to`` and ``references`` thread a reply a person wrote (a staff reply): they
    came in someone's email, so only well-formed ``<id@host>`` tokens are kept, and such
    an email is not marked ``Auto-Submitted``.
    """
    sender_name, sender_email = parseaddr(current_app.config["BUREAU_SETTINGS"].mail_from)
    message = EmailMessage(policy=QUICK_SMTP)
    message["Subject"] = mail.subject
    message["From"] = Address(display_name=sender_name, addr_spec=sender_email)
    message["To"] = Address(display_name=clean_line(to_name), addr_spec=to_email)
    if reply_to is not None:
        message["Reply-To"] = Address(display_name=clean_line(reply_to[0]), addr_spec=reply_to[1])
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=sender_email.rpartition("@")[2] or None)
    answered = message_ids([in_reply_to or ""])[:1]
    if answered:
        message["In-Reply-To"] = answered[0]
        message["References"] = " ".join(message_ids([*references, answered[0]])[-20:])
    else:
        message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text, cte=_transfer_encoding(mail.text))
    message.add_alternative(mail.html, subtype="html", cte=_transfer_encoding(mail.html))
    if calendar is not None:
        ics, method = calendar
        text = ics.decode("utf-8")
        message.add_alternative(
            text, subtype="calendar", params={"method": method}, cte=_transfer_encoding(text)
        )
        message.add_attachment(
            ics,
            maintype="text",
            subtype="calendar",
            # Bytes get no charset of their own, and MIME reads text/* without one as
            # US-ASCII: the .ics is UTF-8 ("Zoë", 人工智能).
            params={"method": method, "charset": "utf-8"},
            filename="invite.ics",
        )
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype,
            filename=clean_line(attachment.filename),
        )
    for part in message.walk():
        if part.is_multipart():
            # Chosen here, the generator does not: its boundary is checked against the whole
            # text with a regular expression compiled anew for every message. 96 random bits
            # cannot occur in the text by chance, and nobody can know them in advance.
            part.set_boundary(f"=_{secrets.token_hex(12)}")
    return message


_MESSAGE_ID = re.compile(r"<[!-;=?-~]{1,250}>")  # printable ASCII, no <, > or space


def message_ids(values: Sequence[str]) -> list[str]:
    """The well-formed Message-IDs in header values, each once, in order."""
    found = [match for value in values for match in _MESSAGE_ID.findall(value)]
    return list(dict.fromkeys(found))


def _transfer_encoding(text: str) -> str | None:
    """Quoted-printable for text that is not plain ASCII (readable in the raw message, 7-bit
    safe), the library's own choice otherwise. Left to the library, non-ASCII text is stored
    as 8bit and turned into base64 again, on a deep copy, each time it is written out."""
    return None if text.isascii() else "quoted-printable"
