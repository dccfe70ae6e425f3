"""The staff Inbox: mail no request claimed, and mail that could not be read, for triage.

Any staff member attaches a message to a request they may act on, or discards it; admins
also download the raw message (never rendered: it may be anything). The files of a reply on
a request are downloaded by staff who may act on that request."""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import Response, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from bureau.bookings.models import BookingRequest
from bureau.extensions import db
from bureau.inbound.forms import AttachForm, DiscardForm, ReplyForm
from bureau.inbound.models import IN_INBOX, InboundMessage, MatchedBy
from bureau.inbound.notifications import ReplyTo, send_reply
from bureau.inbound.services import attach, attachment_file, discard
from bureau.inbound.storage import StoreUnavailable
from bureau.params import page_number
from bureau.staff.auth import admin_required
from bureau.staff.blueprint import bp, may_act, staff_actor

logger = logging.getLogger(__name__)


@bp.get("/inbox")
def inbox() -> ResponseReturnValue:
    stmt = (
        select(InboundMessage)
        .where(InboundMessage.status.in_(IN_INBOX))
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
    )
    page = db.paginate(stmt, page=page_number(), per_page=50, max_per_page=50, error_out=False)
    return render_template(
        "staff/inbox.html", page=page, attach=AttachForm(), discard=DiscardForm()
    )


def _in_inbox(inbound_id: int) -> InboundMessage:
    message = db.session.get(InboundMessage, inbound_id)
    if message is None:
        abort(404)
    return message


@bp.post("/inbox/<id:inbound_id>/attach")
def inbox_attach(inbound_id: int) -> ResponseReturnValue:
    form = AttachForm()
    valid = form.validate_on_submit()
    if form.csrf_token.errors:
        abort(400)
    message = _in_inbox(inbound_id)
    back = redirect(url_for("staff.inbox")), 303
    if not valid:
        flash(_("Give the request's reference, like BR-2027-00042."), "warning")
        return back
    reference = form.reference.data.strip().upper()
    booking = db.session.scalar(select(BookingRequest).where(BookingRequest.reference == reference))
    if booking is None:
        flash(_("No request %(reference)s.", reference=reference), "warning")
        return back
    if not may_act(booking):
        flash(
            _(
                "Only the agent assigned to %(reference)s, or an admin, can attach to it.",
                reference=reference,
            ),
            "warning",
        )
        return back
    if message.status not in IN_INBOX:
        flash(_("That message is no longer in the Inbox."), "warning")
        return back
    attach(db.session, message, booking, matched_by=MatchedBy.STAFF, attached_by=current_user.name)
    db.session.commit()
    flash(_("Attached to %(reference)s.", reference=reference), "success")
    return back


@bp.post("/inbox/<id:inbound_id>/discard")
def inbox_discard(inbound_id: int) -> ResponseReturnValue:
    if not DiscardForm().validate_on_submit():
        abort(400)
    message = _in_inbox(inbound_id)
    if discard(message):
        db.session.commit()
        flash(_("Discarded."), "success")
    else:
        flash(_("That message is no longer in the Inbox."), "warning")
    return redirect(url_for("staff.inbox")), 303


@bp.get("/inbox/<id:inbound_id>/raw")
@admin_required
def inbox_raw(inbound_id: int) -> ResponseReturnValue:
    message = _in_inbox(inbound_id)
    return Response(
        message.raw,
        mimetype="application/octet-stream",  # downloaded, never shown by the browser
        headers={
            "Content-Disposition": f'attachment; filename="inbound-{message.id}.eml"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@bp.get("/requests/<id:booking_id>/emails/<id:message_id>/files/<id:number>")
def email_file(booking_id: int, message_id: int, number: int) -> ResponseReturnValue:
    """A file a reply carried, for staff who may act on its request; always downloaded
    (never shown by the browser: its sender chose what it is)."""
    booking = db.session.get(BookingRequest, booking_id)
    if booking is None:
        abort(404)
    if not may_act(booking):
        abort(403)
    message = db.session.get(InboundMessage, message_id)
    try:
        found = (
            attachment_file(message, number)
            if message and message.booking_id == booking.id
            else None
        )
    except StoreUnavailable as error:
        logger.warning("a reply's file cannot be read: %s", error)
        return Response(
            "The file store cannot be reached just now; try again in a few minutes.",
            status=503,
            mimetype="text/plain",
            headers={"Retry-After": "60", "Cache-Control": "no-store"},
        )
    if found is None:
        abort(404)
    data, facts = found
    return Response(
        data,  # small: bounded by the limits
        mimetype="application/octet-stream",
        headers={
            "Content-Disposition": content_disposition(facts["filename"]),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the real one in RFC 5987 form."""
    fallback = filename.encode("ascii", "replace").decode().replace('"', "_").replace("\\", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@bp.post("/requests/<id:booking_id>/reply")
def request_reply(booking_id: int) -> ResponseReturnValue:
    """Send the organizer (or the speaker) a reply by email, threaded onto their last email."""
    booking = db.session.get(BookingRequest, booking_id)
    if booking is None:
        abort(404)
    if not may_act(booking):
        abort(403)
    form = ReplyForm()
    back = redirect(url_for("staff.request_page", booking_id=booking.id) + "#reply"), 303
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        flash(_("Write the reply, and choose whom it is for."), "warning")
        return back
    job = send_reply(
        db.session, booking, to=ReplyTo(form.to.data), text=form.text.data, actor=staff_actor()
    )
    if job is None:
        db.session.rollback()
        flash(_("The bureau has no email address for the speaker."), "warning")
        return back
    db.session.commit()
    flash(_("Reply sent."), "success")
    return back
