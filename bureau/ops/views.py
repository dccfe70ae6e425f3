"""The admins' operations page: workers and beat, the broker's queue, the outbox; retries."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext

from bureau.calendar.sources import failing as failing_calendars
from bureau.db import utcnow
from bureau.describe import job_kind_label, job_state_label
from bureau.extensions import db
from bureau.ops import queries
from bureau.ops.heartbeat import WORKER_STALE_AFTER, beat_stale_after
from bureau.outbox import Job, retry_failed
from bureau.staff.auth import guard_staff_pages
from bureau.staff.forms import ResendForm

bp = Blueprint("ops", __name__, url_prefix="/staff/ops")


guard_staff_pages(bp, admins_only=True)


@bp.get("")
def overview() -> ResponseReturnValue:
    settings = current_app.config["BUREAU_SETTINGS"]
    now = utcnow()
    beats = queries.heartbeats(db.session)
    box = queries.outbox(db.session, now)
    jobs = box.failed + [job for job, _ in box.recent_errors]
    queue = current_app.extensions["celery"].conf.task_default_queue
    return render_template(
        "ops/overview.html",
        now=now,
        beats=beats,
        fresh={b.name: queries.is_fresh(b, settings, now) for b in beats},
        workers_seen=sum(
            1 for b in beats if b.kind == "worker" and queries.is_fresh(b, settings, now)
        ),
        worker_stale_after=WORKER_STALE_AFTER,
        beat_stale_after=beat_stale_after(settings),
        depth=queries.queue_depth(settings.broker_url, queue),
        box=box,
        outbox_stale_after=queries.outbox_stale_after(settings),
        references=queries.references(db.session, jobs),
        failing_calendars=failing_calendars(db.session),
        form=ResendForm(),
    )


@bp.post("/jobs/<id:job_id>/retry")
def retry(job_id: int) -> ResponseReturnValue:
    if not ResendForm().validate_on_submit():
        abort(400)
    job = db.session.get(Job, job_id)
    if job is None:
        abort(404)
    if retry_failed(db.session, [job_id]):
        db.session.commit()  # sends it to the broker
        flash(
            _(
                "Job %(id)s (%(kind)s) is pending again.",
                id=job_id,
                kind=job_kind_label(job.kind),
            ),
            "success",
        )
    else:
        db.session.rollback()
        flash(
            _(
                "Job %(id)s is %(state)s, not failed: nothing to retry.",
                id=job_id,
                state=job_state_label(job.state),
            ),
            "warning",
        )
    return redirect(url_for("ops.overview")), 303


@bp.post("/retry-failed")
def retry_all() -> ResponseReturnValue:
    if not ResendForm().validate_on_submit():
        abort(400)
    ids = retry_failed(db.session)
    db.session.commit()
    flash(
        ngettext(
            "%(num)d failed job pending again.", "%(num)d failed jobs pending again.", len(ids)
        ),
        "success" if ids else "info",
    )
    return redirect(url_for("ops.overview")), 303
