"""The insights page's snapshots (bureau/insights/snapshot.py): the figures kept as JSON and
read back equal, served while fresh and recomputed when stale, refreshed by beat for the
periods viewed lately, dropped when personal data is erased, and kept apart per staff filter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, update

from bureau.bookings.models import BookingRequest, OrganizerFeedback
from bureau.bookings.workflow import Actor
from bureau.db import utcnow
from bureau.extensions import db
from bureau.insights import snapshot
from bureau.insights.flow import Flow
from bureau.insights.models import InsightsSnapshot
from bureau.insights.money_flow import Billing, MonthMoney
from bureau.insights.queries import Insights, Ratings, Scope, insights
from bureau.insights.scope import preset_period
from bureau.privacy.erasure import erase
from bureau.staff.models import StaffMember
from tests.test_billing_insights import ledger  # noqa: F401 (a fixture)
from tests.test_insights import (  # noqa: F401 (fixtures)
    ADMIN,
    AGENT_A,
    figure,
    fixture,
    signed_in,
    staff,
)
from tests.workflow_helpers import submit_and_route

# --- the figures as JSON


def test_real_figures_read_back_equal(
    app: Flask,
    fixture: dict[str, int],  # noqa: F811
    ledger: dict[str, int],  # noqa: F811
) -> None:
    """Every part of a computed Insights: dates as keys, datetimes, Decimals, timedeltas,
    tuples, nested dataclasses; none of them left empty, so each kind is exercised."""
    with app.app_context():
        db.session.add(
            OrganizerFeedback(
                booking_id=fixture["R1"],
                rating=5,
                comments="Clear and <warm>",
                created_at=datetime(2025, 3, 25, 8, 30, 15, 250, tzinfo=UTC),
            )
        )
        db.session.commit()
        figures = insights(db.session, Scope(date(2025, 1, 1), date(2025, 4, 30)), date(2025, 5, 1))
    assert figures.weekly
    assert figures.flow.median_response
    assert figures.speakers
    assert figures.topics
    assert figures.revenue
    assert figures.ratings.recent
    assert figures.billing.months
    assert figures.billing.ageing

    text = snapshot.dumps(figures)
    back = snapshot.loads(text)
    assert back == figures
    assert "pickle" not in text
    assert text.startswith("{")
    first_week = next(iter(back.weekly))
    assert type(first_week) is date
    assert isinstance(back.flow.median_response, timedelta)
    assert back.ratings.recent[0].at == datetime(2025, 3, 25, 8, 30, 15, 250, tzinfo=UTC)
    assert back.ratings.recent[0].at.utcoffset() == timedelta(0)
    assert set(back.ratings.counts) == {1, 2, 3, 4, 5}
    usd = back.billing.months["USD"]["2025-02"]
    assert type(usd) is MonthMoney
    assert str(usd.billed) == "2200.00"
    assert str(back.billing.months["JPY"]["2025-01"].billed) == "550006"
    assert all(type(v) is tuple for v in back.billing.ageing["USD"].values())
    assert list(back.weekly) == list(figures.weekly)  # the order kept too


def test_empty_figures_and_bad_input() -> None:
    empty = Insights(
        scope=Scope(date(2026, 1, 1), date(2026, 1, 2), 7),
        weekly={},
        flow=Flow([("New", 0)], 0, 0, 0, None, None),
        speakers=[],
        topics=[],
        revenue={},
        ratings=Ratings(dict.fromkeys(range(1, 6), 0), []),
        billing=Billing(date(2026, 1, 2), {"EUR": {"2026-01": MonthMoney(1, Decimal("-0.50"))}}),
    )
    assert snapshot.loads(snapshot.dumps(empty)) == empty
    with pytest.raises(TypeError):
        snapshot.encode(object())
    with pytest.raises(TypeError):
        snapshot.decode(int, "12")  # a string where a number belongs


# --- the page


def snapshots(app: Flask) -> list[tuple[int | None, date, date, str]]:
    with app.app_context():
        return [
            (s.staff_id, s.start_on, s.end_on, s.preset)
            for s in db.session.scalars(select(InsightsSnapshot).order_by(InsightsSnapshot.id))
        ]


@pytest.fixture
def computations(monkeypatch: pytest.MonkeyPatch) -> list[Scope]:
    """The scopes the snapshot module computed live, in order."""
    computed: list[Scope] = []

    def counted(session: Any, scope: Scope, today: date | None = None) -> Insights:
        computed.append(scope)
        return insights(session, scope, today)

    monkeypatch.setattr(snapshot, "insights", counted)
    return computed


@pytest.fixture
def admin(app: Flask, staff: dict[str, int]) -> FlaskClient:  # noqa: F811
    """An admin signed in, with one request submitted today."""
    submit_and_route(app)
    return signed_in(app, ADMIN)


def test_a_fresh_snapshot_is_served_and_a_stale_one_recomputed(
    app: Flask, admin: FlaskClient, computations: list[Scope]
) -> None:
    client = admin
    page = client.get("/staff/insights?preset=4w").get_data(as_text=True)
    assert figure(page, "requests") == "1"
    assert "Figures as of" in page
    assert "refreshed every 10 minutes" in page
    assert len(computations) == 1
    start, end = preset_period("4w", utcnow().date())
    assert snapshots(app) == [(None, start, end, "4w")]

    submit_and_route(app, contact_email="second@example.com")
    page = client.get("/staff/insights?preset=4w").get_data(as_text=True)
    assert figure(page, "requests") == "1"  # as of the snapshot
    assert len(computations) == 1  # nothing computed: the snapshot was fresh

    with app.app_context():  # older than the freshness bound
        db.session.execute(
            update(InsightsSnapshot).values(
                computed_at=utcnow() - snapshot.FRESH_FOR - timedelta(minutes=1)
            )
        )
        db.session.commit()
    page = client.get("/staff/insights?preset=4w").get_data(as_text=True)
    assert figure(page, "requests") == "2"
    assert len(computations) == 2
    assert len(snapshots(app)) == 1  # replaced, not added

    # A period of one's own choosing is computed for the view and not kept.
    page = client.get(f"/staff/insights?from={start}&to={end}").get_data(as_text=True)
    assert figure(page, "requests") == "2"
    assert "Figures as of" not in page
    assert len(snapshots(app)) == 1
    # The CSV ledger is unchanged by any of it.
    assert client.get("/staff/insights/invoices.csv?preset=4w").status_code == 200


def test_the_as_of_time_is_in_the_readers_zone(
    app: Flask,
    staff: dict[str, int],  # noqa: F811
) -> None:
    scope = Scope(*preset_period("4w", utcnow().date()))
    computed = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=3)
    with app.app_context():
        db.session.add(
            InsightsSnapshot(
                start_on=scope.start,
                end_on=scope.end,
                staff_id=None,
                form_version=snapshot.FORM_VERSION,
                preset="4w",
                figures=snapshot.dumps(insights(db.session, scope)),
                computed_at=computed,
                viewed_at=computed,
            )
        )
        admin = db.session.get(StaffMember, staff["admin"])
        assert admin is not None
        admin.timezone = "Asia/Shanghai"
        db.session.commit()
    try:
        page = signed_in(app, ADMIN).get("/staff/insights?preset=4w").get_data(as_text=True)
    finally:
        with app.app_context():
            db.session.get(StaffMember, staff["admin"]).timezone = "UTC"
            db.session.commit()
    shanghai = computed.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"Figures as of {shanghai:%a} {shanghai.day} {shanghai:%b %Y, %H:%M} (Shanghai)" in page


def test_beat_refreshes_the_viewed_snapshots_and_drops_the_rest(
    app: Flask,
    staff: dict[str, int],  # noqa: F811
    admin: FlaskClient,
    computations: list[Scope],
) -> None:
    client = admin
    for preset in ("4w", "52w"):
        assert client.get(f"/staff/insights?preset={preset}").status_code == 200
    now = utcnow()
    today = now.date()
    with app.app_context():
        # The 4 weeks' snapshot is a refresh interval old; the 52 weeks' was just computed.
        db.session.execute(
            update(InsightsSnapshot)
            .where(InsightsSnapshot.preset == "4w")
            .values(computed_at=now - snapshot.REFRESH)
        )
        just = db.session.scalars(
            select(InsightsSnapshot.computed_at).where(InsightsSnapshot.preset == "52w")
        ).one()
        old = now - timedelta(days=2)
        for preset, start, viewed, version in [
            ("12w", preset_period("12w", today)[0], old, snapshot.FORM_VERSION),  # not viewed
            ("26w", preset_period("26w", today)[0], now, snapshot.FORM_VERSION - 1),  # old shape
            # 'ytd' of yesterday's period, viewed: refreshed for today's period
            ("ytd", date(today.year, 1, 1), now, snapshot.FORM_VERSION),
        ]:
            db.session.add(
                InsightsSnapshot(
                    start_on=start,
                    end_on=today - timedelta(days=1),
                    staff_id=staff["A"] if preset == "ytd" else None,
                    form_version=version,
                    preset=preset,
                    figures="{}",
                    computed_at=old,
                    viewed_at=viewed,
                )
            )
        db.session.commit()
    computations.clear()
    with app.app_context():
        assert snapshot.refresh(db.session, now) == 2
    assert sorted((s.start, s.end, s.staff_id) for s in computations) == sorted(
        [
            (*preset_period("4w", today), None),
            (*preset_period("ytd", today), staff["A"]),
        ]
    )  # not the 52 weeks: computed within the last half interval, and kept
    assert sorted(snapshots(app), key=str) == sorted(
        [
            (None, *preset_period("4w", today), "4w"),
            (None, *preset_period("52w", today), "52w"),
            (staff["A"], *preset_period("ytd", today), "ytd"),
        ],
        key=str,
    )
    with app.app_context():
        rows = db.session.scalars(select(InsightsSnapshot)).all()
        assert sorted(r.computed_at for r in rows) == sorted([now, now, just])
    # The page now serves what beat computed.
    computations.clear()
    assert client.get("/staff/insights?preset=52w").status_code == 200
    assert computations == []


def test_erasure_drops_the_snapshots_and_erased_comments_are_never_shown(
    app: Flask,
    staff: dict[str, int],  # noqa: F811
    tmp_path: Path,
) -> None:
    booking = submit_and_route(app, contact_email="Ottilie@example.com")
    other = submit_and_route(app, contact_email="someone@example.com")
    with app.app_context():
        for b, words in ((booking, "Ottilie's talk was superb"), (other, "Fine talk")):
            db.session.add(OrganizerFeedback(booking_id=b.id, rating=5, comments=words))
        db.session.commit()
    client = signed_in(app, ADMIN)
    page = client.get("/staff/insights?preset=4w").get_data(as_text=True)
    assert "Ottilie&#39;s talk was superb" in page

    # Erased while a snapshot was being computed (the snapshot outlives the erasure):
    # the comment is left out of the served snapshot all the same.
    with app.app_context():
        row = db.session.get(BookingRequest, booking.id)
        assert row is not None
        row.erased_at = utcnow()
        db.session.commit()
    page = client.get("/staff/insights?preset=4w").get_data(as_text=True)
    assert "superb" not in page
    assert "Fine talk" in page
    assert len(snapshots(app)) == 1

    with app.app_context():
        db.session.get(BookingRequest, booking.id).erased_at = None
        db.session.commit()
        erase(
            db.session,
            "ottilie@example.com",
            actor=Actor("staff", "Management desk", staff["admin"]),
            mail_folder=tmp_path,
        )
        assert db.session.scalar(select(func.count()).select_from(InsightsSnapshot)) == 0
    page = client.get("/staff/insights?preset=4w").get_data(as_text=True)
    assert "superb" not in page
    assert "Ottilie" not in page


def test_agents_get_only_their_own_snapshot(
    app: Flask,
    staff: dict[str, int],  # noqa: F811
) -> None:
    mine = submit_and_route(app)
    theirs = submit_and_route(app, contact_email="b@example.com")
    also = submit_and_route(app, contact_email="c@example.com")
    with app.app_context():
        for booking, who in ((mine, "A"), (theirs, "B"), (also, "B")):
            row = db.session.get(BookingRequest, booking.id)
            assert row is not None
            row.assigned_staff_id = staff[who]
        db.session.commit()
    admin = signed_in(app, ADMIN)
    assert figure(admin.get("/staff/insights?preset=4w").get_data(as_text=True), "requests") == "3"
    narrowed = admin.get(f"/staff/insights?preset=4w&staff={staff['B']}").get_data(as_text=True)
    assert figure(narrowed, "requests") == "2"

    agent = signed_in(app, AGENT_A)
    page = agent.get("/staff/insights?preset=4w").get_data(as_text=True)
    assert figure(page, "requests") == "1"  # not the all-staff snapshot's 3, nor B's 2
    assert agent.get(f"/staff/insights?preset=4w&staff={staff['B']}").status_code == 403
    start, end = preset_period("4w", utcnow().date())
    assert sorted(snapshots(app), key=str) == sorted(
        [(None, start, end, "4w"), (staff["B"], start, end, "4w"), (staff["A"], start, end, "4w")],
        key=str,
    )
    # Another agent's snapshot is never theirs, even when it is the only one of the period.
    with app.app_context():
        db.session.execute(delete(InsightsSnapshot).where(InsightsSnapshot.staff_id == staff["A"]))
        db.session.commit()
    page = agent.get("/staff/insights?preset=4w").get_data(as_text=True)
    assert figure(page, "requests") == "1"


def test_beat_runs_the_refresh_every_interval(app: Flask) -> None:
    from bureau.insights.tasks import refresh_task
    from bureau.queue import TASK_MODULES
    from workers.schedule import beat_schedule

    entry = beat_schedule(app.config["BUREAU_SETTINGS"])["insights-snapshots"]
    assert entry["task"] == refresh_task.name == "bureau.insights.refresh"
    assert entry["schedule"] == snapshot.REFRESH.total_seconds() == 600
    assert "bureau.insights.tasks" in TASK_MODULES
    # Through this app's Celery: the shared task's proxy follows the newest app made.
    task = app.extensions["celery"].tasks[refresh_task.name]
    with app.app_context():
        assert task() == 0  # nothing viewed: nothing computed
