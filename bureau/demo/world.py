"""The demo history's fictitious world — organizations, people, places (RFC 2606 addresses
only), fees and reasons — and its clock: working hours, beat's ticks, whole minutes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bureau.bookings.validation import ValidRequest
from bureau.calendar.reminders import (
    FIRST_RESPONSE_SLA,
    WORKDAY_END,
    WORKDAY_START,
    add_working_time,
    working_time,
)
from bureau.catalogue.models import Speaker

SOURCE = "demo"  # BookingRequest.source of every history request: how a second run knows
SEED = 6_2026
WEEKS = 26
# Beat runs the SLA check every five minutes (workers/schedule.py).
SLA_TICK = timedelta(minutes=5)

ORGANIZATIONS = [
    "Northwind Leadership Forum", "Bluewater Retail Council", "Crescent Bay Innovation Week",
    "Harbourlight Business School", "Silverpine Capital Partners", "Redwood Family Office Club",
    "Lanternfield Media Summit", "Meridian Trade Association", "Copperleaf Insurance Group",
    "Foxglove Marketing Network", "Juniper Tech Alliance", "Amberline Logistics Conference",
    "Stonebridge Wealth Forum", "Kestrel Consumer Brands", "Tidewater Chamber of Commerce",
    "Oakhaven University Alumni", "Greyfield Manufacturing Expo", "Windmere Investors Circle",
]  # fmt: skip
FIRST_NAMES = [
    "Alex", "Bea", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ines", "Jun", "Kofi",
    "Lena", "Marco", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tomoko", "Uma", "Vik",
]  # fmt: skip
LAST_NAMES = [
    "Abara", "Brandt", "Castell", "Duval", "Eriksen", "Fontaine", "Gallo", "Hartley", "Ibsen",
    "Jansen", "Kowal", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov", "Quist", "Rinaldi",
]  # fmt: skip
EVENT_KINDS = [
    "Annual Leadership Summit", "Client Day", "Innovation Forum", "Retail Outlook", "Board Retreat",
    "Partner Conference", "Investor Briefing", "Future of Work Day", "Digital Strategy Offsite",
]  # fmt: skip
# city, country, zone, currency, language, weight
PLACES = [
    ("Shanghai", "CN", "Asia/Shanghai", "CNY", "zh", 4),
    ("Beijing", "CN", "Asia/Shanghai", "USD", "en", 3),
    ("Hong Kong", "HK", "Asia/Hong_Kong", "USD", "en", 4),
    ("Singapore", "SG", "Asia/Singapore", "USD", "en", 3),
    ("Amsterdam", "NL", "Europe/Amsterdam", "EUR", "en", 3),
    ("Berlin", "DE", "Europe/Berlin", "EUR", "en", 2),
    ("Paris", "FR", "Europe/Paris", "EUR", "en", 2),
    ("New York", "US", "America/New_York", "USD", "en", 3),
    ("San Francisco", "US", "America/Los_Angeles", "USD", "en", 2),
    ("Toronto", "CA", "America/Toronto", "USD", "en", 1),
    (None, None, "Europe/London", "USD", "en", 2),  # virtual
]
RATES = {"USD": Decimal(1), "EUR": Decimal("0.92"), "CNY": Decimal("7.2")}
POPULARITY = {
    "winston-ma": 13,
    "kaiser-kuo": 12,
    "ashley-dudarenok": 11,
    "alvin-wang-graylin": 10,
    "fons-tuinstra": 7,
    "rupert-hoogewerf": 6,
}
DURATION = {"keynote": 1, "panel": 2, "fireside": 1, "moderation": 4, "workshop": 3, "virtual": 1}
AUDIENCES = ["senior executives", "retail managers", "investors", "students and faculty",
             "marketing teams", "family offices", "engineers and product leads"]  # fmt: skip
NOTES = ["Called the organizer to confirm the date and budget.",
         "Asked the organizer about the audience and the format.",
         "Checked the speakers' travel plans for that week."]  # fmt: skip
DECLINE_REASONS = ["The budget is well below the speakers' fee bands.",
                   "None of our speakers is free on that date.",
                   "The event's subject is outside what our speakers cover."]  # fmt: skip
WITHDRAW_REASONS = ["We chose a speaker from our own network.",
                    "The event was postponed to next year.",
                    "Our budget was not approved."]  # fmt: skip
CANCEL_REASONS = ["The organizer cancelled the event.", "The speaker fell ill."]
SPEAKER_DECLINES = ["Already travelling that week.", "A family commitment on that date."]
FEEDBACK = ["Excellent talk; the audience stayed an hour for questions.",
            "Very well prepared and on time. We would book again.",
            "Good session, a little long on the introduction.",
            "Our members rated it the best talk of the year."]  # fmt: skip
ORGANIZER_COMMENTS = {
    5: ["Outstanding: our audience is still talking about it.",
        "Everything went smoothly, from the first call to the last slide."],
    4: ["Very good talk; the Q&A could have been longer.",
        "Well prepared and friendly; travel details came a little late."],
    3: ["Solid content, but it ran over time.",
        "Good, though the talk was less tailored to our audience than we hoped."],
    2: ["The speaker arrived late and the talk felt generic."],
    1: ["Not what we agreed: the topic changed at short notice."],
}  # fmt: skip
TRAVEL_TERMS = "Business-class flights and two hotel nights paid by the organizer."
COMMISSIONS = [Decimal("15"), Decimal("20"), Decimal("17.5"), Decimal("12.5"), Decimal("25")]


def escalation_time(assigned_at: datetime, zone: ZoneInfo) -> datetime:
    """When beat's five-minutely check first finds more than the SLA's working hours passed."""
    deadline = add_working_time(assigned_at, FIRST_RESPONSE_SLA, zone)
    tick = _ceil(deadline + timedelta(seconds=1), SLA_TICK)
    while working_time(assigned_at, tick, zone) <= FIRST_RESPONSE_SLA:
        # Out of hours nothing accrues: jump to the next opening.
        local = tick.astimezone(zone)
        if local.time() >= WORKDAY_END or local.weekday() >= 5:
            nxt = datetime.combine(local.date() + timedelta(days=1), WORKDAY_START, tzinfo=zone)
            tick = nxt.astimezone(UTC) + SLA_TICK
        else:
            tick += SLA_TICK
    return tick


def _ceil(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(2000, 1, 3, tzinfo=UTC)
    steps = -(-(moment - epoch) // step)
    return epoch + steps * step


def minute(moment: datetime, *, after: datetime) -> datetime:
    """Whole minutes (as a person's clicks would be recorded, roughly), kept after ``after``."""
    rounded = moment.replace(second=0, microsecond=0)
    while rounded <= after:
        rounded += timedelta(minutes=1)
    return rounded


def money(usd: Decimal, currency: str) -> int:
    return round_fee(usd * RATES[currency], currency)


def round_fee(amount: Decimal, currency: str) -> int:
    step = 5000 if currency == "CNY" else 500
    return max(step, int(amount / step + Decimal("0.5")) * step)


def filed_request(rng: random.Random, speakers: list[Speaker], created: datetime) -> ValidRequest:
    """A request as an organizer files it at ``created``: one to three of ``speakers``
    (the popular ones more often), a date one to four months ahead, a place, a budget."""
    city, country, zone, currency, language, _ = rng.choices(
        PLACES, weights=[p[5] for p in PLACES]
    )[0]
    virtual = city is None
    wanted = rng.choices([1, 2, 3], weights=[70, 22, 8])[0]
    chosen: list[Speaker] = []
    while len(chosen) < wanted:
        speaker = rng.choices(speakers, weights=[POPULARITY.get(s.slug, 8) for s in speakers])[0]
        if speaker not in chosen:
            chosen.append(speaker)
    fmt = "virtual" if virtual else rng.choice(["keynote", "keynote", "panel", "fireside",
                                                "moderation", "workshop"])  # fmt: skip
    lead = timedelta(days=rng.randint(28, 120))
    day = (created + lead).astimezone(ZoneInfo(zone)).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    starts_local = datetime.combine(day, time(rng.choice([9, 10, 11, 14, 15])))
    ends_local = starts_local + timedelta(hours=DURATION[fmt])
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    org = rng.choice(ORGANIZATIONS)
    band = max(s.fee_max for s in chosen)
    budget = money(Decimal(band) * Decimal(rng.choice(["0.5", "0.8", "1", "1.2"])), currency)
    return ValidRequest(
        speakers=[s.slug for s in chosen],
        event_name=f"{org} {rng.choice(EVENT_KINDS)} {day.year}",
        organization=f"{org} (demo)",
        contact_name=f"{first} {last}",
        contact_email=f"{first}.{last}@example.{rng.choice(['com', 'org', 'net'])}".lower(),
        contact_phone=None,
        timezone=zone,
        starts_local=starts_local,
        ends_local=ends_local,
        starts_at=starts_local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC),
        ends_at=ends_local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC),
        format=fmt,
        is_virtual=virtual,
        city=city,
        country=country,
        audience_size=rng.choice([40, 80, 120, 200, 350, 600, 1200]),
        audience=rng.choice(AUDIENCES),
        budget_min=None,
        budget_max=budget if rng.random() < 0.7 else None,
        currency=currency,
        message=None,
        language=language,
    )


def moments(rng: random.Random, first_monday: datetime, latest: datetime) -> list[datetime]:
    """When the requests were filed: a growing bureau, fewer at weekends."""
    moments: list[datetime] = []
    for week in range(WEEKS):
        monday = first_monday + timedelta(weeks=week)
        span = min(timedelta(weeks=1), latest - monday)
        if span <= timedelta(0):
            break
        volume = 5 + 4 * week / WEEKS + rng.uniform(-2, 2)
        count = round(volume * span / timedelta(weeks=1))
        for _ in range(count):
            offset = timedelta(minutes=rng.randrange(int(span.total_seconds() // 60)))
            moment = monday + offset
            if moment.weekday() >= 5 and rng.random() < 0.7:
                moment -= timedelta(days=moment.weekday() - rng.randrange(5))
            moments.append(moment)
    return sorted(moments)
