"""Delivery status notifications (RFC 3464): which email bounced, for whom, and why.

The remote server's own words (Diagnostic-Code) are kept: "mailbox full" and "no such user"
call for different answers from the desk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from email.policy import default

from bureau.inbound.automatic import header
from bureau.inbound.text import part_text

_ANGLED = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class FailedRecipient:
    """One recipient block of the report."""

    address: str
    action: str
    status: str
    diagnostic: str


@dataclass(frozen=True)
class Bounce:
    """A delivery report: the original email's Message-ID and each recipient it reports on."""

    original_message_id: str | None
    recipients: tuple[FailedRecipient, ...]

    @property
    def failed(self) -> tuple[FailedRecipient, ...]:
        """The recipients whose delivery failed for good (not "delayed" or "delivered")."""
        return tuple(r for r in self.recipients if r.action == "failed")


def is_delivery_report(msg: Message) -> bool:
    """A multipart/report whose report-type is delivery-status."""
    try:
        return (
            msg.get_content_type() == "multipart/report"
            and str(msg.get_param("report-type", "")).lower() == "delivery-status"
        )
    except Exception:
        return False


def read_bounce(msg: Message) -> Bounce | None:
    """The report in a delivery-status message, or None when the message is not one."""
    if not is_delivery_report(msg):
        return None
    recipients: list[FailedRecipient] = []
    original: str | None = None
    for part in msg.walk():
        kind = part.get_content_type()
        if kind in {"message/delivery-status", "message/global-delivery-status"}:
            recipients.extend(_recipients(_field_blocks(part)))
        elif kind in {"text/rfc822-headers", "text/global-headers"} and original is None:
            headers = HeaderParser(policy=default).parsestr(part_text(part))
            original = first_message_id(header(headers, "Message-ID"))
        elif kind in {"message/rfc822", "message/global"} and original is None:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original = first_message_id(header(inner[0], "Message-ID"))
    return Bounce(original_message_id=original, recipients=tuple(recipients))


def first_message_id(value: str) -> str | None:
    """The first <id@host> in a header value; a bare id@host (some clients drop the angle
    brackets) gets them back, so it matches the Message-ID the bureau stored."""
    found = _ANGLED.search(value)
    if found:
        return found.group()
    bare = value.split()
    return f"<{bare[0]}>" if bare and "@" in bare[0] and "<" not in bare[0] else None


def _field_blocks(part: Message) -> list[Message]:
    """The report's field groups: the parser's sub-messages, or the text split by blank lines."""
    payload = part.get_payload()
    if isinstance(payload, list) and all(isinstance(p, Message) for p in payload):
        return list(payload)
    text = part_text(part).replace("\r\n", "\n")
    parser = HeaderParser(policy=default)
    return [
        parser.parsestr(block.strip() + "\n")
        for block in re.split(r"\n\s*\n", text)
        if block.strip()
    ]


def _recipients(blocks: list[Message]) -> list[FailedRecipient]:
    found = []
    for block in blocks:
        recipient = header(block, "Final-Recipient") or header(block, "Original-Recipient")
        if not recipient:
            continue  # the per-message block (Reporting-MTA, Arrival-Date)
        found.append(
            FailedRecipient(
                address=_address(recipient),
                action=header(block, "Action").lower(),
                status=header(block, "Status"),
                diagnostic=_after_type(header(block, "Diagnostic-Code")),
            )
        )
    return found


def _address(value: str) -> str:
    """ "rfc822; someone@example.org" -> "someone@example.org"."""
    return _after_type(value).strip("<>").lower()


def _after_type(value: str) -> str:
    """Drop the address-type or diagnostic-type prefix ("rfc822;", "smtp;")."""
    kind, sep, rest = value.partition(";")
    return rest.strip() if sep and " " not in kind.strip() else value.strip()
