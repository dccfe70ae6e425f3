"""The contracts' settings: governing law, cancellation schedule, when the balance is due
and how long before that its invoice goes out.

Read with every other setting at start (bureau/config.py calls ``read_contract_settings``), so
a bad value stops the process with one line naming the variable; services read them back
through ``contract_settings()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app

from bureau.contracts.schedule import DEFAULT_SCHEDULE, Schedule, parse_schedule

DEFAULT_GOVERNING_LAW = "England and Wales"
DEFAULT_BALANCE_DUE_DAYS = 14
DEFAULT_BALANCE_INVOICE_LEAD_DAYS = 14
MAX_BALANCE_DUE_DAYS = 365
GOVERNING_LAW_MAX = 200


@dataclass(frozen=True)
class ContractSettings:
    # Whose laws govern the agreements: "the laws of <governing_law>".
    governing_law: str = DEFAULT_GOVERNING_LAW
    cancellation_schedule: str = DEFAULT_SCHEDULE
    # The balance (fee less deposit) is due this many days before the event.
    balance_due_days: int = DEFAULT_BALANCE_DUE_DAYS
    # The balance invoice goes out this many days before the balance is due.
    balance_invoice_lead_days: int = DEFAULT_BALANCE_INVOICE_LEAD_DAYS

    @property
    def schedule(self) -> Schedule:
        return parse_schedule(self.cancellation_schedule)


def read_contract_settings(get: Callable[[str], str | None]) -> ContractSettings:
    """The settings ``get`` finds (None: unset); ValueError naming the first bad variable."""
    law = get("BUREAU_GOVERNING_LAW") or DEFAULT_GOVERNING_LAW
    if len(law) > GOVERNING_LAW_MAX or any(ord(ch) < 32 for ch in law):
        raise ValueError(
            f"BUREAU_GOVERNING_LAW must be one line of at most {GOVERNING_LAW_MAX} characters "
            f"naming a jurisdiction, e.g. {DEFAULT_GOVERNING_LAW!r}"
        )
    schedule = get("BUREAU_CANCELLATION_SCHEDULE") or DEFAULT_SCHEDULE
    parse_schedule(schedule)
    days = _days(get, "BUREAU_BALANCE_DUE_DAYS", DEFAULT_BALANCE_DUE_DAYS, "before the event")
    lead = _days(
        get,
        "BUREAU_BALANCE_INVOICE_LEAD_DAYS",
        DEFAULT_BALANCE_INVOICE_LEAD_DAYS,
        "before the balance is due",
    )
    return ContractSettings(law, schedule, days, lead)


def _days(get: Callable[[str], str | None], name: str, default: int, when: str) -> int:
    raw = get(name)
    days = default if raw is None else int(raw) if raw.isdigit() else -1
    if not 0 <= days <= MAX_BALANCE_DUE_DAYS:
        raise ValueError(
            f"{name} must be a number of days from 0 to {MAX_BALANCE_DUE_DAYS} {when}, not {raw!r}"
        )
    return days


def contract_settings() -> ContractSettings:
    """The running app's contract settings (defaults outside an app built by create_app)."""
    settings = getattr(current_app.config.get("BUREAU_SETTINGS"), "contracts", None)
    return settings if isinstance(settings, ContractSettings) else ContractSettings()
