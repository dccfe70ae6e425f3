"""The request list as a CSV file, with the terms once there are some."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.orm import selectinload

from bureau.bookings.models import BookingRequest
from bureau.db import utcnow
from bureau.extensions import db
from bureau.staff.blueprint import bp
from bureau.staff.queries import (
    Filters,
    Scope,
    default_queue,
    request_list,
)

# The columns are field names, not words: the file is read by scripts and spreadsheets that
# find columns by name, so they stay the same (English) whatever language the page speaks, as
# do the codes in the cells (status, currency).
CSV_COLUMNS = (
    "reference",
    "status",
    "received",
    "event",
    "organization",
    "contact",
    "email",
    "country",
    "starts",
    "timezone",
    "speakers",
    "assigned_to",
    # The terms, once there are some: the standing offer's, the contract's from the contract.
    "booked_speaker",
    "fee",
    "currency",
    "commission_pct",
    "commission",
    "deposit",
    "deposit_due",
    "event_date",
    "event_timezone",
)


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A leading = + - @ would make a spreadsheet run the cell as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _terms_cells(b: BookingRequest) -> tuple[Any, ...]:
    """The booked speaker, fee, commission, deposit and the agreed date: from the latest
    offer unless the speaker declined it, the money from the contract once there is one;
    empty where not known yet."""
    offer = b.offer if b.offer is not None and b.offer.response != "declined" else None
    contract = b.contract
    money = contract if contract is not None else offer
    if money is None:
        return ("",) * 9
    return (
        offer.speaker.name if offer else "",
        money.fee,
        money.currency,
        contract.commission_pct if contract else "",
        contract.commission if contract else "",
        contract.deposit_amount if contract else "",
        contract.deposit_due.isoformat() if contract else "",
        offer.starts_local.strftime("%Y-%m-%d %H:%M") if offer else "",
        offer.timezone if offer else "",
    )


@bp.get("/requests.csv")
def export_csv() -> ResponseReturnValue:
    filters = Filters.from_args(request.args, default_queue(current_user.is_admin))
    if filters.errors:  # never the whole list instead of the one asked for
        return Response("\n".join(filters.errors) + "\n", 422, mimetype="text/plain")
    # The terms load with the list: one query per collection, not one per row.
    listed = request_list(filters, Scope.of(db.session, current_user.id)).options(
        selectinload(BookingRequest.offers), selectinload(BookingRequest.contract)
    )
    rows = db.session.scalars(listed).unique()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for b in rows:
        writer.writerow(
            _csv_cell(v)
            for v in (
                b.reference,
                b.status,
                b.created_at.strftime("%Y-%m-%d %H:%M"),
                b.event_name,
                b.organization,
                b.contact_name,
                b.contact_email,
                b.country,
                b.starts_local.strftime("%Y-%m-%d %H:%M"),
                b.timezone,
                "; ".join(s.name for s in b.speakers),
                b.assigned_staff.name if b.assigned_staff else "",
                *_terms_cells(b),
            )
        )
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=requests-{utcnow():%Y%m%d}.csv"},
    )
