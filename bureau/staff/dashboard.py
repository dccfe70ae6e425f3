"""The dashboard: the request queues, filtered, sorted and paged."""

from __future__ import annotations

from flask import render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from bureau.bookings.states import Status
from bureau.catalogue.queries import active_speaker_choices
from bureau.extensions import db
from bureau.params import page_number
from bureau.staff.blueprint import bp
from bureau.staff.models import StaffMember
from bureau.staff.queries import (
    CLOSED_COUNT_CAP,
    QUEUE_HINTS,
    QUEUES,
    SORT_LABELS,
    SORTS,
    Filters,
    Scope,
    default_queue,
    queue_counts,
    request_list,
)

PER_PAGE = 25


@bp.get("/")
def dashboard() -> ResponseReturnValue:
    filters = Filters.from_args(request.args, default_queue(current_user.is_admin))
    scope = Scope.of(db.session, current_user.id)
    counts = queue_counts(db.session, scope)
    page = db.paginate(
        request_list(filters, scope),
        page=page_number(),
        per_page=PER_PAGE,
        max_per_page=PER_PAGE,
        error_out=False,
        count=filters.narrowed,
    )
    if not filters.narrowed:  # the whole queue: its count is already known
        page.total = counts[filters.queue]
    html = render_template(
        "staff/dashboard.html",
        page=page,
        filters=filters,
        counts=counts,
        count_cap=CLOSED_COUNT_CAP,
        capped_label=f"{CLOSED_COUNT_CAP:,}+",
        total_capped=not filters.narrowed and (page.total or 0) > CLOSED_COUNT_CAP,
        queues=QUEUES,
        queue_hint=QUEUE_HINTS[filters.queue],
        sorts=SORTS,
        sort_labels=SORT_LABELS,
        statuses=list(Status),
        staff=db.session.scalars(select(StaffMember).order_by(StaffMember.name)).all(),
        speakers=active_speaker_choices(db.session),
    )
    return html, 422 if filters.errors else 200
