"""Routing by ordered rules: pools, least load, round-robin, leave, capacity, no one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, event, select

from bureau.bookings import routing
from bureau.bookings.models import BookingEvent, BookingRequest
from bureau.bookings.routing import RoutingRule, decide, route
from bureau.bookings.services import submit_request
from bureau.bookings.states import Status
from bureau.bookings.validation import validate_request
from bureau.bookings.workflow import SYSTEM
from bureau.extensions import db
from bureau.mail.recipients import MAIL_TASK
from bureau.outbox import Job
from bureau.staff.models import Role, StaffMember
from tests.conftest import make_app, migrate_and_seed, valid_request


@pytest.fixture(scope="module")
def routing_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    folder = tmp_path_factory.mktemp("routing")
    app = make_app(folder, f"sqlite:///{folder / 'routing.db'}")
    migrate_and_seed(app, staff=False)
    return app


@pytest.fixture
def session(routing_app: Flask) -> Iterator[Any]:
    with routing_app.app_context():
        yield db.session
        db.session.rollback()
        for model in (Job, BookingEvent, BookingRequest):
            db.session.execute(delete(model))
        db.session.execute(delete(RoutingRule))
        db.session.execute(delete(StaffMember))
        db.session.commit()


def staff(session: Any, name: str, **fields: Any) -> StaffMember:
    member = StaffMember(email=f"{name.lower()}@bureau.test", name=name, **fields)
    session.add(member)
    session.flush()
    return member


def rule(session: Any, position: int, name: str, pool: list[StaffMember], **criteria: Any) -> None:
    session.add(RoutingRule(position=position, name=name, pool=pool, **criteria))
    session.flush()


def booking(session: Any, **changes: Any) -> BookingRequest:
    valid, errors = validate_request(
        valid_request(**changes), active_speakers=lambda slugs: set(slugs)
    )
    assert valid is not None, errors
    return submit_request(session, valid, source="api", idempotency_key=None).booking


def give_open_requests(session: Any, member: StaffMember, count: int) -> None:
    for _ in range(count):
        held = booking(session)
        held.assigned_staff_id = member.id
        held.status = Status.ASSIGNED
    session.commit()


def test_least_loaded_member_of_the_first_matching_pool_wins(session: Any) -> None:
    a, b, c = (staff(session, n) for n in ("Ann", "Bob", "Cy"))
    rule(session, 1, "China", [a, b], countries=["CN"])
    rule(session, 2, "Everyone", [c])
    give_open_requests(session, a, 2)
    give_open_requests(session, b, 1)
    decision = decide(session, booking(session, country="CN"))
    assert (decision.rule, decision.staff_name) == ("China", "Bob")
    assert [(c["name"], c["load"]) for c in decision.candidates] == [("Bob", 1), ("Ann", 2)]
    assert "fewest open requests (1 of 20)" in decision.reason


def test_rules_read_once_per_transaction_and_again_when_changed_or_ended(session: Any) -> None:
    """A backlog routed in one transaction reads the rules once; a rule added in the same
    transaction (flushed or not) or a new transaction reads them again."""
    a, b, c = (staff(session, n) for n in ("Ann", "Bob", "Cy"))
    rule(session, 2, "Everyone", [a])
    session.commit()
    assert decide(session, booking(session, country="CN")).staff_name == "Ann"
    session.add(RoutingRule(position=1, name="China", pool=[b], countries=["CN"]))  # no flush
    assert decide(session, booking(session, country="CN")).staff_name == "Bob"
    rule(session, 0, "Cy first", [c], countries=["CN"])  # flushed
    assert decide(session, booking(session, country="CN")).staff_name == "Cy"
    session.commit()
    request = booking(session, country="CN")
    assert decide(session, request).staff_name == "Cy"
    session.execute(delete(RoutingRule).where(RoutingRule.name != "Everyone"))  # not the ORM
    assert decide(session, request).staff_name == "Cy"  # read once in this transaction
    session.commit()
    assert decide(session, request).staff_name == "Ann"
    # Flushes inside the transaction keep them; its end, however it ends, forgets them.
    session.flush()
    assert routing._RULES_KEY in session.info
    session.close()
    assert routing._RULES_KEY not in session.info


def test_ties_go_round_robin_by_last_assignment(session: Any) -> None:
    now = datetime.now(UTC)
    a = staff(session, "Ann", last_assigned_at=now - timedelta(minutes=1))
    b = staff(session, "Bob", last_assigned_at=now - timedelta(minutes=5))
    c = staff(session, "Cy")  # never assigned: first in line
    rule(session, 1, "All", [a, b, c])
    picks = []
    for _ in range(4):
        held = booking(session)
        decision = route(session, held, actor=SYSTEM)
        session.commit()
        held.status = Status.DECLINED  # keep loads equal: only round-robin decides
        session.commit()
        picks.append(decision.staff_name)
    assert picks == ["Cy", "Bob", "Ann", "Cy"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"is_on_leave": True}, "on leave"),
        ({"is_active": False}, "inactive"),
        ({"capacity": 0}, "at capacity"),
    ],
)
def test_unavailable_members_are_skipped_with_a_reason(
    session: Any, fields: dict[str, Any], reason: str
) -> None:
    away = staff(session, "Away", **fields)
    here = staff(session, "Here")
    give_open_requests(session, here, 3)
    rule(session, 1, "All", [away, here])
    decision = decide(session, booking(session))
    assert decision.staff_name == "Here"
    assert decision.skipped == [{"id": away.id, "name": "Away", "reason": reason}]


def test_full_pool_falls_through_to_the_next_matching_rule(session: Any) -> None:
    full = staff(session, "Full", capacity=1)
    give_open_requests(session, full, 1)
    spare = staff(session, "Spare")
    rule(session, 1, "Narrow", [full], countries=["CN"])
    rule(session, 2, "Wide", [spare])
    decision = decide(session, booking(session, country="CN"))
    assert (decision.rule, decision.staff_name) == ("Wide", "Spare")
    assert decision.rules_tried[0] == {"rule": "Narrow", "matched": True, "eligible": 0}


@pytest.mark.parametrize(
    ("criteria", "changes", "matches"),
    [
        ({"speakers": ["kaiser-kuo"]}, {"speakers": ["kaiser-kuo", "winston-ma"]}, True),
        ({"speakers": ["kaiser-kuo"]}, {"speakers": ["winston-ma"]}, False),
        ({"topics": ["wealth-rich-lists"]}, {"speakers": ["rupert-hoogewerf"]}, True),
        ({"topics": ["wealth-rich-lists"]}, {"speakers": ["kaiser-kuo"]}, False),
        ({"countries": ["NL"]}, {"country": "NL", "city": "Utrecht"}, True),
        ({"areas": ["Europe"]}, {"timezone": "Europe/Amsterdam"}, True),
        ({"areas": ["Europe"]}, {"timezone": "Asia/Shanghai"}, False),
        ({"languages": ["zh"]}, {"language": "zh"}, True),
        ({"languages": ["zh"]}, {}, False),
        ({"budget_min": 10000}, {"budget_max": 15000}, True),
        ({"budget_min": 20000}, {"budget_max": 15000}, False),
        ({"budget_max": 5000}, {"budget_min": ..., "budget_max": ...}, False),
    ],
)
def test_rule_criteria(
    session: Any, criteria: dict[str, Any], changes: dict[str, Any], matches: bool
) -> None:
    specialist, generalist = staff(session, "Specialist"), staff(session, "Generalist")
    rule(session, 1, "Special", [specialist], **criteria)
    rule(session, 2, "Default", [generalist])
    chosen = decide(session, booking(session, **changes)).staff_name
    assert chosen == ("Specialist" if matches else "Generalist")


def test_no_eligible_staff_leaves_the_request_unassigned_and_alerts_admins(session: Any) -> None:
    agent = staff(session, "Agent", is_on_leave=True)
    staff(session, "Boss", role=Role.ADMIN)
    staff(session, "Former boss", role=Role.ADMIN, is_active=False)
    rule(session, 1, "All", [agent])
    held = booking(session)
    decision = route(session, held, actor=SYSTEM)
    session.commit()
    assert decision.staff_id is None
    assert held.status == Status.UNASSIGNED
    assert held.assigned_staff_id is None
    kinds = sorted(
        (j.kind, j.recipient) for j in session.scalars(select(Job).where(Job.task == MAIL_TASK))
    )
    assert kinds == [
        ("mail.acknowledgement", "li.na@example.com"),
        ("mail.unassigned_alert", "boss@bureau.test"),
    ]
    entry = held.events[-1]
    assert entry.action == "routed"
    assert entry.details["reason"] == "No eligible staff member in any matching pool."
    assert entry.public_message is not None


def test_routing_is_recorded_with_its_reason_and_emails(session: Any) -> None:
    member = staff(session, "Desk")
    rule(session, 1, "All", [member])
    held = booking(session)
    route(session, held, actor=SYSTEM)
    session.commit()
    assert (held.status, held.assigned_staff_id) == (Status.ASSIGNED, member.id)
    assert held.version == 2
    entry = held.events[-1]
    assert entry.details["rule"] == "All"
    assert "Desk has the fewest open requests" in entry.details["reason"]
    jobs = {
        j.kind: j.recipient for j in session.scalars(select(Job).where(Job.booking_id == held.id))
    }
    assert jobs == {
        "route": None,
        "mail.assigned": "desk@bureau.test",
        "mail.acknowledgement": "li.na@example.com",
    }


def test_reassignment_uses_the_same_rules_and_keeps_one_acknowledgement(session: Any) -> None:
    first, second = staff(session, "First"), staff(session, "Second")
    rule(session, 1, "All", [first, second])
    held = booking(session)
    route(session, held, actor=SYSTEM)
    session.commit()
    assert held.assigned_staff_id == first.id
    first.is_on_leave = True
    route(session, held, actor=SYSTEM)
    session.commit()
    assert held.assigned_staff_id == second.id
    assert held.status == Status.ASSIGNED
    assert held.events[-1].action == "reassigned"
    mails = sorted(
        (j.kind, j.recipient) for j in session.scalars(select(Job).where(Job.task == MAIL_TASK))
    )
    assert mails == [
        ("mail.acknowledgement", "li.na@example.com"),
        ("mail.assigned", "first@bureau.test"),
        ("mail.assigned", "second@bureau.test"),
    ]


def test_new_requests_routed_in_one_transaction_count_each_assignment(session: Any) -> None:
    """A worker's batch reads the loads once; each assignment then counts in them, so the
    decisions are those of reading afresh each time, capacity included."""
    ann = staff(session, "Ann", capacity=1)
    bob = staff(session, "Bob", capacity=2)
    rule(session, 1, "All", [ann, bob])
    give_open_requests(session, bob, 1)
    new = [booking(session) for _ in range(3)]
    reads: list[str] = []

    def on_statement(*args: Any) -> None:
        if "GROUP BY booking_requests.assigned_staff_id" in args[2]:
            reads.append(args[2])

    event.listen(db.engine, "before_cursor_execute", on_statement)
    try:
        decisions = [
            route(session, each, actor=SYSTEM, loads=routing.new_request_loads) for each in new
        ]
    finally:
        event.remove(db.engine, "before_cursor_execute", on_statement)
    assert [d.staff_name for d in decisions] == ["Ann", "Bob", None]
    assert decisions[1].candidates == [
        {"id": bob.id, "name": "Bob", "load": 1, "capacity": 2, "last_assigned_at": None}
    ]
    assert len(reads) == 1
    assert routing.open_loads(session, [ann.id, bob.id], None) == {ann.id: 1, bob.id: 2}
    # A reassignment in the same transaction: the kept counts are read again.
    route(session, new[0], actor=SYSTEM, loads=routing.new_request_loads)
    assert routing._LOADS_KEY not in session.info


def test_demo_staff_and_rules_route_the_contract_example(tmp_path: Path) -> None:
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'demo.db'}")
    migrate_and_seed(app)
    with app.app_context():
        decision = decide(db.session, booking(db.session))  # Shanghai, CN
        assert (decision.rule, decision.staff_name) == (
            "Greater China venues",
            "Greater China desk",
        )
        europe = booking(
            db.session,
            timezone="Europe/Amsterdam",
            country="NL",
            city="Utrecht",
            speakers=["rupert-hoogewerf"],
        )
        assert decide(db.session, europe).staff_name == "Europe desk"


def test_a_decision_s_details_are_its_fields_and_reason(session: Any) -> None:
    """What the timeline keeps of a routing decision: every field of it (a copy), and why."""
    from dataclasses import asdict, fields

    ann = staff(session, "Ann")
    rule(session, 1, "All", [ann])
    decision = decide(session, booking(session))
    details = decision.as_details()
    assert details == {**asdict(decision), "reason": decision.reason}
    assert set(details) == {f.name for f in fields(decision)} | {"reason"}
    details["candidates"][0]["load"] = 99
    assert decision.candidates[0]["load"] == 0
