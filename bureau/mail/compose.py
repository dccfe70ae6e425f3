"""Composing emails from templates/mail/<name>.txt and .html, with safe headers."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.header import Header
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import SMTP, EmailPolicy
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask import current_app, render_template
from flask_babel import get_translations, gettext
from flask_babel import lazy_gettext as _l
from jinja2.ext import _make_new_gettext, _make_new_ngettext
from sqlalchemy.orm import object_session

from bureau.billing.models import KIND_TITLES, InvoiceKind
from bureau.bookings.models import BookingRequest
from bureau.bookings.states import Status, organizer_label, organizer_next_step
from bureau.calendar.titles import shown_location, shown_title
from bureau.db import utcnow
from bureau.i18n import DEFAULT_LOCALE, current_locale, speaking
from bureau.mail.attachments import Attachment
from bureau.mail.facts import Facts, mail_facts, view
from bureau.mail.recipients import AUDIENCES, Recipient
from bureau.templating import day_words, local_time
from bureau.text import clean_line


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str
    html: str


# Each email's subject, a whole sentence in the reader's language (named placeholders).
SUBJECTS = {
    "acknowledgement": _l("We received your request %(ref)s: %(event)s"),
    "assigned": _l("New request %(ref)s for you: %(event)s"),
    "unassigned_alert": _l("Action needed: no one could be assigned request %(ref)s"),
    "proposal": _l("Your shortlist of speakers for %(event)s (%(ref)s)"),
    "offer_received": _l("Firm offer received for %(ref)s: %(event)s"),
    "availability_request": _l("Are you available? %(event)s, %(date)s"),
    "speaker_answered": _l("%(speaker)s answered %(ref)s: %(event)s"),
    "speaker_accepted": _l("Speaker available: %(speaker)s for %(event)s (%(ref)s)"),
    "speaker_declined": _l("Speaker unavailable for %(event)s: %(speaker)s (%(ref)s)"),
    "contract_ready": _l("Contract and deposit details for %(event)s (%(ref)s)"),
    "contract_sent": _l("Your contract for %(event)s: please read and accept (%(ref)s)"),
    "contract_final": _l("Countersigned contract for %(event)s (%(ref)s)"),
    "contract_declined": _l("Contract declined by the organizer: %(ref)s, %(event)s"),
    "confirmed": _l("Confirmed: %(speaker)s at %(event)s, %(date)s"),
    "rescheduled": _l("Rescheduled: %(event)s, now %(date)s (%(ref)s)"),
    "cancelled": _l("Cancelled: %(event)s (%(ref)s)"),
    "hold_expired": _l("Hold expired for %(ref)s: %(event)s"),
    "status_update": _l("Your request %(ref)s: %(status)s"),
    "feedback_request": _l("How was %(event)s? Your feedback on %(ref)s"),
    "invite": _l("Invitation: %(event)s, %(date)s"),
    "reminder_7d": _l("In one week: %(event)s, %(date)s"),
    "reminder_1d": _l("Tomorrow: %(event)s, %(date)s"),
    "hold_expiring": _l("The hold for %(ref)s expires within a day: %(event)s"),
    "sla_breach": _l("First response overdue on %(ref)s: %(event)s"),
    "reply_received": _l("A reply by email on %(ref)s: %(event)s"),
    # Answering an email: "Re: " and its subject instead.
    "staff_reply": _l("%(event)s (%(ref)s)"),
    "email_bounced": _l("Undeliverable: an email on %(ref)s bounced (%(event)s)"),
    "invite_declined": _l("The speaker declined the invitation for %(ref)s: %(event)s"),
    "invoice_issued": _l("%(invoice_title)s %(invoice_number)s for %(event)s (%(ref)s)"),
    "invoice_due_soon": _l("Reminder: %(invoice_number)s is due on %(invoice_due)s (%(ref)s)"),
    "invoice_overdue_1d": _l("Overdue: %(invoice_number)s was due on %(invoice_due)s (%(ref)s)"),
    "invoice_overdue_7d": _l("A week overdue: %(invoice_number)s, due %(invoice_due)s (%(ref)s)"),
}
# The subjects that depend on more than the template: the speaker's answer, the invitation's
# kind (the iTIP method, and whether it is the first version).
ANSWERED_SUBJECTS = {
    "accepted": _l("%(speaker)s accepted %(ref)s: %(event)s"),
    "declined": _l("%(speaker)s declined %(ref)s: %(event)s"),
}
INVITE_SUBJECTS = {
    "CANCEL": _l("Cancelled: %(event)s, %(date)s"),
    "UPDATE": _l("Updated invitation: %(event)s, %(date)s"),
}


def render_booking_mail(
    template: str,
    booking: BookingRequest,
    *,
    role: Recipient,
    links: Mapping[str, str],
    facts: Facts | None = None,
    locale: str | None = None,
    **extra: Any,
) -> Mail:
    """The email ``template`` for a reader in ``role``, whose links (recipients.links_for)
    are all it can show: the templates get no other URL.

    It tells the ``facts`` fixed when its change committed (bureau/mail/facts.py); without
    them, the booking's as it stands now (with ``engagement``, that engagement's). It is
    written in ``locale`` (the reader's, recipients.reader_locale), or without one in the
    locale in force."""
    if template not in SUBJECTS:
        raise KeyError(f"no email template {template!r}")
    if role not in AUDIENCES[template]:
        raise ValueError(f"the {template!r} email is not meant for the {role.value}")
    if locale is not None:
        with speaking(locale):
            return render_booking_mail(
                template, booking, role=role, links=links, facts=facts, **extra
            )
    live_engagement = extra.pop("engagement", None)
    if facts is None:
        session = object_session(booking)
        assert session is not None, "a booking without its session has no facts to tell"
        facts = mail_facts(session, booking, template, role.value, engagement=live_engagement)
    told = view(facts)
    offer, engagement = told.offer, told.engagement
    status = Status(told.status)
    invoice = _invoice_in_words(getattr(told, "invoice", None))
    if engagement is not None:
        engagement.title = shown_title(engagement.title, offer.speaker.name if offer else None)
        engagement.location = shown_location(engagement.location)
    previous = getattr(told, "previous", None)
    if previous is not None and getattr(previous, "location", None):
        previous.location = shown_location(previous.location)
    context = {
        "booking": booking,
        "offer": offer,
        "engagement": engagement,
        "previous": previous,
        "contract": told.contract,
        "shortlist": getattr(told, "shortlist", []),
        "agent": told.agent,
        "closed_reason": told.closed_reason,
        "status_label": organizer_label(status),
        "next_step": organizer_next_step(status),
        "deadline": _in_zone(told.hold.expires_at, told.zone) if told.hold else None,
        "request_url": None,
        "invoice": invoice,
        "declined": getattr(told, "declined", None),
        **extra,
        **links,
    }
    if "whose" in extra:
        context["bounced_address"] = bounced_address(extra["whose"], extra.get("bounced_to"))
    context |= _phrases(get_translations())
    when = (
        engagement.starts_at.astimezone(ZoneInfo(engagement.timezone))
        if engagement
        else offer.starts_local
        if offer
        else None
    )
    subject = _subject(template, offer, engagement, extra.get("method")) % {
        "ref": booking.reference,
        "event": booking.event_name,
        "status": organizer_label(status),
        "date": subject_date(when) if when else "",
        "speaker": offer.speaker.name if offer else gettext("the speaker"),
        "invoice_title": invoice.title if invoice else "",
        "invoice_number": invoice.number if invoice else "",
        "invoice_due": invoice.due if invoice else "",
    }
    return Mail(
        subject=clean_line(subject)[:250],
        text=render_template(f"mail/{template}.txt", **context),
        html=render_template(f"mail/{template}.html", **context),
    )


def _phrases(translations: Any) -> dict[str, Any]:
    """The templates' ``_()`` and ``ngettext()`` bound to the translations in force, for one
    email: Flask-Babel's, installed in the Jinja environment, look up the locale and its
    translations again for each phrase (an email has about thirty). Wrapped as the
    environment wraps Flask-Babel's (newstyle: escaped, ``%(name)s`` filled in)."""
    return {
        "gettext": _make_new_gettext(translations.ugettext),
        "ngettext": _make_new_ngettext(translations.ungettext),
    }


def _subject(template: str, offer: Any, engagement: Any, method: str | None) -> str:
    """The subject's sentence, in the locale in force (placeholders still to fill)."""
    chosen = SUBJECTS[template]
    if template == "speaker_answered":
        chosen = ANSWERED_SUBJECTS.get((offer.response if offer else None) or "", chosen)
    elif template == "invite" and (method == "CANCEL" or (engagement and engagement.sequence)):
        chosen = INVITE_SUBJECTS["CANCEL" if method == "CANCEL" else "UPDATE"]
    return str(chosen)


def subject_date(when: datetime | date) -> str:
    """A day as a subject names it: '10 Mar 2027', '2027年3月10日'."""
    if current_locale() == DEFAULT_LOCALE:
        return f"{when:%d %b %Y}"
    return format_date(when, "long", locale=current_locale())


# Whose address bounced (bureau/inbound/dispatch.py's words), as the assignee reads it.
_BOUNCED = {
    "the organizer's": (_l("the organizer's address"), _l("the organizer's address (%(email)s)")),
    "the speaker's": (_l("the speaker's address"), _l("the speaker's address (%(email)s)")),
    "the recipient's": (
        _l("the recipient's address"),
        _l("the recipient's address (%(email)s)"),
    ),
}


def bounced_address(whose: str | None, email: str | None) -> str:
    """'the organizer's address (li@example.cn)', in the locale in force."""
    plain, with_email = _BOUNCED.get(whose or "", _BOUNCED["the recipient's"])
    return str(with_email) % {"email": email} if email else str(plain)


def _invoice_in_words(invoice: Any) -> Any:
    """An invoice's facts with its title and days in the locale in force, when the facts
    keep its kind and days (a job queued before they did keeps its English words)."""
    if invoice is None:
        return None
    kind = getattr(invoice, "kind", None)
    if kind in KIND_TITLES:
        invoice.title = str(KIND_TITLES[InvoiceKind(kind)])
    for words, day in (("issued", "issued_on"), ("due", "due_on")):
        value = getattr(invoice, day, None)
        if isinstance(value, str):
            setattr(invoice, words, day_words(date.fromisoformat(value)))
    return invoice


def _in_zone(instant: datetime, zone: str) -> str:
    """An instant as its reader reads it: their wall-clock time, the zone named."""
    return str(
        gettext(
            "%(time)s (%(zone)s time)",
            time=local_time(instant.astimezone(ZoneInfo(zone))),
            zone=zone,
        )
    )


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


class _HeaderClasses(HeaderRegistry):
    """The standard registry, with each header's class built once: HeaderRegistry builds a
    new class (``type(…)``) for every header it parses, about fifteen a message."""

    def __init__(self) -> None:
        super().__init__()
        self._built: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        built = self._built.get(key)
        if built is None:
            built = self._built[key] = super().__getitem__(name)
        return built


QUICK_SMTP = (_QuickFoldPolicy() + SMTP).clone(header_factory=_HeaderClasses())


@lru_cache(maxsize=8)
def _sender(mail_from: str) -> tuple[str, Any]:
    """The sender's address and the From header of every message, parsed once per process
    (a parsed header is immutable; an Address and its header cost a parse each)."""
    name, email = parseaddr(mail_from)
    return email, QUICK_SMTP.header_factory("From", Address(display_name=name, addr_spec=email))


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
    sender_email, sender = _sender(current_app.config["BUREAU_SETTINGS"].mail_from)
    message = EmailMessage(policy=QUICK_SMTP)
    message["Subject"] = mail.subject
    message["From"] = sender
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
