"""The insights page: every figure against a hand-made fixture whose answers are worked out
by hand below, the filters, the SVG, bad input, and who sees what.

The fixture (March 2025; weeks start on Mondays 3, 10, 17 and 24 March; A and B are agents):

ref  submitted (UTC)   staff  status now   speakers        first staff act  confirmed   SLA
R0   Thu 20 Feb 10:00  A      completed    alvin           —                —           —
R1   Mon  3 Mar 09:00  A      completed    winston         +2 h             +10 d       —
R2   Wed  5 Mar 10:00  A      confirmed    kaiser, winston +5 h             +20 d       —
R3   Tue 11 Mar 08:00  B      cancelled    kaiser          +36 h            +12 d       yes
R4   Mon 17 Mar 12:00  B      contracted   ashley          +30 h            —           —
R5   Tue 18 Mar 09:00  A      assigned     rupert          —                —           yes
R6   Sun 30 Mar 23:30  —      unassigned   fons            —                —           —
R7   Sat  1 Mar 10:00  A      declined     winston         —                —           yes
R8   Mon 31 Mar 00:00  A      new          winston         —                —           —
R9   Wed  2 Apr 09:00  B      confirmed    fons            +1 h             +8 d        —

R2's organizer made an offer straight after assignment (no shortlist). R3 was confirmed and
then cancelled (its engagement too). Contracts (recorded on):
R0 USD 3,000 at 15 % on 3 Mar; R1 USD 10,000 at 20 % on 10 Mar; R2 USD 5,000 at 12.5 % on
20 Mar; R3 EUR 8,000 at 15 % on 20 Mar (cancelled: earns nothing); R4 EUR 7,000 at 10.25 % on
28 Mar; R9 USD 4,000 at 10 % on 15 Apr.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bureau.bookings.models import BookingRequest, Contract, RequestedSpeaker
from bureau.bookings.workflow import Actor, note
from bureau.calendar.models import Engagement
from bureau.catalogue.models import Speaker
from bureau.db import utcnow
from bureau.extensions import db
from bureau.insights import charts
from bureau.insights.queries import Money, Scope, insights
from bureau.insights.snapshot import REFRESH, refresh
from bureau.staff.models import Role
from tests.workflow_helpers import sign_in, staff_member, submit_and_route

ADMIN = "management@bureau.localhost"
AGENT_A = "china.desk@bureau.localhost"
AGENT_B = "europe.desk@bureau.localhost"
MARCH = Scope(date(2025, 3, 3), date(2025, 3, 30))
SVG = re.compile(r"<svg xmlns=\"http://www.w3.org/2000/svg\" data-chart=.*?</svg>", re.S)
NS = "{http://www.w3.org/2000/svg}"


def at(day: int, hour: int = 0, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


# Each request: (created, staff key, status, speakers, [(offset, actor, action, to_status)],
# contract (currency, fee, pct, recorded) or None, engagement (speaker, cancelled) or None)
H, D = timedelta(hours=1), timedelta(days=1)
SECOND = timedelta(seconds=1)
ROUTED = (SECOND, "system", "routed", "assigned")
FIXTURE: dict[str, tuple[Any, ...]] = {
    "R0": (
        at(20, 10, month=2),
        "A",
        "completed",
        ["alvin-wang-graylin"],
        [ROUTED, (5 * D, "system", "state corrected", "completed")],
        ("USD", 3000, "15", at(3, 9)),
        None,
    ),
    "R1": (
        at(3, 9),
        "A",
        "completed",
        ["winston-ma"],
        [
            ROUTED,
            (2 * H, "staff", "shortlisted", "shortlisted"),
            (D, "organizer", "offer", "offer_received"),
            (2 * D, "staff", "availability check", "awaiting_speaker"),
            (3 * D, "speaker", "speaker accepted", "speaker_accepted"),
            (7 * D, "staff", "contract", "contracted"),
            (10 * D, "staff", "confirmed", "confirmed"),
            (12 * D, "staff", "completed", "completed"),
        ],
        ("USD", 10000, "20", at(10, 9)),
        ("winston-ma", False),
    ),
    "R2": (
        at(5, 10),
        "A",
        "confirmed",
        ["kaiser-kuo", "winston-ma"],
        [
            ROUTED,
            (3 * H, "organizer", "offer", "offer_received"),  # not staff: no response yet
            (5 * H, "staff", "note", None),
            (D, "staff", "availability check", "awaiting_speaker"),
            (2 * D, "speaker", "speaker accepted", "speaker_accepted"),
            (15 * D, "staff", "contract", "contracted"),
            (20 * D, "staff", "confirmed", "confirmed"),
        ],
        ("USD", 5000, "12.5", at(20, 9)),
        ("kaiser-kuo", False),
    ),
    "R3": (
        at(11, 8),
        "B",
        "cancelled",
        ["kaiser-kuo"],
        [
            ROUTED,
            (33 * H, "system", "SLA breached", None),
            (36 * H, "staff", "shortlisted", "shortlisted"),
            (2 * D, "organizer", "offer", "offer_received"),
            (3 * D, "staff", "availability check", "awaiting_speaker"),
            (4 * D, "speaker", "speaker accepted", "speaker_accepted"),
            (9 * D, "staff", "contract", "contracted"),
            (12 * D, "staff", "confirmed", "confirmed"),
            (13 * D, "staff", "cancelled", "cancelled"),
        ],
        ("EUR", 8000, "15", at(20, 9)),
        ("kaiser-kuo", True),
    ),
    "R4": (
        at(17, 12),
        "B",
        "contracted",
        ["ashley-dudarenok"],
        [
            ROUTED,
            (30 * H, "staff", "shortlisted", "shortlisted"),
            (3 * D, "organizer", "offer", "offer_received"),
            (4 * D, "staff", "availability check", "awaiting_speaker"),
            (5 * D, "speaker", "speaker accepted", "speaker_accepted"),
            (11 * D, "staff", "contract", "contracted"),
        ],
        ("EUR", 7000, "10.25", at(28, 12)),
        None,
    ),
    "R5": (
        at(18, 9),
        "A",
        "assigned",
        ["rupert-hoogewerf"],
        [ROUTED, (2 * D, "system", "SLA breached", None)],
        None,
        None,
    ),
    "R6": (
        at(30, 23, 30),
        None,
        "unassigned",
        ["fons-tuinstra"],
        [(SECOND, "system", "routed", "unassigned")],
        None,
        None,
    ),
    "R7": (
        at(1, 10),
        "A",
        "declined",
        ["winston-ma"],
        [ROUTED, (3 * D, "system", "SLA breached", None), (4 * D, "staff", "declined", "declined")],
        None,
        None,
    ),
    "R8": (at(31, 0), "A", "new", ["winston-ma"], [], None, None),
    "R9": (
        at(2, 9, month=4),
        "B",
        "confirmed",
        ["fons-tuinstra"],
        [
            ROUTED,
            (H, "staff", "shortlisted", "shortlisted"),
            (2 * D, "organizer", "offer", "offer_received"),
            (3 * D, "staff", "availability check", "awaiting_speaker"),
            (4 * D, "speaker", "speaker accepted", "speaker_accepted"),
            (6 * D, "staff", "contract", "contracted"),
            (8 * D, "staff", "confirmed", "confirmed"),
        ],
        ("USD", 4000, "10", at(15, 9, month=4)),
        ("fons-tuinstra", False),
    ),
}


@pytest.fixture
def staff(app: Flask) -> dict[str, int]:
    return {
        "admin": staff_member(app, ADMIN, role=Role.ADMIN),
        "A": staff_member(app, AGENT_A),
        "B": staff_member(app, AGENT_B),
    }


@pytest.fixture
def fixture(app: Flask, staff: dict[str, int]) -> dict[str, int]:
    """The requests of the table above, inserted as rows with their own timestamps."""
    ids = {}
    with app.app_context():
        speakers = {s.slug: s for s in db.session.scalars(select(Speaker))}
        for ref, (created, who, status, slugs, events, contract, engagement) in FIXTURE.items():
            staff_id = staff[who] if who else None
            booking = BookingRequest(
                reference=f"T-{ref}-{uuid.uuid4().hex[:6]}",
                status=status,
                tracking_token=uuid.uuid4().hex,
                source="api",
                event_name=f"Event {ref}",
                organization="Acme",
                contact_name="Li Na",
                contact_email="li.na@example.com",
                format="keynote",
                city="Shanghai",
                country="CN",
                timezone="Asia/Shanghai",
                starts_local=datetime(2025, 6, 1, 9),
                ends_local=datetime(2025, 6, 1, 10),
                starts_at=datetime(2025, 6, 1, 1, tzinfo=UTC),
                ends_at=datetime(2025, 6, 1, 2, tzinfo=UTC),
                audience_size=100,
                currency="USD",
                assigned_staff_id=staff_id,
                assigned_at=created + SECOND if staff_id else None,
                created_at=created,
                requested=[
                    RequestedSpeaker(preference=i, speaker=speakers[slug])
                    for i, slug in enumerate(slugs, start=1)
                ],
            )
            db.session.add(booking)
            db.session.flush()
            timeline = [(timedelta(0), "organizer", "submitted", "new"), *events]
            for offset, actor, action, to_status in timeline:
                # Through note(), as every timeline entry is written: it keeps the
                # request's facts the insights read.
                note(
                    db.session,
                    booking,
                    actor=Actor(actor, actor, staff_id if actor == "staff" else None),
                    action=action,
                    to_status=to_status,
                    now=created + offset,
                )
            if contract:
                currency, fee, pct, recorded = contract
                db.session.add(
                    Contract(
                        booking_id=booking.id,
                        fee=fee,
                        currency=currency,
                        commission_pct=Decimal(pct),
                        deposit_amount=fee // 4,
                        deposit_due=date(2025, 5, 1),
                        created_at=recorded,
                    )
                )
            if engagement:
                slug, cancelled = engagement
                db.session.add(
                    Engagement(
                        booking_id=booking.id,
                        speaker_id=speakers[slug].id,
                        uid=f"{uuid.uuid4()}@bureau.test",
                        title=f"Event {ref}",
                        timezone="Asia/Shanghai",
                        starts_at=booking.starts_at,
                        ends_at=booking.ends_at,
                        location="Shanghai",
                        is_cancelled=cancelled,
                    )
                )
            ids[ref] = booking.id
        db.session.commit()
    return ids


def figures(app: Flask, scope: Scope) -> Any:
    with app.app_context():
        return insights(db.session, scope)


def monday(day: int, month: int = 3) -> date:
    return date(2025, month, day)


# --- each figure, computed by hand in the table above


def test_requests_per_week_by_current_status(app: Flask, fixture: dict[str, int]) -> None:
    # R6 (Sunday 30 March, 23:30) belongs to the week of Monday 24 March.
    assert figures(app, MARCH).weekly == {
        monday(3): {"completed": 1, "confirmed": 1},
        monday(10): {"cancelled": 1},
        monday(17): {"contracted": 1, "assigned": 1},
        monday(24): {"unassigned": 1},
    }


def test_funnel_counts_later_states_for_earlier_stages(app: Flask, fixture: dict[str, int]) -> None:
    flow = figures(app, MARCH).flow
    # Shortlisted: R1, R3, R4 shortlisted and R2 went straight to an offer; confirmed: R1, R2
    # and R3 (confirmed, then cancelled); completed: R1.
    assert flow.funnel == [
        ("New", 6),
        ("Shortlisted", 4),
        ("Offer", 4),
        ("Confirmed", 3),
        ("Completed", 1),
    ]


def test_medians_and_sla_breaches(app: Flask, fixture: dict[str, int]) -> None:
    flow = figures(app, MARCH).flow
    # First staff acts: 2 h, 5 h, 30 h, 36 h -> (5 + 30) / 2 = 17.5 h. R2's organizer offer
    # (3 h) is not a staff response.
    assert flow.responded == 4
    assert flow.median_response == timedelta(hours=17, minutes=30)
    # Confirmations: 10 d, 20 d, 12 d -> 12 d.
    assert flow.confirmed == 3
    assert flow.median_confirmation == timedelta(days=12)
    assert flow.breaches == 2  # R3 and R5; R7's was before the period


def test_busiest_speakers_and_topics(app: Flask, fixture: dict[str, int]) -> None:
    found = figures(app, MARCH)
    assert [(s.name, s.requested, s.booked) for s in found.speakers] == [
        ("Kaiser Kuo", 2, 1),  # R3's engagement was cancelled
        ("Winston Ma", 2, 1),
        ("Ashley Dudarenok", 1, 0),
        ("Fons Tuinstra", 1, 0),
        ("Rupert Hoogewerf", 1, 0),
    ]
    assert found.topics == [
        ("Innovation and technology", 5),  # R1 R2 R3 R4 R6
        ("Artificial intelligence", 4),  # R1 R2 R3 R4
        ("Digital economy and finance", 4),  # R1 R2 R3 R5
        ("Media and the internet", 3),  # R1 R2 R6
        ("Geopolitics and US-China relations", 2),  # R1 R2
        ("E-commerce and retail", 1),
        ("Future of work", 1),
        ("Marketing and brands", 1),
        ("Wealth, luxury and rich lists", 1),
    ]


def test_revenue_and_commission_per_month_and_currency(app: Flask, fixture: dict[str, int]) -> None:
    # Contracts recorded in March: R0 (its request came in February), R1, R2 in USD; R4 in
    # EUR; R3's is left out (cancelled). 15 % of 3,000 + 20 % of 10,000 + 12.5 % of 5,000.
    assert figures(app, MARCH).revenue == {
        "EUR": {"2025-03": Money(1, 7000, Decimal("717.50"))},
        "USD": {"2025-03": Money(3, 18000, Decimal("3075.00"))},
    }
    spring = figures(app, Scope(date(2025, 2, 1), date(2025, 4, 30))).revenue
    assert spring == {
        "EUR": {
            "2025-02": Money(),
            "2025-03": Money(1, 7000, Decimal("717.50")),
            "2025-04": Money(),
        },
        "USD": {
            "2025-02": Money(),
            "2025-03": Money(3, 18000, Decimal("3075.00")),
            "2025-04": Money(1, 4000, Decimal("400.00")),
        },
    }


# --- filters


def test_a_staff_member_narrows_every_figure(
    app: Flask, fixture: dict[str, int], staff: dict[str, int]
) -> None:
    found = figures(app, Scope(MARCH.start, MARCH.end, staff["A"]))  # R1, R2, R5
    assert found.weekly == {
        monday(3): {"completed": 1, "confirmed": 1},
        monday(10): {},
        monday(17): {"assigned": 1},
        monday(24): {},
    }
    assert found.flow.funnel == [
        ("New", 3),
        ("Shortlisted", 2),
        ("Offer", 2),
        ("Confirmed", 2),
        ("Completed", 1),
    ]
    assert found.flow.median_response == timedelta(hours=3, minutes=30)  # 2 h, 5 h
    assert found.flow.median_confirmation == timedelta(days=15)  # 10 d, 20 d
    assert found.flow.breaches == 1
    assert [(s.name, s.requested, s.booked) for s in found.speakers] == [
        ("Winston Ma", 2, 1),
        ("Kaiser Kuo", 1, 1),
        ("Rupert Hoogewerf", 1, 0),
    ]
    assert found.revenue == {"USD": {"2025-03": Money(3, 18000, Decimal("3075.00"))}}

    b = figures(app, Scope(MARCH.start, MARCH.end, staff["B"]))  # R3, R4
    assert b.flow.requests == 2
    assert b.flow.median_response == timedelta(hours=33)  # 30 h, 36 h
    assert b.revenue == {"EUR": {"2025-03": Money(1, 7000, Decimal("717.50"))}}


def test_the_period_bounds_are_inclusive_utc_days(app: Flask, fixture: dict[str, int]) -> None:
    one_week = figures(app, Scope(date(2025, 3, 10), date(2025, 3, 16)))  # R3 only
    assert one_week.flow.funnel == [
        ("New", 1),
        ("Shortlisted", 1),
        ("Offer", 1),
        ("Confirmed", 1),
        ("Completed", 0),
    ]
    assert one_week.flow.median_response == timedelta(hours=36)
    assert one_week.flow.median_confirmation == timedelta(days=12)
    assert one_week.flow.breaches == 1
    assert one_week.revenue == {"USD": {"2025-03": Money(1, 10000, Decimal("2000.00"))}}  # R1

    whole_month = figures(app, Scope(date(2025, 3, 1), date(2025, 3, 31)))  # adds R7 and R8
    assert whole_month.flow.requests == 8
    assert whole_month.flow.breaches == 3
    assert list(whole_month.weekly) == [
        monday(24, 2),
        monday(3),
        monday(10),
        monday(17),
        monday(24),
        monday(31),
    ]
    assert whole_month.weekly[monday(24, 2)] == {"declined": 1}  # Saturday 1 March
    assert whole_month.weekly[monday(31)] == {"new": 1}  # Monday 31 March, 00:00

    empty = figures(app, Scope(date(2024, 1, 1), date(2024, 1, 31)))
    assert empty.flow.requests == 0
    assert empty.flow.median_response is None
    assert empty.revenue == {}


# --- the page


def svgs(page: str) -> dict[str, ET.Element]:
    found = {}
    for markup in SVG.findall(page):
        element = ET.fromstring(markup)  # well-formed XML, or this raises
        found[element.get("data-chart", "")] = element
    return found


def signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def figure(page: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">([^<]*)<', page)
    assert found, name
    return found.group(1)


def test_the_page_shows_the_figures_as_svg_with_tables(
    app: Flask, fixture: dict[str, int], staff: dict[str, int]
) -> None:
    client = signed_in(app, ADMIN)
    response = client.get("/staff/insights?from=2025-03-03&to=2025-03-30")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert figure(page, "requests") == "6"
    assert figure(page, "median-response") == "17 h 30 min"
    assert figure(page, "median-confirmation") == "12 d 0 h"
    assert figure(page, "sla-breaches") == "2"

    found = svgs(page)
    assert set(found) == {
        "chart-weekly",
        "chart-funnel",
        "chart-speakers",
        "chart-topics",
        "chart-revenue-eur",
        "chart-revenue-usd",
    }
    for chart_id, svg in found.items():
        title = svg.find(f"{NS}title")
        assert title is not None, chart_id
        assert title.text, chart_id
        assert svg.get("role") == "img"
        assert f"{chart_id}-title" in (svg.get("aria-labelledby") or "")
    weekly = [r.findtext(f"{NS}title") for r in found["chart-weekly"].iter(f"{NS}rect")]
    assert sorted(weekly) == sorted(
        [
            "3 Mar 2025: Completed 1",
            "3 Mar 2025: Confirmed 1",
            "10 Mar 2025: Cancelled 1",
            "17 Mar 2025: Assigned 1",
            "17 Mar 2025: Contracted 1",
            "24 Mar 2025: Waiting for an agent 1",
        ]
    )
    funnel = [r.findtext(f"{NS}title") for r in found["chart-funnel"].iter(f"{NS}rect")]
    assert funnel == [
        "New: 6 (100%)",
        "Shortlisted: 4 (67%)",
        "Offer: 4 (67%)",
        "Confirmed: 3 (50%)",
        "Completed: 1 (17%)",
    ]
    # The data table fallback carries the same numbers.
    usd = re.search(r'data-table="chart-revenue-usd">.*?</table>', page, re.S)
    assert usd
    row = '<th scope="row">2025-03</th><td>3</td><td>18,000</td><td>3,075.00</td>'
    assert row in usd.group(0)
    assert 'href="/staff/insights">Insights</a>' in page  # in the staff navigation

    narrowed = client.get(f"/staff/insights?from=2025-03-03&to=2025-03-30&staff={staff['B']}")
    page = narrowed.get_data(as_text=True)
    assert figure(page, "requests") == "2"
    assert figure(page, "median-response") == "1 d 9 h"
    assert "chart-revenue-eur" in svgs(page)
    assert "chart-revenue-usd" not in svgs(page)


def test_names_from_the_catalogue_are_escaped_in_the_svg(
    app: Flask, fixture: dict[str, int]
) -> None:
    odd = 'Fons <Tuinstra> & "Co"'
    with app.app_context():
        speaker = db.session.scalars(select(Speaker).where(Speaker.slug == "fons-tuinstra")).one()
        original, speaker.name = speaker.name, odd
        db.session.commit()
    try:
        page = signed_in(app, ADMIN).get("/staff/insights?from=2025-03-03&to=2025-03-30")
        text = page.get_data(as_text=True)
    finally:
        with app.app_context():
            speaker = db.session.scalars(
                select(Speaker).where(Speaker.slug == "fons-tuinstra")
            ).one()
            speaker.name = original
            db.session.commit()
    assert "<Tuinstra>" not in text
    chart = svgs(text)["chart-speakers"]
    assert odd in [t.text for t in chart.iter(f"{NS}text")]


def test_agents_see_only_their_own_figures(
    app: Flask, fixture: dict[str, int], staff: dict[str, int]
) -> None:
    agent = signed_in(app, AGENT_A)
    page = agent.get("/staff/insights?from=2025-03-03&to=2025-03-30").get_data(as_text=True)
    assert figure(page, "requests") == "3"  # R1, R2, R5
    assert 'name="staff"' not in page  # no choice of staff member
    assert figure(page, "median-response") == "3 h 30 min"
    mine = agent.get(f"/staff/insights?from=2025-03-03&to=2025-03-30&staff={staff['A']}")
    assert mine.status_code == 200
    assert figure(mine.get_data(as_text=True), "requests") == "3"
    assert agent.get(f"/staff/insights?staff={staff['B']}").status_code == 403
    assert agent.get(f"/staff/insights?staff={staff['admin']}").status_code == 403

    admin = signed_in(app, ADMIN)
    response = admin.get(f"/staff/insights?from=2025-03-03&to=2025-03-30&staff={staff['A']}")
    assert figure(response.get_data(as_text=True), "requests") == "3"
    assert 'name="staff"' in response.get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask) -> None:
    response = app.test_client().get("/staff/insights?preset=4w")
    assert response.status_code == 302
    assert "/staff/login?next=/staff/insights?preset%3D4w" in response.headers["Location"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2025-13-01", "From: “2025-13-01” is not a date; use YYYY-MM-DD"),
        ("from=yesterday&to=2025-03-01", "From: “yesterday” is not a date"),
        ("to=2025-02-30", "To: “2025-02-30” is not a date"),
        ("from=2025-03-10&to=2025-03-01", "The period must start on or before the day it ends."),
        ("from=2020-01-01&to=2025-01-01", "Choose a period of at most three years."),
        ("from=1900-01-01&to=1900-02-01", "From: choose a date between 2000 and 2100."),
        ("from=2025-01-01&to=9999-12-31", "To: choose a date between 2000 and 2100."),
        ("staff=abc", "Staff: “abc” is not a staff member."),
        ("staff=987654", "Staff: there is no staff member number 987654."),
        ("preset=forever", "Period: “forever” is not one of the offered periods."),
        ("from=<script>", "From: “&lt;script&gt;” is not a date"),
    ],
)
def test_bad_filters_get_a_clear_message(
    app: Flask, staff: dict[str, int], query: str, message: str
) -> None:
    response = signed_in(app, ADMIN).get(f"/staff/insights?{query}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert "<script>" not in page
    assert not svgs(page)


def test_presets_set_the_period(app: Flask, staff: dict[str, int]) -> None:
    client = signed_in(app, ADMIN)
    today = datetime.now(UTC).date()
    this_monday = today - timedelta(days=today.weekday())
    for preset, start in [
        ("", this_monday - timedelta(weeks=11)),  # the default: the last 12 weeks
        ("4w", this_monday - timedelta(weeks=3)),
        ("52w", this_monday - timedelta(weeks=51)),
        ("ytd", date(today.year, 1, 1)),
    ]:
        page = client.get(f"/staff/insights?preset={preset}").get_data(as_text=True)
        assert f'name="from" value="{start.isoformat()}"' in page, preset
        assert f'name="to" value="{today.isoformat()}"' in page, preset


def test_the_page_works_on_the_demo_data(app: Flask, staff: dict[str, int]) -> None:
    """Requests filed and routed the ordinary way, figures on the default period."""
    first = submit_and_route(app)
    submit_and_route(app, speakers=["kaiser-kuo", "fons-tuinstra"], contact_email="b@example.com")
    client = signed_in(app, ADMIN)
    page = client.get("/staff/insights").get_data(as_text=True)
    assert figure(page, "requests") == "2"
    assert figure(page, "median-response") == "—"  # nobody on the staff has acted yet
    found = svgs(page)
    assert {"chart-weekly", "chart-funnel", "chart-speakers", "chart-topics"} <= set(found)
    assert "No contracts recorded in this period." in page
    funnel = [r.findtext(f"{NS}title") for r in found["chart-funnel"].iter(f"{NS}rect")]
    assert funnel == ["New: 2 (100%)"]

    # A staff member's note is the first response.
    with app.app_context():
        booking = db.session.get(BookingRequest, first.id)
        assert booking is not None
        note(
            db.session,
            booking,
            actor=Actor("staff", "Management desk", staff["admin"]),
            action="note",
            details={"text": "called"},
            now=booking.created_at + timedelta(minutes=42),
        )
        db.session.commit()
    # The default period is a preset: its snapshot is served until beat refreshes it.
    page = client.get("/staff/insights").get_data(as_text=True)
    assert figure(page, "median-response") == "—"
    assert "refreshed every 10 minutes" in page
    with app.app_context():  # beat's next run, an interval later
        assert refresh(db.session, utcnow() + REFRESH) == 1
    page = client.get("/staff/insights").get_data(as_text=True)
    assert figure(page, "median-response") == "42 min"


# --- chart geometry


def test_bar_heights_are_proportional_and_axes_round() -> None:
    assert [charts.nice_ceiling(v) for v in (0, 1, 3, 7, 12, 230, 2600)] == [
        1,
        1,
        5,
        10,
        20,
        250,
        5000,
    ]
    chart = charts.stacked_bars(
        "c", "T", "D", ["a", "b"], [charts.Series("x", [5, 10]), charts.Series("y", [5, 0])]
    )
    heights = [r.height for r in chart.rects]
    assert heights == [charts.PLOT_HEIGHT / 2, charts.PLOT_HEIGHT / 2, charts.PLOT_HEIGHT]
    assert chart.rows == [["a", "5", "5", "10"], ["b", "10", "0", "10"]]
    single = charts.stacked_bars("c", "T", "D", ["a"], [charts.Series("x", [1])])
    assert [t.text for t in single.texts[:3]] == ["0", "1", "2"]  # whole numbers on the axis
