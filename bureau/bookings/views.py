"""Public booking pages: the request form and the organizer's private status page."""

from __future__ import annotations

import re
import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from bureau.bookings.forms import RequestForm
from bureau.bookings.services import active_speaker_slugs, find_by_token, submit_request
from bureau.bookings.states import organizer_label, organizer_next_step
from bureau.bookings.validation import validate_request
from bureau.catalogue.queries import active_speaker_choices
from bureau.extensions import db

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
        if wanted in {slug for slug, _ in speakers}:
            form.speaker_1.data = wanted
        return render_template("bookings/request_form.html", form=form)

    status = 200
    if not form.validate_on_submit():
        # Only CSRF can fail here: the fields carry no validators of their own.
        status = 400
    elif form.website.data:
        form.form_errors.append(
            "Your request could not be accepted. If you are a person, please email us instead."
        )
        status = 400
    elif not _TOKEN.match(form.submission_token.data or ""):
        form.form_errors.append("The form was damaged; please fill it in again.")
        status = 400
    else:
        valid, errors = validate_request(
            form.raw_request(), active_speakers=lambda s: active_speaker_slugs(db.session, s)
        )
        if valid is None:
            form.show_errors(errors)
            form.form_errors.append("Please correct the fields marked below.")
            status = 422
        else:
            result = submit_request(
                db.session,
                valid,
                source="form",
                idempotency_key=f"form:{form.submission_token.data}",
            )
            if not result.created:
                flash("This request was already received; here is its status.", "info")
            else:
                flash(
                    f"Thank you! We received your request {result.booking.reference}. "
                    "Bookmark this page: it shows your request's status.",
                    "success",
                )
            return redirect(url_for("bookings.status", token=result.booking.tracking_token))
    return render_template("bookings/request_form.html", form=form), status


@bp.get("/requests/<token>")
def status(token: str) -> ResponseReturnValue:
    booking = find_by_token(db.session, token)
    if booking is None:
        abort(404)
    timeline = [event for event in booking.events if event.is_public]
    return (
        render_template(
            "bookings/status.html",
            booking=booking,
            label=organizer_label(booking.status),
            next_step=organizer_next_step(booking.status),
            timeline=timeline,
        ),
        200,
        {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
