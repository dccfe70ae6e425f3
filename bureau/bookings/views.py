"""Public booking pages: the request form and the organizer's private status page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from wtforms import HiddenField

from bureau.billing.models import Invoice
from bureau.billing.render import invoice_document
from bureau.bookings import actions
from bureau.bookings.forms import RATING_WORDS, FeedbackForm, RequestForm
from bureau.bookings.links import read_availability_token
from bureau.bookings.models import BookingRequest, Offer
from bureau.bookings.progress import (
    active_hold,
    answer_deadline,
    organizer_can_offer,
    organizer_status,
)
from bureau.bookings.services import ActiveSpeakers, find_by_token, submit_request
from bureau.bookings.states import Status
from bureau.bookings.validation import validate_offer, validate_request
from bureau.bookings.workflow import Actor, ActorKind, TransitionNotAllowed
from bureau.catalogue.queries import active_speaker_choices
from bureau.db import utcnow
from bureau.extensions import db
from bureau.params import MAX_INT, whole_number
from bureau.signed_links import LinkProblem
from bureau.text import clean_line, clean_text

bp = Blueprint("bookings", __name__)
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


@bp.route("/request", methods=["GET", "POST"])
def request_form() -> ResponseReturnValue:
    form = RequestForm()
    speakers = active_speaker_choices(db.session)
    form.set_choices(speakers)
    if request.method == "GET":
        form.submission_token.data = uuid.uuid4().hex
        wanted = request.args.get("speaker", "")
        if wanted in {slug for slug, _name in speakers}:
            form.speaker_1.data = wanted
        return render_template("bookings/request_form.html", form=form)

    status = 200
    if not form.validate_on_submit():
        # Only CSRF can fail here: the fields carry no validators of their own.
        status = 400
    elif form.website.data:
        form.form_errors.append(
            _("Your request could not be accepted. If you are a person, please email us instead.")
        )
        status = 400
    elif not _TOKEN.match(form.submission_token.data or ""):
        form.form_errors.append(_("The form was damaged; please fill it in again."))
        status = 400
    else:
        active_speakers = ActiveSpeakers(db.session)
        valid, errors = validate_request(form.raw_request(), active_speakers=active_speakers)
        if valid is None:
            form.show_errors(errors)
            form.form_errors.append(_("Please correct the fields marked below."))
            status = 422
        else:
            result = submit_request(
                db.session,
                valid,
                source="form",
                idempotency_key=f"form:{form.submission_token.data}",
                speakers=active_speakers.rows,
            )
            if not result.created:
                flash(_("This request was already received; here is its status."), "info")
            else:
                flash(
                    _(
                        "Thank you! We received your request %(reference)s. "
                        "Bookmark this page: it shows your request's status.",
                        reference=result.booking.reference,
                    ),
                    "success",
                )
            return redirect(url_for("bookings.status", token=result.booking.tracking_token))
    return render_template("bookings/request_form.html", form=form), status


@bp.get("/requests/<token>")
def status(token: str) -> ResponseReturnValue:
    return status_page(organizer_booking(token))


def status_page(booking: BookingRequest, code: int = 200, **extra: Any) -> ResponseReturnValue:
    return (
        render_template(
            "bookings/status.html",
            booking=booking,
            view=organizer_status(db.session, booking),
            can_offer=organizer_can_offer(booking),
            offer_speakers=[(e.speaker.slug, e.speaker.name) for e in booking.shortlist],
            can_withdraw=actions.can(booking, Status.WITHDRAWN),
            form=OrganizerForm(formdata=None, version=str(booking.version)),
            offer_errors=extra.get("offer_errors", {}),
            offer_input=extra.get("offer_input", {}),
            feedback_form=extra.get("feedback_form") or FeedbackForm(formdata=None),
            rating_words=RATING_WORDS,
        ),
        code,
        {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


class OrganizerForm(FlaskForm):  # type: ignore[misc]
    """CSRF and the version the organizer saw; the fields come from the page."""

    version = HiddenField()

    @property
    def expected_version(self) -> int | None:
        return whole_number(self.version.data or "", MAX_INT)


def organizer_actor(booking: BookingRequest) -> Actor:
    return Actor(ActorKind.ORGANIZER, booking.contact_name)


def organizer_booking(token: str) -> BookingRequest:
    """The request a status link names, or 404."""
    booking = find_by_token(db.session, token)
    if booking is None:
        abort(404)
    return booking


def organizer_post(token: str) -> tuple[BookingRequest, OrganizerForm]:
    """The request and its organizer's form, for a POST from the status page (CSRF checked)."""
    booking = organizer_booking(token)
    form = OrganizerForm()
    if not form.validate_on_submit():
        abort(400)
    return booking, form


STEP_ERRORS = (actions.ActionError, actions.Conflict, TransitionNotAllowed, StaleDataError)


def commit_step(
    perform: Callable[[], object],
    *,
    done: str,
    refused: Callable[[Exception], str],
    errors: tuple[type[Exception], ...] = STEP_ERRORS,
    done_as: str = "success",
    refused_as: str = "danger",
) -> None:
    """Perform one step of an organizer or speaker and commit, flashing ``done``; on one of
    ``errors`` roll back, so nothing half-done is saved, and flash ``refused(error)``."""
    try:
        perform()
        db.session.commit()
    except errors as error:
        db.session.rollback()
        flash(refused(error), refused_as)
    else:
        flash(done, done_as)


def why(error: Exception, stale: str) -> str:
    """A refusal's reason; for another's change at the same moment, ``stale``."""
    return stale if isinstance(error, StaleDataError) else str(error)


def back_to_status(token: str) -> ResponseReturnValue:
    return redirect(url_for("bookings.status", token=token)), 303


@bp.get("/requests/<token>/invoices/<number>", defaults={"as_pdf": False})
@bp.get("/requests/<token>/invoices/<number>.pdf", defaults={"as_pdf": True})
def invoice(token: str, number: str, as_pdf: bool) -> ResponseReturnValue:
    """One of this request's invoices, as a page or a PDF, through its organizer's status
    link only."""
    booking = organizer_booking(token)
    found = db.session.scalars(
        select(Invoice).where(Invoice.number == number, Invoice.booking_id == booking.id)
    ).one_or_none()
    if found is None:
        abort(404)
    return invoice_document(found, as_pdf=as_pdf, today=utcnow().date())


@bp.post("/requests/<token>/offer")
def make_offer(token: str) -> ResponseReturnValue:
    booking, form = organizer_post(token)
    terms, errors = validate_offer(request.form)
    if terms is None:
        return status_page(booking, 422, offer_errors=errors, offer_input=request.form.to_dict())
    commit_step(
        lambda: actions.record_offer(
            db.session,
            booking,
            terms,
            actor=organizer_actor(booking),
            expected_version=form.expected_version,
        ),
        done=_("Thank you: your firm offer is recorded. We now ask the speaker."),
        refused=lambda error: _(
            "Your offer was not recorded: %(reason)s",
            reason=why(error, _("Please try again.")),
        ),
    )
    return back_to_status(token)


@bp.post("/requests/<token>/withdraw")
def withdraw(token: str) -> ResponseReturnValue:
    booking, form = organizer_post(token)
    reason = clean_line(request.form.get("reason", ""))[:1000] or "no reason given"  # stored
    commit_step(
        lambda: actions.close(
            db.session,
            booking,
            Status.WITHDRAWN,
            reason=reason,
            actor=organizer_actor(booking),
            expected_version=form.expected_version,
        ),
        done=_("Your request is withdrawn."),
        done_as="info",
        refused=lambda error: _("The request was not withdrawn: %(reason)s", reason=error),
    )
    return back_to_status(token)


def _feedback_refused(error: Exception) -> str:
    if isinstance(error, actions.ActionError):
        message = str(error)
    elif isinstance(error, IntegrityError):  # a double submission, a moment apart
        message = _("You already sent your feedback for this booking; thank you.")
    else:
        message = _("Please try again.")
    return str(_("Your feedback was not saved: %(reason)s", reason=message))


@bp.post("/requests/<token>/feedback")
def feedback(token: str) -> ResponseReturnValue:
    """The organizer's rating and comments, once the booking is completed; given once (a
    second is refused, and so is a racing double submission, by the table's unique key)."""
    booking = organizer_booking(token)
    form = FeedbackForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        form.form_errors.append(_("Your feedback was not sent: please correct the fields marked."))
        return status_page(booking, 422, feedback_form=form)
    comments = clean_text(form.comments.data or "") or None
    commit_step(
        lambda: actions.leave_feedback(db.session, booking, int(form.rating.data), comments),
        done=_("Thank you for your feedback!"),
        refused=_feedback_refused,
        refused_as="warning",
        errors=(actions.ActionError, IntegrityError, StaleDataError),
    )
    return back_to_status(token)


def _offer_for_link(token: str) -> tuple[Offer | None, BookingRequest | None, str | None]:
    try:
        offer_id, speaker_id = read_availability_token(token)
    except LinkProblem as problem:
        return None, None, str(problem)
    offer = db.session.get(Offer, offer_id)
    if offer is None or offer.speaker_id != speaker_id:
        return None, None, _("This link is not valid.")
    return offer, db.session.get(BookingRequest, offer.booking_id), None


@bp.route("/availability/<token>", methods=["GET", "POST"])
def availability(token: str) -> ResponseReturnValue:
    """The speaker's answer. Opening the page changes nothing (mail scanners open links);
    only the form's POST acts."""
    offer, booking, problem = _offer_for_link(token)
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    if problem is not None or offer is None or booking is None:
        return render_template("bookings/availability.html", problem=problem), 404, headers
    form = OrganizerForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        answer = request.form.get("answer")
        if answer not in ("accept", "decline"):
            abort(400)
        reason = clean_line(request.form.get("reason", ""))[:1000] or None
        commit_step(
            lambda: actions.speaker_answer(
                db.session, booking, offer, accept=answer == "accept", reason=reason
            ),
            done=_("Thank you, your answer is recorded."),
            refused=lambda error: why(error, _("Try again.")),
            refused_as="warning",
            errors=(actions.ActionError, TransitionNotAllowed, StaleDataError),
        )
        return redirect(url_for("bookings.availability", token=token)), 303
    hold = active_hold(db.session, booking.id, offer.id) if offer.response is None else None
    deadline = answer_deadline(hold, offer.timezone, offer.speaker.home_timezone) if hold else None
    return (
        render_template(
            "bookings/availability.html",
            offer=offer,
            booking=booking,
            form=form,
            problem=None,
            deadline=deadline,
        ),
        200,
        headers,
    )
