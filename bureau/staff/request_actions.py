"""The workflow steps staff take from a request's page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Generic, TypeVar

from flask import abort, flash, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from bureau.billing import payouts
from bureau.bookings import actions, notes
from bureau.bookings.models import BookingRequest
from bureau.bookings.routing import route
from bureau.bookings.states import Status, staff_label
from bureau.bookings.validation import validate_offer
from bureau.bookings.workflow import TransitionNotAllowed
from bureau.db import utcnow
from bureau.extensions import db
from bureau.params import row_id
from bureau.staff import forms
from bureau.staff.auth import admin_required, password_problem_for_current
from bureau.staff.blueprint import bp, may_act, staff_actor
from bureau.staff.models import StaffMember
from bureau.staff.picker import NotASpeaker, Picker
from bureau.staff.request_page import load_booking, request_page, sent_shortlist
from bureau.templating import staff_time
from bureau.urls import public_url

Form = TypeVar("Form", bound=forms.VersionedForm)
Result = TypeVar("Result")


@dataclass(frozen=True)
class Step(Generic[Form]):
    """What a workflow step works on: the request, the staff member's valid form."""

    booking: BookingRequest
    form: Form

    def run(self, action: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        """``action(session, booking, *args, **kwargs)`` by this staff member, refused if
        the request changed since the form's page was shown."""
        return action(
            db.session,
            self.booking,
            *args,
            actor=staff_actor(),
            expected_version=self.form.expected_version,
            **kwargs,
        )


def allowed_booking(booking_id: int) -> BookingRequest:
    """The request, if this staff member may act on it (404, 403 otherwise)."""
    booking = load_booking(booking_id)
    if not may_act(booking):
        abort(403)
    return booking


def commit_step(
    booking_id: int, shown: dict[str, Any], perform: Callable[[], str]
) -> ResponseReturnValue:
    """Perform the step and commit, and say so on the request's page. A workflow error
    raised here is explained by workflow_failed below, with the ``shown`` forms again."""
    g.workflow_form = shown
    message = perform()
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("staff.request_page", booking_id=booking_id)), 303


def workflow_step(
    name: str, make_form: Callable[[], Form], *, admins_only: bool = False
) -> Callable[[Callable[[Step[Form]], str]], Callable[[Step[Form]], str]]:
    """Make ``perform(step) -> message`` the step POSTed to /requests/<id>/<name> (the
    endpoint is perform's name): authorise, validate the form, perform, commit — or show
    the page again with the form's errors."""

    def register(perform: Callable[[Step[Form]], str]) -> Callable[[Step[Form]], str]:
        def view(booking_id: int) -> ResponseReturnValue:
            booking = allowed_booking(booking_id)
            form = make_form()
            if not form.validate_on_submit():
                return request_page(booking_id, status=422, **{name: form})
            return commit_step(booking_id, {name: form}, lambda: perform(Step(booking, form)))

        rule = f"/requests/<id:booking_id>/{name}"
        guarded = admin_required(view) if admins_only else view
        bp.add_url_rule(rule, perform.__name__, guarded, methods=["POST"])
        return perform

    return register


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
            else _(
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


@workflow_step("note", forms.NoteForm)
def add_note(step: Step[forms.NoteForm]) -> str:
    step.run(notes.add_note, step.form.text.data or "")
    return str(_("Note added."))


def _reassign_form() -> forms.ReassignForm:
    form = forms.ReassignForm()
    form.staff_id.choices = None  # any id or "rules": reassign checks it
    return form


@workflow_step("reassign", _reassign_form)
def reassign(step: Step[forms.ReassignForm]) -> str:
    choice = step.form.staff_id.data or "rules"
    if choice == "rules":
        actions.check_version(step.booking, step.form.expected_version)
        decision = route(db.session, step.booking, actor=staff_actor())
        return str(_("Routed by the rules: %(reason)s", reason=decision.reason))
    if not current_user.is_admin:
        abort(403)
    staff_id = row_id(choice)
    member = db.session.get(StaffMember, staff_id) if staff_id else None
    if member is None:
        raise actions.ActionError(_("Choose a staff member."))
    step.run(actions.reassign_to, member)
    return str(_("Assigned to %(name)s.", name=member.name))


@workflow_step("shortlist", forms.ShortlistForm)
def shortlist(step: Step[forms.ShortlistForm]) -> str:
    booking, form = step.booking, step.form
    actions.check_version(booking, form.expected_version)
    candidates = shortlist_candidates(form)
    replacing = bool(booking.shortlist)
    if replacing and not form.replace.data:
        box = form.replace.label.text
        form.replace.errors = [_("Tick “%(box)s” to send this one in its place.", box=box)]
        sent = sent_shortlist(booking) or {}
        if sent.get("when"):
            message = _(
                "%(name)s already has a shortlist, sent %(when)s; this one would replace it. "
                "Tick “%(box)s” to send it. Nothing was sent.",
                name=booking.contact_name,
                when=sent["when"],
                box=box,
            )
        else:
            message = _(
                "%(name)s already has a shortlist; this one would replace it. "
                "Tick “%(box)s” to send it. Nothing was sent.",
                name=booking.contact_name,
                box=box,
            )
        raise actions.ActionError(message)
    step.run(actions.shortlist, candidates)
    if replacing:
        return str(
            _(
                "Shortlist of %(count)s sent to %(name)s, in place of the previous one.",
                count=len(candidates),
                name=booking.contact_name,
            )
        )
    return str(
        _(
            "Shortlist of %(count)s sent to %(name)s.",
            count=len(candidates),
            name=booking.contact_name,
        )
    )


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
            problems.append(_("Candidate %(number)s: %(problem)s", number=number, problem=refused))
            continue
        if pick.slug in seen:
            entry.speaker.errors = [_("%(name)s is already on this shortlist.", name=pick.label)]
            problems.append(
                _(
                    "Candidate %(number)s: %(name)s is on the shortlist twice.",
                    number=number,
                    name=pick.label,
                )
            )
            continue
        seen.add(pick.slug)
        if entry.fee_quote.data is None:
            entry.fee_quote.errors = [_("Give %(name)s's fee quote.", name=pick.name)]
            problems.append(
                _("Candidate %(number)s: give %(name)s's fee quote.", number=number, name=pick.name)
            )
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
        raise actions.ActionError(_("%(problems)s Nothing was sent.", problems=" ".join(problems)))
    return candidates


def act_on_terms(
    booking_id: int,
    name: str,
    action: Callable[..., Any],
    message: str,
    fixed: Callable[[BookingRequest], dict[str, str]] | None = None,
) -> ResponseReturnValue:
    """A step that takes offer-like terms (a firm offer, a reschedule): validate them with
    the offer's validation (``fixed`` supplies what the form does not ask), then act."""
    booking = allowed_booking(booking_id)
    form = forms.VersionedForm()
    if not form.validate_on_submit():
        abort(400)
    raw = {**request.form.to_dict(), **(fixed(booking) if fixed else {})}
    terms, errors = validate_offer(raw)
    if terms is None:
        bound = {f"{name}_errors": errors, f"{name}_input": request.form.to_dict()}
        return request_page(booking_id, status=422, **bound)

    def perform() -> str:
        Step(booking, form).run(action, terms)
        return message

    return commit_step(booking_id, {}, perform)


@bp.post("/requests/<id:booking_id>/offer")
def offer(booking_id: int) -> ResponseReturnValue:
    return act_on_terms(booking_id, "offer", actions.record_offer, _("Firm offer recorded."))


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
        _("Rescheduled; updated invitations go to everyone."),
        fixed=_current_terms,
    )


@workflow_step("availability", forms.AvailabilityForm)
def availability(step: Step[forms.AvailabilityForm]) -> str:
    hold = step.run(
        actions.request_availability, hold_for=timedelta(days=step.form.hold_days.data or 7)
    )
    return str(
        _(
            "Availability check sent; the date is held until %(until)s.",
            until=staff_time(hold.expires_at),
        )
    )


@workflow_step("contract", forms.ContractForm)
def contract(step: Step[forms.ContractForm]) -> str:
    form = step.form
    terms = actions.ContractTerms(
        fee=form.fee.data,
        currency=form.currency.data,
        commission_pct=form.commission_pct.data,
        deposit_amount=form.deposit_amount.data,
        deposit_due=form.deposit_due.data,
        travel_terms=form.travel_terms.data or None,
    )
    step.run(actions.record_contract, terms)
    return str(_("Contract recorded."))


@workflow_step("confirm", forms.ConfirmForm)
def confirm(step: Step[forms.ConfirmForm]) -> str:
    step.run(
        actions.confirm,
        override_reason=step.form.override_reason.data or None,
        actor_is_admin=current_user.is_admin,
    )
    return str(_("Booking confirmed; the organizer is told."))


@workflow_step("complete", forms.CompleteForm)
def complete(step: Step[forms.CompleteForm]) -> str:
    step.run(
        actions.complete,
        feedback=step.form.feedback.data or None,
        early_reason=step.form.early_reason.data or None,
        actor_is_admin=current_user.is_admin,
    )
    return str(_("Marked as completed."))


def _status(value: str | None, refusal: str) -> Status:
    try:
        return Status(value or "")
    except ValueError:
        raise actions.ActionError(refusal) from None


@workflow_step("close", forms.CloseForm)
def close(step: Step[forms.CloseForm]) -> str:
    to = _status(step.form.to.data, _("Choose how to close the request."))
    step.run(actions.close, to, reason=step.form.reason.data or "")
    return str(_("Request closed: %(status)s.", status=staff_label(to).lower()))


@workflow_step("correct", forms.CorrectStateForm, admins_only=True)
def correct(step: Step[forms.CorrectStateForm]) -> str:
    to = _status(step.form.status.data, _("Choose a status."))
    refused = password_problem_for_current(step.form.password.data or "")
    if refused:
        raise actions.ActionError(_("%(problem)s Nothing was changed.", problem=refused))
    step.run(
        actions.correct_state,
        to,
        reason=step.form.reason.data or "",
        actor_is_admin=current_user.is_admin,
    )
    return str(_("Status corrected to “%(status)s”.", status=staff_label(to)))


def _payout_form() -> forms.PayoutPaidForm:
    """The form as posted, kept for the page shown again (its include reads it from g)."""
    form = forms.PayoutPaidForm()
    g.payout_form = form
    return form


@workflow_step("payout", _payout_form)
def payout(step: Step[forms.PayoutPaidForm]) -> str:
    paid_on: date = step.form.paid_on.data
    statement = step.run(payouts.mark_paid, paid_on=paid_on, reference=step.form.reference.data)
    return payouts.paid_message(statement)


@bp.app_template_global()
def payout_panel(booking: BookingRequest) -> dict[str, Any] | None:
    """What templates/staff/_payout.html shows of a completed booking: its statement (a
    draft from the contract if it was completed before payouts existed), the form to mark
    it paid, and the speaker's link to their statements."""
    if booking.status != Status.COMPLETED:
        return None
    statement = payouts.statement_of(db.session, booking) or payouts.draft_statement(booking)
    if statement is None:
        return None
    form = g.get("payout_form") or forms.PayoutPaidForm(formdata=None, paid_on=utcnow().date())
    form.version.data = str(booking.version)
    token = payouts.statements_token(statement.speaker_id)
    return {
        "statement": statement,
        "form": form,
        "overdue": statement.paid_on is None and statement.due_on < utcnow().date(),
        "speaker_link": public_url("billing.payouts", token=token),
    }
