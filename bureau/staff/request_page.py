"""A request's page: its timeline, its emails and a form for every step it can take now."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import abort, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bureau.billing.forms import invoice_panel
from bureau.bookings import actions
from bureau.bookings.forms import choices
from bureau.bookings.models import BookingRequest
from bureau.bookings.progress import active_hold
from bureau.bookings.states import CLOSED_STATES, Status, staff_label
from bureau.bookings.terms import contract_defaults
from bureau.bookings.workflow import refusal
from bureau.calendar.models import Engagement
from bureau.catalogue.models import Speaker
from bureau.catalogue.queries import active_speaker_choices
from bureau.db import utcnow
from bureau.extensions import db
from bureau.inbound.dispatch import answers_for
from bureau.inbound.forms import ReplyForm
from bureau.mail.models import Notification
from bureau.mail.recipients import MAIL_TASK
from bureau.outbox import Job
from bureau.staff import forms
from bureau.staff.blueprint import bp, may_act
from bureau.staff.models import StaffMember
from bureau.staff.picker import Picker
from bureau.staff.suggestions import Suggestion, first_choice, suggest_speakers
from bureau.templating import staff_time


def load_booking(booking_id: int) -> BookingRequest:
    booking = db.session.scalars(
        select(BookingRequest)
        .where(BookingRequest.id == booking_id)
        .options(selectinload(BookingRequest.events), selectinload(BookingRequest.offers))
    ).one_or_none()
    if booking is None:
        abort(404)
    return booking


def timeline(booking: BookingRequest) -> list[dict[str, Any]]:
    """The timeline entries and the emails, in one list by time."""
    items: list[dict[str, Any]] = [
        {"at": e.at, "kind": "event", "event": e} for e in booking.events
    ]
    # Every email job, composed (a Notification) or still waiting to be.
    mails = db.session.execute(
        select(Job, Notification)
        .outerjoin(Notification, Notification.job_id == Job.id)
        .where(Job.booking_id == booking.id, Job.task == MAIL_TASK)
    )
    items += [
        {"at": job.created_at, "kind": "mail", "job": job, "mail": notification}
        for job, notification in mails
    ]
    return sorted(items, key=lambda item: item["at"])


def shortlisted_names(booking: BookingRequest) -> dict[str, str]:
    """Names of the speakers every shortlist on the timeline proposed, by slug."""
    slugs = {
        candidate.get("speaker_slug")
        for e in booking.events
        if e.action == "shortlisted"
        for candidate in e.details.get("candidates", [])
    }
    if not slugs:
        return {}
    rows = db.session.execute(select(Speaker.slug, Speaker.name).where(Speaker.slug.in_(slugs)))
    return dict(rows.all())


def sent_shortlist(booking: BookingRequest) -> dict[str, Any] | None:
    """The shortlist the organizer has now, and when it was sent."""
    if not booking.shortlist:
        return None
    sent = [e.at for e in booking.events if e.action == "shortlisted"]
    return {"entries": booking.shortlist, "when": staff_time(sent[-1]) if sent else None}


def prefill_shortlist(
    form: forms.ShortlistForm,
    booking: BookingRequest,
    suggestions: list[Suggestion],
    picker: Picker,
) -> None:
    """The shortlist the organizer has, to amend; else the best four free suggestions. A
    home city is filled in only where it is not the catalogue's (blank means the catalogue's):
    a row given another name must not keep the previous speaker's city."""
    rows: list[tuple[str, int | None, str | None, str | None]] = [
        (
            picker.label_of(e.speaker_id) or e.speaker.name,
            e.fee_quote,
            None if e.home_city == e.speaker.home_city else e.home_city,
            e.note,
        )
        for e in booking.shortlist
    ] or [
        (picker.label_of(s.speaker.id) or s.speaker.name, s.fee_quote, None, None)
        for s in suggestions
        if s.available
    ]
    for entry, (label, fee, city, note_text) in zip(form.candidates, rows, strict=False):
        entry.speaker.data = label
        entry.fee_quote.data = fee
        entry.home_city.data = city
        entry.note.data = note_text


def offer_choices(
    booking: BookingRequest, speakers: Sequence[tuple[str, str]]
) -> Sequence[tuple[str, str]]:
    """Whom a firm offer may name: only the shortlist while the organizer chooses from it
    (actions.record_offer refuses others); otherwise the shortlist first, then the rest."""
    listed = [(e.speaker.slug, e.speaker.name) for e in booking.shortlist if e.speaker.is_active]
    if booking.status == Status.SHORTLISTED:
        return listed
    if not listed:
        return speakers  # the catalogue's kept tuple: its options are rendered once
    slugs = {slug for slug, _ in listed}
    marked = [(slug, f"{name} (shortlisted)") for slug, name in listed]
    return marked + [(slug, name) for slug, name in speakers if slug not in slugs]


def build_forms(booking: BookingRequest, **bound: Any) -> dict[str, Any]:
    """A form per step the booking can take now (bound ones keep the staff's input); none
    for a reader who may not act on it (the page shows them none)."""
    version = str(booking.version)
    made: dict[str, Any] = {}
    if not may_act(booking):
        return made

    def make(name: str, cls: type[Any], **data: Any) -> Any:
        form = bound.get(name) or cls(formdata=None, version=version, **data)
        form.version.data = version
        made[name] = form
        return form

    make("note", forms.NoteForm)
    close = make("close", forms.CloseForm)
    close.to.choices = choices(
        [(to, label) for to, label in forms.CLOSE_AS.items() if actions.can(booking, Status(to))],
        blank=None,
    )
    reassign = bound.get("reassign") or forms.ReassignForm(formdata=None, version=version)
    people = (
        [
            (str(s.id), _("%(name)s (on leave)", name=s.name) if s.is_on_leave else s.name)
            for s in db.session.scalars(
                select(StaffMember).where(StaffMember.is_active).order_by(StaffMember.name)
            )
        ]
        if current_user.is_admin
        else []
    )
    reassign.staff_id.choices = choices(
        [("rules", _("Through the routing rules")), *people], blank=None
    )
    reassign.version.data = version
    made["reassign"] = reassign
    if actions.can(booking, Status.SHORTLISTED):
        suggestions = suggest_speakers(db.session, booking)
        picker = Picker(db.session, suggestions, booking)
        form = make("shortlist", forms.ShortlistForm)
        if "shortlist" not in bound:
            prefill_shortlist(form, booking, suggestions, picker)
        made["picker"] = picker
        made["suggestions"] = suggestions
        made["sent_shortlist"] = sent_shortlist(booking)
    if actions.can(booking, Status.OFFER_RECEIVED):
        made["offer_speakers"] = offer_choices(booking, active_speaker_choices(db.session))
        pick = first_choice(booking)
        made["offer_preselect"] = {"speaker": pick.slug} if pick else {}
    if actions.can(booking, Status.AWAITING_SPEAKER) and booking.offer is not None:
        make("availability", forms.AvailabilityForm)
    if actions.can(booking, Status.CONTRACTED) and booking.status == Status.SPEAKER_ACCEPTED:
        make("contract", forms.ContractForm, **contract_defaults(booking, utcnow()))
    if booking.status == Status.CONTRACTED:
        make("confirm", forms.ConfirmForm)
    if actions.can(booking, Status.COMPLETED):
        # Before the event ends, say when it can be completed; only an admin may, with a reason.
        made["complete_wait"] = refusal(db.session, booking, Status.COMPLETED)
        if not made["complete_wait"] or current_user.is_admin:
            make("complete", forms.CompleteForm)
    if current_user.is_admin:
        correct = bound.get("correct") or forms.CorrectStateForm(formdata=None, version=version)
        correct.status.choices = choices([(s.value, staff_label(s)) for s in Status], blank=None)
        correct.version.data = version
        made["correct"] = correct
    return made


@bp.get("/requests/<id:booking_id>")
def request_page(booking_id: int, status: int = 200, **bound: Any) -> ResponseReturnValue:
    booking = load_booking(booking_id)
    made = build_forms(booking, **bound)
    engagement = db.session.scalars(
        select(Engagement).where(Engagement.booking_id == booking.id)
    ).one_or_none()
    return (
        render_template(
            "staff/request.html",
            booking=booking,
            timeline=timeline(booking),
            speaker_names=shortlisted_names(booking),
            may_act=may_act(booking),
            forms=made,
            is_closed=booking.status in CLOSED_STATES,
            offer_errors=bound.get("offer_errors", {}),
            offer_input=bound.get("offer_input") or made.get("offer_preselect", {}),
            engagement=engagement,
            reschedule_errors=bound.get("reschedule_errors", {}),
            reschedule_input=bound.get("reschedule_input", {}),
            hold=active_hold(db.session, booking.id),
            # Answers to the engagement's invitation: none without one (a query saved).
            calendar_answers=answers_for(db.session, booking.id) if engagement else [],
            reply_form=ReplyForm(formdata=None),
            invoices=invoice_panel(
                db.session,
                booking,
                bound,
                today=utcnow().date(),
                tax_rate=current_app.config["BUREAU_SETTINGS"].tax_rate,
            ),
        ),
        status,
    )
