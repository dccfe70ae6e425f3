"""Per-request reply addresses: ``bookings+BR-2027-00042.<signature>@domain``.

Plus-addressing on the bureau's own mailbox (BUREAU_MAIL_FROM): a reply to it lands in the
same inbox and names its request. The signature, a short HMAC of the reference under the
app's secret key, stops anyone from filing mail onto a request by guessing its reference;
it is compared in constant time, and a forged one matches nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from email.utils import getaddresses, parseaddr

from flask import current_app
from sqlalchemy import select

from bureau.bookings.models import BookingRequest
from bureau.db import AnySession

SIGNATURE_LENGTH = 12  # hex digits: 48 bits, far beyond guessing by mail
REFERENCE = r"BR-\d{4}-\d{5,}"
REFERENCE_IN_TEXT = re.compile(rf"\b({REFERENCE})\b", re.IGNORECASE)
_TAG = re.compile(rf"({REFERENCE})\.([0-9a-f]{{{SIGNATURE_LENGTH}}})", re.IGNORECASE)


def _mailbox() -> tuple[str, str]:
    """The local part and domain of the bureau's sender address."""
    address = parseaddr(current_app.config["BUREAU_SETTINGS"].mail_from)[1]
    local, _, domain = address.rpartition("@")
    return local, domain


def signature(reference: str) -> str:
    key = current_app.config["BUREAU_SETTINGS"].secret_key.encode()
    message = f"bureau.inbound.reply:{reference.upper()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:SIGNATURE_LENGTH]


def reply_address(booking: BookingRequest) -> str:
    """Where a reply about ``booking`` is to go: the bureau's mailbox, tagged and signed."""
    local, domain = _mailbox()
    return f"{local}+{booking.reference}.{signature(booking.reference)}@{domain}"


def reference_from_address(address: str) -> str | None:
    """The reference a reply address names, if its mailbox, domain and signature are ours."""
    address = parseaddr(address)[1]
    local, domain = _mailbox()
    tagged, _, at_domain = address.rpartition("@")
    base, plus, tag = tagged.partition("+")
    if not plus or base.lower() != local.lower() or at_domain.lower() != domain.lower():
        return None
    found = _TAG.fullmatch(tag)
    if found is None:
        return None
    reference = found.group(1).upper()
    if not hmac.compare_digest(found.group(2).lower(), signature(reference)):
        return None  # forged or mistyped: no match
    return reference


def booking_from_address(session: AnySession, address: str) -> BookingRequest | None:
    """The request a (signed) reply address names; None for any other address."""
    reference = reference_from_address(address)
    if reference is None:
        return None
    return session.scalar(select(BookingRequest).where(BookingRequest.reference == reference))


def booking_from_addresses(session: AnySession, headers: list[str]) -> BookingRequest | None:
    """The first request named by a reply address among these To/Cc/Delivered-To values."""
    for _, address in getaddresses(headers):
        booking = booking_from_address(session, address)
        if booking is not None:
            return booking
    return None
