"""Interop with a real calendar server: Radicale (started here) stores each invitation's
event over CalDAV like a client applying it; after request, update and cancel there is
exactly one entry, at the new time, then cancelled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from icalendar import Calendar

from tests.radicale import radicale_server
from tests.test_ics import engagement, render


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with radicale_server(tmp_path_factory.mktemp("radicale")) as url:
        yield url


def store(calendar: object, ics: bytes) -> None:
    """Save as a client applying the message would: our SEQUENCE, not caldav's own."""
    calendar.save_event(as_calendar_object(ics), increase_seqno=False)  # type: ignore[attr-defined]


def as_calendar_object(ics: bytes) -> str:
    """What a client stores: the iTIP message without METHOD (RFC 4791 forbids it there)."""
    calendar = Calendar.from_ical(ics)
    calendar.pop("METHOD")
    text: str = calendar.to_ical().decode()
    return text


def test_one_entry_follows_request_update_and_cancel(radicale: str, tmp_path: Path) -> None:
    import caldav

    with caldav.DAVClient(url=radicale, username="bureau", password="x") as client:  # type: ignore[operator]
        principal = client.principal()
        calendar = principal.make_calendar(name="bureau-test")
        request = render(engagement(), "REQUEST")
        moved = engagement(
            sequence=1,
            starts_at=datetime(2027, 4, 2, 12, 0, tzinfo=UTC),
            ends_at=datetime(2027, 4, 2, 13, 0, tzinfo=UTC),
        )
        update = render(moved, "REQUEST")
        cancel = render(
            engagement(sequence=2, starts_at=moved.starts_at, ends_at=moved.ends_at), "CANCEL"
        )

        store(calendar, request)
        assert len(calendar.events()) == 1

        store(calendar, update)
        [entry] = calendar.events()
        event = Calendar.from_ical(entry.data).walk("VEVENT")[0]
        assert event.decoded("DTSTART").astimezone(UTC) == moved.starts_at
        assert event.decoded("SEQUENCE") == 1

        store(calendar, cancel)
        [entry] = calendar.events()
        event = Calendar.from_ical(entry.data).walk("VEVENT")[0]
        assert str(event["STATUS"]) == "CANCELLED"
        assert event.decoded("SEQUENCE") == 2
