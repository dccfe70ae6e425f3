"""The speaker's own page for blackout periods, reached through a signed link."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from bureau.calendar.busy import (
    BlackoutProblem,
    add_blackout,
    blackout_label,
    remove_blackout,
    upcoming_blackouts,
)
from bureau.calendar.forms import BlackoutForm, RemoveForm
from bureau.calendar.links import read_blackout_token
from bureau.catalogue.models import Speaker
from bureau.extensions import db
from bureau.signed_links import LinkProblem

bp = Blueprint("own_calendar", __name__)
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def save_blackout(form: BlackoutForm, speaker: Speaker, entered_by: str) -> bool:
    """Add the form's period (True), or put the reason on the form and change nothing."""
    if not form.validate_on_submit():
        return False
    try:
        add_blackout(
            db.session,
            speaker,
            first=form.first_day.data,
            last=form.last_day.data,
            start=form.start_time.data,
            end=form.end_time.data,
            note=form.note.data,
            entered_by=entered_by,
        )
    except BlackoutProblem as problem:
        db.session.rollback()
        form.form_errors.append(str(problem))
        return False
    db.session.commit()
    return True


def remove_requested(speaker: Speaker) -> bool:
    """The ``remove`` field's blackout of this speaker, removed; False for anything else."""
    raw = request.form.get("remove", "")
    if not raw.isdigit() or len(raw) > 18:
        return False
    removed = remove_blackout(db.session, speaker.id, int(raw))
    db.session.commit()
    return removed


@bp.route("/speaker/blackouts/<token>", methods=["GET", "POST"])
def blackouts(token: str) -> ResponseReturnValue:
    try:
        speaker = db.session.get(Speaker, read_blackout_token(token))
        if speaker is None or not speaker.is_active:
            raise LinkProblem(_("This link is not valid."))
    except LinkProblem as problem:
        return render_template("calendar/blackouts.html", problem=str(problem)), 404, PRIVATE
    form = BlackoutForm()
    status = 200
    if request.method == "POST":
        if "remove" in request.form:
            if not RemoveForm().validate_on_submit():
                abort(400)
            removed = remove_requested(speaker)
            flash(_("Removed.") if removed else _("Nothing to remove."), "info")
            return redirect(url_for("own_calendar.blackouts", token=token)), 303
        if save_blackout(form, speaker, "speaker"):
            flash(_("Saved: the bureau will not offer this time."), "success")
            return redirect(url_for("own_calendar.blackouts", token=token)), 303
        status = 422
    return (
        render_template(
            "calendar/blackouts.html",
            speaker=speaker,
            form=form,
            blackouts=[
                (b, blackout_label(b, speaker.home_timezone))
                for b in upcoming_blackouts(db.session, speaker.id)
            ],
            action=url_for("own_calendar.blackouts", token=token),
        ),
        status,
        PRIVATE,
    )
