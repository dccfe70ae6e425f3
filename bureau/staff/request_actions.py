"""The workflow steps staff take from a request's page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import abort, flash, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from bureau.bookings import actions, notes
from bureau.bookings.models import BookingRequest
from bureau.bookings.routing import route
from bureau.bookings.states import Status, staff_label
from bureau.bookings.validation import validate_offer
from bureau.bookings.workflow import TransitionNotAllowed
from bureau.extensions import db
from bureau.params import row_id
from bureau.staff import forms
from bureau.staff.auth import admin_required, password_problem_for_current
from bureau.staff.blueprint import bp, may_act, staff_actor
from bureau.staff.models import StaffMember
from bureau.staff.picker import NotASpeaker, Picker
from bureau.staff.request_page import load_booking, request_page, sent_shortlist
from bureau.templating import staff_time

Perform = Callable[[BookingRequest, Any], str]


def act(
    booking_id: int, name: str, form_class: type[Any] | None, perform: Perform
) -> ResponseReturnValue:
    """Run one workflow step from a form: authorise, validate, perform, commit — or explain."""
    booking = load_booking(booking_id)
    if not may_act(booking):
        abort(403)
    form = form_class() if form_class is not None else None
    if form is not None and name == "reassign":
        form.staff_id.choices = None
    if form is not None and not form.validate_on_submit():
        return request_page(booking_id, status=422, **{name: form})
    # A workflow error raised here is explained by workflow_failed below.
    g.workflow_form = {name: form} if form is not None else {}
    message = perform(booking, form)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("staff.request_page", booking_id=booking_id)), 303


RACES = (actions.Conflict, StaleDataError)
REFUSALS = (actions.ActionError, TransitionNotAllowed)


def workflow_failed(error: Exception) -> ResponseReturnValue:
    """The one answer to a step that failed: nothing is saved and the staff member reads why.
    A race (a clash, another person's change) sends them back to the page as it now is; a
    refused step shows the page again with their input and the reason."""
    booking_id = (request.view_args or {}).get("booking_id")
    if booking_id is None:
        raise error
    db.session.rollback()
    if isinstance(error, RACES):
        text = (
            str(error)
            if isinstance(error, actions.Conflict)
            else (
                "Someone else changed this request at the same moment. Nothing was saved; "
                "look at it again."
            )
        )
        flash(text, "warning")
        return redirect(url_for("staff.request_page", booking_id=booking_id)), 303
    flash(str(error), "danger")
    return request_page(booking_id, status=422, **g.get("workflow_form", {}))


for _error in (*RACES, *REFUSALS):
    bp.register_error_handler(_error, workflow_failed)


@bp.post("/requests/<id:booking_id>/note")
def add_note(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.NoteForm) -> str:
        notes.add_note(
            db.session,
            booking,
            form.text.data or "",
            actor=staff_actor(),
            expected_version=form.expected_version,
        )
        return "Note added."

    return act(booking_id, "note", forms.NoteForm, perform)


@bp.post("/requests/<id:booking_id>/reassign")
def reassign(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.ReassignForm) -> str:
        choice = form.staff_id.data or "rules"
        if choice == "rules":
            actions.check_version(booking, form.expected_version)
            decision = route(db.session, booking, actor=staff_actor())
            return f"Routed by the rules: {decision.reason}"
        if not current_user.is_admin:
            abort(403)
        staff_id = row_id(choice)
        member = db.session.get(StaffMember, staff_id) if staff_id else None
        if member is None:
            raise actions.ActionError("Choose a staff member.")
        actions.reassign_to(
            db.session, booking, member, actor=staff_actor(), expected_version=form.expected_version
        )
        return f"Assigned to {member.name}."

    return act(booking_id, "reassign", forms.ReassignForm, perform)


@bp.post("/requests/<id:booking_id>/shortlist")
def shortlist(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.ShortlistForm) -> str:
        actions.check_version(booking, form.expected_version)
        candidates = shortlist_candidates(form)
        replacing = bool(booking.shortlist)
        if replacing and not form.replace.data:
            box = form.replace.label.text
            form.replace.errors = [f"Tick “{box}” to send this one in its place."]
            sent = sent_shortlist(booking) or {}
            raise actions.ActionError(
                f"{booking.contact_name} already has a shortlist"
                + (f", sent {sent['when']}" if sent.get("when") else "")
                + f"; this one would replace it. Tick “{box}” to send it. Nothing was sent."
            )
        actions.shortlist(
            db.session,
            booking,
            candidates,
            actor=staff_actor(),
            expected_version=form.expected_version,
        )
        instead = ", in place of the previous one" if replacing else ""
        return f"Shortlist of {len(candidates)} sent to {booking.contact_name}{instead}."

    return act(booking_id, "shortlist", forms.ShortlistForm, perform)


def shortlist_candidates(form: forms.ShortlistForm) -> list[actions.Candidate]:
    """The candidates the rows name, each typed name resolved to one active speaker; a row
    that cannot be is marked on its field and nothing is sent."""
    picker = Picker(db.session)
    candidates: list[actions.Candidate] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, entry in enumerate(form.candidates, start=1):
        if not (entry.speaker.data or "").strip():
            continue
        try:
            pick = picker.resolve(entry.speaker.data)
        except NotASpeaker as refused:
            entry.speaker.errors = [str(refused)]
            problems.append(f"Candidate {number}: {refused}")
            continue
        if pick.slug in seen:
            entry.speaker.errors = [f"{pick.label} is already on this shortlist."]
            problems.append(f"Candidate {number}: {pick.label} is on the shortlist twice.")
            continue
        seen.add(pick.slug)
        if entry.fee_quote.data is None:
            entry.fee_quote.errors = [f"Give {pick.name}'s fee quote."]
            problems.append(f"Candidate {number}: give {pick.name}'s fee quote.")
            continue
        candidates.append(
            actions.Candidate(
                pick.slug,
                entry.fee_quote.data,
                (entry.home_city.data or "").strip() or pick.home_city,
                entry.note.data or None,
            )
        )
    if problems:
        raise actions.ActionError(" ".join(problems) + " Nothing was sent.")
    return candidates


def act_on_terms(
    booking_id: int,
    name: str,
    step: Callable[..., Any],
    message: str,
    fixed: Callable[[BookingRequest], dict[str, str]] | None = None,
) -> ResponseReturnValue:
    """A step that takes offer-like terms (a firm offer, a reschedule): validate them with
    the offer's validation (``fixed`` supplies what the form does not ask), then act."""
    booking = load_booking(booking_id)
    if not may_act(booking):
        abort(403)
    form = forms.VersionedForm()
    if not form.validate_on_submit():
        abort(400)
    raw = {**request.form.to_dict(), **(fixed(booking) if fixed else {})}
    terms, errors = validate_offer(raw)
    if terms is None:
        bound = {f"{name}_errors": errors, f"{name}_input": request.form.to_dict()}
        return request_page(booking_id, status=422, **bound)

    def perform(booking: BookingRequest, _: Any) -> str:
        step(
            db.session, booking, terms, actor=staff_actor(), expected_version=form.expected_version
        )
        return message

    return act(booking_id, name, None, perform)


@bp.post("/requests/<id:booking_id>/offer")
def offer(booking_id: int) -> ResponseReturnValue:
    return act_on_terms(booking_id, "offer", actions.record_offer, "Firm offer recorded.")


def _current_terms(booking: BookingRequest) -> dict[str, str]:
    current = booking.offer
    return {
        "speaker": current.speaker.slug if current else "",
        "fee": str(current.fee) if current else "",
        "format": booking.format,
    }


@bp.post("/requests/<id:booking_id>/reschedule")
def reschedule(booking_id: int) -> ResponseReturnValue:
    return act_on_terms(
        booking_id,
        "reschedule",
        actions.reschedule,
        "Rescheduled; updated invitations go to everyone.",
        fixed=_current_terms,
    )


@bp.post("/requests/<id:booking_id>/availability")
def availability(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.AvailabilityForm) -> str:
        hold = actions.request_availability(
            db.session,
            booking,
            actor=staff_actor(),
            expected_version=form.expected_version,
            hold_for=timedelta(days=form.hold_days.data or 7),
        )
        return f"Availability check sent; the date is held until {staff_time(hold.expires_at)}."

    return act(booking_id, "availability", forms.AvailabilityForm, perform)


@bp.post("/requests/<id:booking_id>/contract")
def contract(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.ContractForm) -> str:
        terms = actions.ContractTerms(
            fee=form.fee.data,
            currency=form.currency.data,
            commission_pct=form.commission_pct.data,
            deposit_amount=form.deposit_amount.data,
            deposit_due=form.deposit_due.data,
            travel_terms=form.travel_terms.data or None,
        )
        actions.record_contract(
            db.session, booking, terms, actor=staff_actor(), expected_version=form.expected_version
        )
        return "Contract recorded."

    return act(booking_id, "contract", forms.ContractForm, perform)


@bp.post("/requests/<id:booking_id>/confirm")
def confirm(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.ConfirmForm) -> str:
        actions.confirm(
            db.session, booking, actor=staff_actor(), expected_version=form.expected_version
        )
        return "Booking confirmed; the organizer is told."

    return act(booking_id, "confirm", forms.ConfirmForm, perform)


@bp.post("/requests/<id:booking_id>/complete")
def complete(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.CompleteForm) -> str:
        actions.complete(
            db.session,
            booking,
            actor=staff_actor(),
            expected_version=form.expected_version,
            feedback=form.feedback.data or None,
            early_reason=form.early_reason.data or None,
            actor_is_admin=current_user.is_admin,
        )
        return "Marked as completed."

    return act(booking_id, "complete", forms.CompleteForm, perform)


@bp.post("/requests/<id:booking_id>/close")
def close(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.CloseForm) -> str:
        try:
            to = Status(form.to.data)
        except ValueError:
            raise actions.ActionError("Choose how to close the request.") from None
        actions.close(
            db.session,
            booking,
            to,
            reason=form.reason.data or "",
            actor=staff_actor(),
            expected_version=form.expected_version,
        )
        return f"Request closed: {staff_label(to).lower()}."

    return act(booking_id, "close", forms.CloseForm, perform)


@bp.post("/requests/<id:booking_id>/correct")
@admin_required
def correct(booking_id: int) -> ResponseReturnValue:
    def perform(booking: BookingRequest, form: forms.CorrectStateForm) -> str:
        try:
            to = Status(form.status.data)
        except ValueError:
            raise actions.ActionError("Choose a status.") from None
        refused = password_problem_for_current(form.password.data or "")
        if refused:
            raise actions.ActionError(f"{refused} Nothing was changed.")
        actions.correct_state(
            db.session,
            booking,
            to,
            reason=form.reason.data or "",
            actor=staff_actor(),
            actor_is_admin=current_user.is_admin,
            expected_version=form.expected_version,
        )
        return f"Status corrected to “{staff_label(to)}”."

    return act(booking_id, "correct", forms.CorrectStateForm, perform)
