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
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext
from flask_babel.speaklater import LazyString
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
from bureau.insights.scope import PRESET_WEEKS, preset_period
from bureau.insights.snapshot import REFRESH_MINUTES, figures_for
from bureau.params import BadParam, parse_day, row_id
from bureau.staff.auth import admin_required, guard_staff_pages
from bureau.staff.models import StaffMember
from bureau.templating import date_words, day_and_month, staff_time

bp = Blueprint("insights", __name__, url_prefix="/staff")

# key -> (label, weeks back including this one; 0 means since 1 January)
PRESETS: dict[str, tuple[LazyString, int]] = {
    key: (label, PRESET_WEEKS[key])
    for key, label in (
        ("4w", _l("Last 4 weeks")),
        ("12w", _l("Last 12 weeks")),
        ("26w", _l("Last 26 weeks")),
        ("52w", _l("Last 52 weeks")),
        ("ytd", _l("This year")),
    )
}
# The words for what bureau/insights/ names in English (funnel stages, ageing buckets): the
# figures keep their English names as keys; the page shows these.
STAGE_WORDS = {
    "New": _l("New"),
    "Shortlisted": _l("Shortlisted"),
    "Offer": _l("Offer"),
    "Confirmed": _l("Confirmed"),
    "Completed": _l("Completed"),
}
AGEING_WORDS = {
    "Current": _l("Current"),
    "1 to 30 days": _l("1 to 30 days"),
    "31 to 60 days": _l("31 to 60 days"),
    "61 to 90 days": _l("61 to 90 days"),
    "Over 90 days": _l("Over 90 days"),
}
DEFAULT_PRESET = "12w"
LONGEST = timedelta(days=3 * 366)
FIRST_YEAR, LAST_YEAR = 2000, 2100


guard_staff_pages(bp)


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
        errors.append(_("%(field)s: %(problem)s", field=name, problem=error))
        return None


def parse_filters(args: Any, today: date) -> Filters:
    """The period (preset, or from/to dates) and the staff member from the query string;
    anything wrong goes to ``errors`` with a message saying what to change."""
    errors: list[str] = []
    raw = {k: str(args.get(k, "")).strip() for k in ("preset", "from", "to", "staff")}
    preset = raw["preset"]
    if preset and preset not in PRESETS:
        errors.append(
            _("Period: “%(value)s” is not one of the offered periods.", value=preset[:40])
        )
        preset = ""
    if not preset and not raw["from"] and not raw["to"]:
        preset = DEFAULT_PRESET
    start: date | None
    end: date | None
    if preset:
        start, end = preset_period(preset, today)
    else:
        default_start, _end = preset_period(DEFAULT_PRESET, today)
        start = (
            _date(raw["from"], pgettext("period", "From"), errors) if raw["from"] else default_start
        )
        end = _date(raw["to"], pgettext("period", "To"), errors) if raw["to"] else today
        if start is not None and end is not None:
            if start > end:
                errors.append(_("The period must start on or before the day it ends."))
            elif end - start > LONGEST:
                errors.append(_("Choose a period of at most three years."))
    staff_id = row_id(raw["staff"])
    if raw["staff"] and staff_id is None:
        errors.append(_("Staff: “%(value)s” is not a staff member.", value=raw["staff"][:40]))
    return Filters(start or today, end or today, staff_id, preset, errors, raw)


def duration(value: timedelta | None) -> str:
    """A duration in days, hours and minutes, to the minute ('—' for none)."""
    if value is None:
        return "—"
    minutes = round(value.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return str(_("%(days)s d %(hours)s h", days=days, hours=hours))
    if hours:
        return str(_("%(hours)s h %(minutes)s min", hours=hours, minutes=minutes))
    return str(_("%(minutes)s min", minutes=minutes))


def amount(value: Decimal, currency: str) -> str:
    """An amount in the currency's own decimals, grouped: '1,327.15' (USD), '550,006' (JPY)."""
    return f"{value:,.{decimals(currency)}f}"


def build_charts(figures: Insights) -> dict[str, Any]:
    weeks = list(figures.weekly)
    statuses = sorted({s for counts in figures.weekly.values() for s in counts})
    weekly = charts.stacked_bars(
        "chart-weekly",
        _("Requests per week by status"),
        _("Requests submitted each week (Monday to Sunday, UTC), split by their status now."),
        [date_words(monday) for monday in weeks],
        [
            charts.Series(
                staff_label(s), [figures.weekly[m].get(s, 0) for m in weeks], charts.status_color(s)
            )
            for s in statuses
        ],
        # On the axis "7 Sep", as many as fit; the bars' titles and the table keep the year.
        ticks=[day_and_month(monday) for monday in weeks],
    )
    funnel = charts.funnel(
        "chart-funnel",
        _("Funnel"),
        _("How many of the period's requests reached each stage of the bureau's process."),
        [(str(STAGE_WORDS.get(name, name)), count) for name, count in figures.flow.funnel],
    )
    speakers = charts.horizontal_bars(
        "chart-speakers",
        _("Busiest speakers"),
        _("Speakers named in the most of the period's requests."),
        [(s.name, s.requested) for s in figures.speakers],
    )
    speakers.head = [_("Speaker"), _("Requests naming them"), _("Booked")]
    speakers.rows = [[s.name, str(s.requested), str(s.booked)] for s in figures.speakers]
    topics = charts.horizontal_bars(
        "chart-topics",
        _("Busiest topics"),
        _("Topics of the speakers named in the most of the period's requests."),
        figures.topics,
    )
    revenue = []
    for currency, months in figures.revenue.items():
        keys = list(months)
        chart = charts.stacked_bars(
            f"chart-revenue-{currency.lower()}",
            _("Revenue and commission by month (%(currency)s)", currency=currency),
            _(
                "Contract fees in %(currency)s by the month the contract was recorded; "
                "the bureau's commission is the lower part of each bar.",
                currency=currency,
            ),
            keys,
            [
                charts.Series(_("Commission"), [float(months[k].commission) for k in keys]),
                charts.Series(
                    _("Speaker's share"),
                    [float(Decimal(months[k].revenue) - months[k].commission) for k in keys],
                ),
            ],
        )
        chart.head = [
            _("Month"),
            _("Contracts"),
            _("Revenue (%(currency)s)", currency=currency),
            _("Commission (%(currency)s)", currency=currency),
        ]
        chart.rows = [
            [k, str(m.contracts), f"{m.revenue:,}", f"{m.commission:,.2f}"]
            for k, m in months.items()
        ]
        revenue.append(chart)
    ratings = charts.horizontal_bars(
        "chart-ratings",
        _("Organizers' ratings"),
        _(
            "How many organizers gave each rating, from 5 (excellent) down to 1 (poor), "
            "for feedback given in the period."
        ),
        [
            (_("%(rating)s out of 5", rating=n), figures.ratings.counts[n])
            for n in reversed(RATINGS)
        ],
        value_name=_("Ratings"),
    )
    ratings.head = [_("Rating"), _("Ratings")]
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
        filters.errors.append(
            _("Staff: there is no staff member number %(number)s.", number=filters.staff_id)
        )
    context: dict[str, Any] = {
        "filters": filters,
        "presets": PRESETS,
        "staff": staff,
        "is_admin": is_admin,
        "duration": duration,
        "amount": amount,
        "ageing_words": AGEING_WORDS,
        "as_of": None,
    }
    if filters.errors:
        return render_template("insights/page.html", **context), 400
    scope = Scope(filters.start, filters.end, filters.staff_id)
    if filters.preset:  # an offered period: its kept snapshot while fresh (snapshot.py)
        figures, computed_at = figures_for(db.session, scope, filters.preset)
        context["as_of"] = _(
            "Figures as of %(time)s, refreshed every %(minutes)s minutes.",
            time=staff_time(computed_at),
            minutes=REFRESH_MINUTES,
        )
    else:  # a period of one's own choosing is computed for this view alone
        figures = insights(db.session, scope)
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
