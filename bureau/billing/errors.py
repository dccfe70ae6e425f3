"""Why billing refused: one exception the staff pages flash, and a ValueError for callers."""

from __future__ import annotations

from bureau.bookings.workflow import ActionError


class BillingRefused(ActionError, ValueError):
    """The invoice or payment cannot be made with this input; the message says why and that
    nothing was changed. An ``ActionError``, so the back office flashes it like any other
    refused step."""
