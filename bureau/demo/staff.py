"""The demo bureau's staff (named by desk) and its routing rules; loading is idempotent."""

from __future__ import annotations

from sqlalchemy import select

from bureau.bookings.routing import RoutingRule
from bureau.db import AnySession
from bureau.staff.models import Role, StaffMember

TECH_TOPICS = ["artificial-intelligence", "innovation-technology", "metaverse-immersive-tech"]
DESKS = [
    # email, name, role, languages, topics, regions, time zone
    ("management@bureau.localhost", "Management desk", Role.ADMIN, ["en", "zh", "nl"], [], [],
     "Europe/Amsterdam"),
    ("china.desk@bureau.localhost", "Greater China desk", Role.AGENT, ["zh", "en"], [],
     ["CN", "HK", "MO", "TW"], "Asia/Shanghai"),
    ("tech.desk@bureau.localhost", "Technology desk", Role.AGENT, ["en", "zh"], TECH_TOPICS, [],
     "Asia/Hong_Kong"),
    ("europe.desk@bureau.localhost", "Europe desk", Role.AGENT, ["en", "nl", "de", "fr"], [],
     ["Europe"], "Europe/Amsterdam"),
    ("americas.desk@bureau.localhost", "Americas desk", Role.AGENT, ["en", "es"], [],
     ["America"], "America/New_York"),
]  # fmt: skip
RULES = [
    # name, criteria, pool (desk emails)
    ("Chinese-language events", {"languages": ["zh"]}, ["china.desk@bureau.localhost"]),
    ("Greater China venues", {"countries": ["CN", "HK", "MO", "TW"]},
     ["china.desk@bureau.localhost"]),
    ("Technology and AI", {"topics": TECH_TOPICS}, ["tech.desk@bureau.localhost"]),
    ("European venues", {"areas": ["Europe"]}, ["europe.desk@bureau.localhost"]),
    ("American venues", {"areas": ["America"]}, ["americas.desk@bureau.localhost"]),
    ("Everyone else", {}, ["china.desk@bureau.localhost", "tech.desk@bureau.localhost",
                           "europe.desk@bureau.localhost", "americas.desk@bureau.localhost"]),
]  # fmt: skip


def load_demo_staff(session: AnySession) -> tuple[int, int]:
    """Add the desks and rules that are missing (by email and name); returns (staff, rules)."""
    staff = {s.email: s for s in session.scalars(select(StaffMember))}
    added_staff = 0
    for email, name, role, languages, topics, regions, zone in DESKS:
        if email not in staff:
            staff[email] = StaffMember(
                email=email,
                name=name,
                role=role,
                languages=languages,
                topics=topics,
                regions=regions,
                timezone=zone,
            )
            session.add(staff[email])
            added_staff += 1
    existing_rules = set(session.scalars(select(RoutingRule.name)))
    next_position = (max(session.scalars(select(RoutingRule.position)), default=0)) + 1
    added_rules = 0
    for name, criteria, pool in RULES:
        if name in existing_rules:
            continue
        session.add(
            RoutingRule(
                position=next_position,
                name=name,
                pool=[staff[email] for email in pool],
                **criteria,
            )
        )
        next_position += 1
        added_rules += 1
    session.flush()
    return added_staff, added_rules
