"""Words for what the database keeps as codes: timeline actions, job kinds and job states.

Statuses have their words in bureau/bookings/states.py (``staff_label``) and emails theirs
next to their audiences (``mail_name`` in bureau/mail/recipients.py); templates reach all of
them through the filters bureau/templating.py registers, so no page shows a raw code.
The tables hold lazy strings: the code stays as stored, its words are in the reader's
language when shown.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from bureau.mail.recipients import mail_name

# A timeline entry's action as staff read it; others (older entries) get their own words.
ACTION_WORDS: dict[str, LazyString] = {
    "submitted": _l("Request submitted"),
    "routed": _l("Routed"),
    "assigned": _l("Assigned"),
    "reassigned": _l("Reassigned"),
    "routing failed": _l("Routing found no one"),
    "shortlisted": _l("Shortlist sent"),
    "offer": _l("Firm offer recorded"),
    "availability check": _l("Speaker asked; date held"),
    "speaker accepted": _l("Speaker accepted"),
    "speaker declined": _l("Speaker declined"),
    "hold expired": _l("Hold expired"),
    "contract": _l("Contract recorded"),
    "contract sent": _l("Contract sent"),
    "contract accepted": _l("Contract accepted"),
    "contract declined": _l("Contract declined"),
    "contract countersigned": _l("Contract countersigned"),
    "contract voided": _l("Contract voided"),
    "confirmed": _l("Confirmed"),
    "rescheduled": _l("Rescheduled"),
    "completed": _l("Completed"),
    "left feedback": _l("Organizer left feedback"),
    "payout paid": _l("Speaker's payout paid"),
    "declined": _l("Declined"),
    "withdrawn": _l("Withdrawn"),
    "cancelled": _l("Cancelled"),
    "expired": _l("Expired"),
    "state corrected": _l("Status corrected"),
    "note": _l("Note"),
    "reply received": _l("Email reply received"),
    "automatic reply": _l("Automatic reply (out of office or similar)"),
    "email bounced": _l("An email bounced"),
    "calendar answer": _l("Calendar answer"),
    "staff reply": _l("Reply sent by email"),
    "invoice issued": _l("Invoice issued"),
    "invoice voided": _l("Invoice voided"),
    "payment recorded": _l("Payment recorded"),
    "email resent": _l("Email resent"),
    "SLA breached": _l("First response overdue"),
    "personal data erased": _l("Personal data erased"),
    "personal data erased (retention)": _l("Personal data erased (retention period over)"),
}

JOB_STATE_WORDS = {
    "pending": _l("waiting"),
    "running": _l("sending"),
    "done": _l("sent"),
    "failed": _l("failed"),
}
JOB_KIND_WORDS = {"route": _l("Routing the request")}
# A contract version's status (bureau/contracts/models.py VersionStatus).
CONTRACT_STATUS_WORDS = {
    "sent": _l("sent"),
    "accepted": _l("accepted"),
    "declined": _l("declined"),
    "void": _l("void"),
}
# An attendee's answer to a calendar invitation (iTIP PARTSTAT), as staff read it.
PARTSTAT_WORDS = {
    "ACCEPTED": _l("accepted"),
    "DECLINED": _l("declined"),
    "TENTATIVE": _l("tentative"),
    "NEEDS-ACTION": _l("needs-action"),
    "DELEGATED": _l("delegated"),
}


def action_label(action: str) -> str:
    """The words for a stored action, in the reader's language (the code stays as stored)."""
    words = ACTION_WORDS.get(action)
    return str(words) if words is not None else action.replace("_", " ").capitalize()


def job_state_label(state: str) -> str:
    words = JOB_STATE_WORDS.get(state)
    return str(words) if words is not None else state.replace("_", " ")


def job_kind_label(kind: str) -> str:
    """A job's kind in words: ``mail.offer_received`` is the email "Firm offer received"."""
    if kind.startswith("mail."):
        return str(_("Email: %(name)s", name=mail_name(kind.removeprefix("mail."))))
    words = JOB_KIND_WORDS.get(kind)
    if words is not None:
        return str(words)
    return kind.replace("_", " ").replace(".", " ").capitalize()


def contract_status_label(status: str) -> str:
    words = CONTRACT_STATUS_WORDS.get(status)
    return str(words) if words is not None else status


def partstat_label(partstat: str) -> str:
    words = PARTSTAT_WORDS.get(str(partstat).upper())
    return str(words) if words is not None else str(partstat).lower()
