"""The cancellation schedule: what an organizer owes when a booking is cancelled, by notice.

Written as ``BUREAU_CANCELLATION_SCHEDULE``: rules ``DAYS=OWED`` separated by commas, each
applying from ``DAYS`` days' notice (counted in the event's zone) until the next longer rule.
``OWED`` is ``costs`` (the deposit is refunded less the bureau's costs), ``deposit`` (the
deposit is kept), ``fee`` (the whole fee is due) or a share of the fee such as ``50%``. The
trade's usual terms are the default: 90 days or more, costs; 30 to 89, the deposit; under 30,
the whole fee. A rule for 0 days is required, so every cancellation has an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

DEFAULT_SCHEDULE = "90=costs,30=deposit,0=fee"
MAX_NOTICE_DAYS = 3650
KINDS = ("costs", "deposit", "fee")
_RULE = re.compile(r"(\d{1,4})=(costs|deposit|fee|\d{1,3}(?:\.\d{1,2})?%)")


@dataclass(frozen=True)
class Rule:
    """From ``days`` days' notice on: ``kind`` costs/deposit/fee, or percent of the fee."""

    days: int
    kind: str
    percent: Decimal | None = None

    def words(self) -> str:
        if self.kind == "costs":
            return "the deposit is refunded, less the costs already incurred"
        if self.kind == "deposit":
            return "the deposit is kept"
        if self.kind == "fee":
            return "the whole fee is due"
        return f"{self.percent:f}% of the fee is due"


@dataclass(frozen=True)
class Schedule:
    """Rules from the longest notice to the shortest; the last one is for 0 days."""

    rules: tuple[Rule, ...]

    def rule_for(self, notice_days: int) -> Rule:
        """The rule that applies with this much notice (negative: after the event began)."""
        for rule in self.rules:
            if notice_days >= rule.days:
                return rule
        return self.rules[-1]

    def lines(self) -> list[str]:
        """The schedule in words, one line per rule, for the agreement."""
        out: list[str] = []
        longer: int | None = None
        for rule in self.rules:
            if longer is None:
                span = f"{rule.days} days or more before the event"
            elif rule.days == 0:
                span = f"less than {longer} days before the event"
            else:
                span = f"{rule.days} to {longer - 1} days before the event"
            out.append(f"Cancelled {span}: {rule.words()}.")
            longer = rule.days
        return out


@dataclass(frozen=True)
class Charge:
    """What a cancellation costs the organizer, in the contract's currency."""

    notice_days: int
    rule: Rule
    owed: Decimal  # the organizer's total due for the cancelled booking
    refund: Decimal  # of the deposit, if it was paid


def parse_schedule(text: str) -> Schedule:
    """The schedule ``text`` writes; ValueError naming the setting and the bad part."""
    rules: list[Rule] = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        found = _RULE.fullmatch(part.replace(" ", ""))
        if not found:
            raise ValueError(
                f"BUREAU_CANCELLATION_SCHEDULE: {part!r} is not a rule; write DAYS=OWED with "
                f"OWED costs, deposit, fee or a percentage, e.g. {DEFAULT_SCHEDULE!r}"
            )
        days, owed = int(found.group(1)), found.group(2)
        if days > MAX_NOTICE_DAYS:
            raise ValueError(
                f"BUREAU_CANCELLATION_SCHEDULE: {days} days is more than {MAX_NOTICE_DAYS}"
            )
        if owed.endswith("%"):
            percent = Decimal(owed[:-1])
            if percent > 100:
                raise ValueError(f"BUREAU_CANCELLATION_SCHEDULE: {owed} is more than the fee")
            rules.append(Rule(days, "percent", percent))
        else:
            rules.append(Rule(days, owed))
    days_given = [rule.days for rule in rules]
    if len(set(days_given)) != len(days_given):
        raise ValueError("BUREAU_CANCELLATION_SCHEDULE names the same number of days twice")
    if 0 not in days_given:
        raise ValueError(
            "BUREAU_CANCELLATION_SCHEDULE needs a rule for 0 days (short notice), e.g. '0=fee'"
        )
    return Schedule(tuple(sorted(rules, key=lambda rule: -rule.days)))


def notice_days(event_start: datetime, zone: str, cancelled_at: datetime) -> int:
    """Whole days of notice: calendar days between the two instants' dates in the event's
    zone (cancelling the day before is 1 day's notice, on the day 0)."""
    place = ZoneInfo(zone)
    return (event_start.astimezone(place).date() - cancelled_at.astimezone(place).date()).days


def charge(
    schedule: Schedule,
    *,
    fee: Decimal | int,
    deposit: Decimal | int,
    event_day: date,
    cancelled_on: date,
    costs: Decimal | int = 0,
) -> Charge:
    """What the organizer owes when the booking of ``event_day`` is cancelled on
    ``cancelled_on``; ``costs`` are the bureau's costs so far (kept from a refunded deposit)."""
    fee, deposit, costs = Decimal(fee), Decimal(deposit), Decimal(costs)
    if min(fee, deposit, costs) < 0 or deposit > fee:
        raise ValueError(
            "fee, deposit and costs must not be negative, nor the deposit over the fee"
        )
    days = (event_day - cancelled_on).days
    rule = schedule.rule_for(days)
    if rule.kind == "costs":
        owed = min(costs, deposit)
    elif rule.kind == "deposit":
        owed = deposit
    elif rule.kind == "fee":
        owed = fee
    else:
        assert rule.percent is not None
        owed = fee * rule.percent / 100
    return Charge(days, rule, owed, max(deposit - owed, Decimal(0)))
