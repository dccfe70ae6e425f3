"""The mail log: every email the bureau composed, one message, and resending a failed one."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bureau.bookings.models import BookingRequest
from bureau.extensions import db
from bureau.mail.models import Notification
from bureau.mail.redaction import redacted
from bureau.mail.resend import booking_of
from bureau.mail.resend import resend as resend_failed
from bureau.outbox import Job, JobState
from bureau.params import page_number
from bureau.staff import forms
from bureau.staff.blueprint import bp, may_act, staff_actor


@bp.get("/mail")
def mail_log() -> ResponseReturnValue:
    state = request.args.get("state", "")
    stmt = (
        select(Notification)
        .join(Job, Job.id == Notification.job_id)
        .options(selectinload(Notification.job))
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )
    if state in {s.value for s in JobState}:
        stmt = stmt.where(Job.state == state)
    if not current_user.is_admin:  # an agent sees the emails of the requests they act on
        mine = select(BookingRequest.id).where(BookingRequest.assigned_staff_id == current_user.id)
        stmt = stmt.where(Notification.booking_id.in_(mine))
    page = db.paginate(stmt, page=page_number(), per_page=50, max_per_page=50, error_out=False)
    return render_template("staff/mail.html", page=page, state=state, resend=forms.ResendForm())


@bp.get("/mail/<id:notification_id>")
def mail_message(notification_id: int) -> ResponseReturnValue:
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        abort(404)
    # Shown as plain text: the stored message is never rendered as HTML here.
    if current_user.is_admin:
        return Response(notification.raw_message, mimetype="text/plain")
    booking = booking_of(db.session, notification)
    if booking is None or not may_act(booking):
        abort(403)
    # Its reader's private links would let an agent act as that reader: hidden.
    shown = redacted(notification.raw_message, [booking.tracking_token])
    return Response(shown, mimetype="text/plain")


@bp.post("/mail/<id:notification_id>/resend")
def resend(notification_id: int) -> ResponseReturnValue:
    form = forms.ResendForm()
    if not form.validate_on_submit():
        abort(400)
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        abort(404)
    booking = booking_of(db.session, notification)
    if booking is not None and not may_act(booking):
        abort(403)
    if not resend_failed(db.session, notification, actor=staff_actor()):
        flash(_("Only a failed email can be resent."), "warning")
        return redirect(url_for("staff.mail_log")), 303
    db.session.commit()  # sends the job to the broker
    flash(_("Sending again to %(email)s.", email=notification.recipient), "success")
    return redirect(url_for("staff.mail_log")), 303
