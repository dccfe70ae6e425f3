"""Words for what the database keeps as codes: timeline actions, job kinds and job states.

Statuses have their words in bureau/bookings/states.py (``staff_label``) and emails theirs
next to their audiences (``mail_name`` in bureau/mail/recipients.py); templates reach all of
them through the filters bureau/templating.py registers, so no page shows a raw code.
"""

from __future__ import annotations

from bureau.mail.recipients import mail_name

# A timeline entry's action as staff read it; others (older entries) get their own words.
ACTION_WORDS: dict[str, str] = {
    "submitted": "Request submitted",
    "routed": "Routed",
    "assigned": "Assigned",
    "reassigned": "Reassigned",
    "routing failed": "Routing found no one",
    "shortlisted": "Shortlist sent",
    "offer": "Firm offer recorded",
    "availability check": "Speaker asked; date held",
    "speaker accepted": "Speaker accepted",
    "speaker declined": "Speaker declined",
    "hold expired": "Hold expired",
    "contract": "Contract recorded",
    "contract sent": "Contract sent",
    "contract accepted": "Contract accepted",
    "contract declined": "Contract declined",
    "contract countersigned": "Contract countersigned",
    "contract voided": "Contract voided",
    "confirmed": "Confirmed",
    "rescheduled": "Rescheduled",
    "completed": "Completed",
    "left feedback": "Organizer left feedback",
    "payout paid": "Speaker's payout paid",
    "declined": "Declined",
    "withdrawn": "Withdrawn",
    "cancelled": "Cancelled",
    "expired": "Expired",
    "state corrected": "Status corrected",
    "note": "Note",
    "reply received": "Email reply received",
    "automatic reply": "Automatic reply (out of office or similar)",
    "email bounced": "An email bounced",
    "calendar answer": "Calendar answer",
    "staff reply": "Reply sent by email",
    "invoice issued": "Invoice issued",
    "invoice voided": "Invoice voided",
    "payment recorded": "Payment recorded",
    "email resent": "Email resent",
    "SLA breached": "First response overdue",
    "personal data erased": "Personal data erased",
    "personal data erased (retention)": "Personal data erased (retention period over)",
}

JOB_STATE_WORDS = {"pending": "waiting", "running": "sending", "done": "sent", "failed": "failed"}
JOB_KIND_WORDS = {"route": "Routing the request"}


def action_label(action: str) -> str:
    return ACTION_WORDS.get(action, action.replace("_", " ").capitalize())


def job_state_label(state: str) -> str:
    return JOB_STATE_WORDS.get(state, state.replace("_", " "))


def job_kind_label(kind: str) -> str:
    """A job's kind in words: ``mail.offer_received`` is the email "Firm offer received"."""
    if kind.startswith("mail."):
        return f"Email: {mail_name(kind.removeprefix('mail.'))}"
    return JOB_KIND_WORDS.get(kind, kind.replace("_", " ").replace(".", " ").capitalize())
