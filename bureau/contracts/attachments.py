"""The contract's PDF on the emails that carry it: the version sent, and the final one.

Registered for the mail templates by name (bureau/mail/attachments.py); the job's payload
names the version (``contract_version``, its id), so the email carries the document as it
stood when the mail was composed: for ``contract_final``, with both signatures.
"""

from __future__ import annotations

from typing import Any

from bureau.bookings.models import BookingRequest
from bureau.contracts.models import ContractVersion
from bureau.contracts.render import document_pdf
from bureau.db import AnySession
from bureau.mail.attachments import Attachment, attaches

# The mail templates that attach the contract: sent to the organizer, and final to both.
CONTRACT_MAIL_TEMPLATES = ("contract_sent", "contract_final")
PAYLOAD_KEY = "contract_version"


def contract_pdf(session: AnySession, payload: dict[str, Any]) -> list[Attachment]:
    """The PDF of the version the payload names (none if it is gone: the booking erased)."""
    version_id = payload.get(PAYLOAD_KEY)
    version = session.get(ContractVersion, version_id) if version_id is not None else None
    if version is None:
        return []
    booking = session.get(BookingRequest, version.booking_id)
    reference = booking.reference if booking else "contract"
    filename = f"{reference}-contract-v{version.number}.pdf"
    return [Attachment(filename, "application/pdf", document_pdf(version, reference))]


for _template in CONTRACT_MAIL_TEMPLATES:
    attaches(_template)(contract_pdf)
