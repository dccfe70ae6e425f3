"""A staff member's own calendar feed: its address, and a new one when the old leaked."""

from __future__ import annotations

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from bureau.calendar.feeds import rotate_feed
from bureau.extensions import db
from bureau.staff import forms
from bureau.staff.blueprint import bp
from bureau.staff.models import StaffMember
from bureau.urls import public_url


@bp.get("/calendar")
def my_calendar() -> ResponseReturnValue:
    url = (
        public_url("calendar.staff_feed", staff_id=current_user.id, token=current_user.feed_token)
        if current_user.feed_token
        else None
    )
    return render_template("staff/calendar.html", feed_url=url, form=forms.ResendForm())


@bp.post("/calendar/rotate")
def rotate_my_feed() -> ResponseReturnValue:
    form = forms.ResendForm()
    if not form.validate_on_submit():
        abort(400)
    member = db.session.get(StaffMember, current_user.id)
    assert member is not None
    rotate_feed(member)
    db.session.commit()
    flash(_("Your calendar feed has a new address; the old one no longer works."), "success")
    return redirect(url_for("staff.my_calendar")), 303
