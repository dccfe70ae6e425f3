"""The back office: the one ``staff`` blueprint with every feature's pages registered on it."""

from __future__ import annotations

# Each feature module registers its routes on the blueprint when imported.
from bureau.calendar import staff_feed  # noqa: F401
from bureau.inbound import views as inbound_views  # noqa: F401
from bureau.mail import views as mail_views  # noqa: F401
from bureau.staff import (  # noqa: F401
    account,
    contract_actions,
    dashboard,
    exporters,
    request_actions,
    request_invoices,
)
from bureau.staff.blueprint import bp

__all__ = ["bp"]
