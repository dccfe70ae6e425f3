"""GET /staff/insights: the bureau's figures for a period and a staff member, as charts.

Admins see every request and may narrow the figures to any staff member; agents see the
figures of the requests assigned to them, and only those (performance and revenue per person
are for the bureau's managers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from bureau.billing.money import decimals
from bureau.bookings.models import RATINGS
from bureau.bookings.states import staff_label
from bureau.db import utcnow
from bureau.extensions import db
from bureau.insights import charts
from bureau.insights.ledger import ledger_csv
from bureau.insights.queries import Insights, Scope, insights
from bureau.params import BadParam, parse_day, row_id
from bureau.staff.auth import admin_required, guard_staff_pages
from bureau.staff.models import StaffMember

bp = Blueprint("insights", __name__, url_prefix="/staff")

# key -> (label, weeks back including this one; 0 means since 1 January)
PRESETS: dict[str, tuple[str, int]] = {
    "4w": ("Last 4 weeks", 4),
    "12w": ("Last 12 weeks", 12),
    "26w": ("Last 26 weeks", 26),
    "52w": ("Last 52 weeks", 52),
    "ytd": ("This year", 0),
}
DEFAULT_PRESET = "12w"
LONGEST = timedelta(days=3 * 366)
FIRST_YEAR, LAST_YEAR = 2000, 2100


guard_staff_pages(bp)


def preset_period(key: str, today: date) -> tuple[date, date]:
    weeks = PRESETS[key][1]
    if weeks == 0:
        return date(today.year, 1, 1), today
    this_monday = today - timedelta(days=today.weekday())
    return this_monday - timedelta(weeks=weeks - 1), today


@dataclass
class Filters:
    start: date
    end: date
    staff_id: int | None = None
    preset: str = ""
    errors: list[str] = field(default_factory=list)
    raw: dict[str, str] = field(default_factory=dict)


def _date(raw: str, name: str, errors: list[str]) -> date | None:
    try:
        return parse_day(raw, FIRST_YEAR, LAST_YEAR)
    except BadParam as error:
        errors.append(f"{name}: {error}")
        return None


def parse_filters(args: Any, today: date) -> Filters:
    """The period (preset, or from/to dates) and the staff member from the query string;
    anything wrong goes to ``errors`` with a message saying what to change."""
    errors: list[str] = []
    raw = {k: str(args.get(k, "")).strip() for k in ("preset", "from", "to", "staff")}
    preset = raw["preset"]
    if preset and preset not in PRESETS:
        errors.append(f"Period: “{preset[:40]}” is not one of the offered periods.")
        preset = ""
    if not preset and not raw["from"] and not raw["to"]:
        preset = DEFAULT_PRESET
    start: date | None
    end: date | None
    if preset:
        start, end = preset_period(preset, today)
    else:
        default_start, _ = preset_period(DEFAULT_PRESET, today)
        start = _date(raw["from"], "From", errors) if raw["from"] else default_start
        end = _date(raw["to"], "To", errors) if raw["to"] else today
        if start is not None and end is not None:
            if start > end:
                errors.append("The period must start on or before the day it ends.")
            elif end - start > LONGEST:
                errors.append("Choose a period of at most three years.")
    staff_id = row_id(raw["staff"])
    if raw["staff"] and staff_id is None:
        errors.append(f"Staff: “{raw['staff'][:40]}” is not a staff member.")
    return Filters(start or today, end or today, staff_id, preset, errors, raw)


def duration(value: timedelta | None) -> str:
    """A duration in days, hours and minutes, to the minute ('—' for none)."""
    if value is None:
        return "—"
    minutes = round(value.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def amount(value: Decimal, currency: str) -> str:
    """An amount in the currency's own decimals, grouped: '1,327.15' (USD), '550,006' (JPY)."""
    return f"{value:,.{decimals(currency)}f}"


def build_charts(figures: Insights) -> dict[str, Any]:
    weeks = list(figures.weekly)
    statuses = sorted({s for counts in figures.weekly.values() for s in counts})
    weekly = charts.stacked_bars(
        "chart-weekly",
        "Requests per week by status",
        "Requests submitted each week (Monday to Sunday, UTC), split by their status now.",
        [f"{monday:%-d %b %Y}" for monday in weeks],
        [
            charts.Series(
                staff_label(s), [figures.weekly[m].get(s, 0) for m in weeks], charts.status_color(s)
            )
            for s in statuses
        ],
        # On the axis "7 Sep", as many as fit; the bars' titles and the table keep the year.
        ticks=[f"{monday:%-d %b}" for monday in weeks],
    )
    funnel = charts.funnel(
        "chart-funnel",
        "Funnel",
        "How many of the period's requests reached each stage of the bureau's process.",
        figures.flow.funnel,
    )
    speakers = charts.horizontal_bars(
        "chart-speakers",
        "Busiest speakers",
        "Speakers named in the most of the period's requests.",
        [(s.name, s.requested) for s in figures.speakers],
    )
    speakers.head = ["Speaker", "Requests naming them", "Booked"]
    speakers.rows = [[s.name, str(s.requested), str(s.booked)] for s in figures.speakers]
    topics = charts.horizontal_bars(
        "chart-topics",
        "Busiest topics",
        "Topics of the speakers named in the most of the period's requests.",
        figures.topics,
    )
    revenue = []
    for currency, months in figures.revenue.items():
        keys = list(months)
        chart = charts.stacked_bars(
            f"chart-revenue-{currency.lower()}",
            f"Revenue and commission by month ({currency})",
            f"Contract fees in {currency} by the month the contract was recorded; "
            "the bureau's commission is the lower part of each bar.",
            keys,
            [
                charts.Series("Commission", [float(months[k].commission) for k in keys]),
                charts.Series(
                    "Speaker's share",
                    [float(Decimal(months[k].revenue) - months[k].commission) for k in keys],
                ),
            ],
        )
        chart.head = ["Month", "Contracts", f"Revenue ({currency})", f"Commission ({currency})"]
        chart.rows = [
            [k, str(m.contracts), f"{m.revenue:,}", f"{m.commission:,.2f}"]
            for k, m in months.items()
        ]
        revenue.append(chart)
    ratings = charts.horizontal_bars(
        "chart-ratings",
        "Organizers' ratings",
        "How many organizers gave each rating, from 5 (excellent) down to 1 (poor), "
        "for feedback given in the period.",
        [(f"{n} out of 5", figures.ratings.counts[n]) for n in reversed(RATINGS)],
        value_name="Ratings",
    )
    ratings.head = ["Rating", "Ratings"]
    return {
        "ratings": ratings,
        "weekly": weekly,
        "funnel": funnel,
        "speakers": speakers,
        "topics": topics,
        "revenue": revenue,
    }


@bp.get("/insights")
def page() -> ResponseReturnValue:
    today = utcnow().date()
    filters = parse_filters(request.args, today)
    is_admin = bool(current_user.is_admin)
    staff = db.session.scalars(select(StaffMember).order_by(StaffMember.name)).all()
    if not is_admin:
        if filters.staff_id not in (None, current_user.id):
            abort(403)
        filters.staff_id = current_user.id
    elif filters.staff_id is not None and filters.staff_id not in {s.id for s in staff}:
        filters.errors.append(f"Staff: there is no staff member number {filters.staff_id}.")
    context: dict[str, Any] = {
        "filters": filters,
        "presets": PRESETS,
        "staff": staff,
        "is_admin": is_admin,
        "duration": duration,
        "amount": amount,
    }
    if filters.errors:
        return render_template("insights/page.html", **context), 400
    figures = insights(db.session, Scope(filters.start, filters.end, filters.staff_id))
    return render_template(
        "insights/page.html", figures=figures, charts=build_charts(figures), **context
    )


@bp.get("/insights/invoices.csv")
@admin_required
def invoices_csv() -> ResponseReturnValue:
    """The bookkeeper's CSV of the period's invoices and payments (bureau/insights/ledger.py):
    admins only, with the page's period and staff filter."""
    filters = parse_filters(request.args, utcnow().date())
    if filters.errors:  # never another period than the one asked for
        return Response("\n".join(filters.errors) + "\n", 422, mimetype="text/plain")
    body = ledger_csv(db.session, Scope(filters.start, filters.end, filters.staff_id))
    name = f"invoices-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}.csv"
    return Response(
        body, mimetype="text/csv", headers={"Content-Disposition": f"attachment; filename={name}"}
    )
