"""An SMTP server that accepts everything (or, for a while, refuses with a 4xx) and keeps when
each recipient got mail; on request also each message's Message-ID and Subject."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


REFUSAL = "421 4.3.2 Service not available, try again later"


@dataclass(frozen=True)
class Received:
    """One accepted message, as kept with ``keep_headers``."""

    recipients: tuple[str, ...]
    message_id: str
    subject: str


class MailSink:
    """aiosmtpd handler: counts accepted messages and records arrival times (monotonic clock,
    the benchmark process's own) per recipient. The message itself is parsed only with
    ``keep_headers`` (its headers, into ``kept``). ``refuse_for(seconds)`` answers every
    RCPT TO with a 421 for that long, as a busy server does (counted in ``refused``)."""

    def __init__(self, *, keep_headers: bool = False) -> None:
        self._changed = threading.Condition()
        self.messages = 0
        self.last_at = 0.0
        self.first_arrival: dict[str, float] = {}
        self.received: Counter[str] = Counter()
        self.keep_headers = keep_headers
        self.kept: list[Received] = []
        self.refused = 0
        self._refuse_until = 0.0

    def refuse_for(self, seconds: float) -> None:
        with self._changed:
            self._refuse_until = time.monotonic() + seconds

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        with self._changed:
            if time.monotonic() < self._refuse_until:
                self.refused += 1
                return REFUSAL
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.monotonic()
        kept = None
        if self.keep_headers:
            headers = BytesHeaderParser(policy=default_policy).parsebytes(envelope.content)
            kept = Received(
                tuple(r.lower() for r in envelope.rcpt_tos),
                str(headers["Message-ID"]),
                str(headers["Subject"]),
            )
        with self._changed:
            if kept is not None:
                self.kept.append(kept)
            for recipient in envelope.rcpt_tos:
                address = recipient.lower()
                self.first_arrival.setdefault(address, now)
                self.received[address] += 1
            self.messages += 1
            self.last_at = now
            self._changed.notify_all()
        return "250 OK"

    def wait_for_recipient(self, address: str, timeout: float) -> bool:
        """Block until ``address`` got a message; False after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: address.lower() in self.first_arrival, timeout)

    def wait_for_count(self, messages: int, timeout: float) -> bool:
        """Block until ``messages`` messages arrived in all; False after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self.messages >= messages, timeout)

    def arrival(self, address: str) -> float | None:
        with self._changed:
            return self.first_arrival.get(address.lower())

    def count(self) -> int:
        with self._changed:
            return self.messages

    def received_messages(self) -> list[Received]:
        with self._changed:
            return list(self.kept)

    def duplicates(self, addresses: set[str]) -> int:
        """How many extra copies the given recipients got (each should get exactly one)."""
        with self._changed:
            return sum(max(0, self.received[a.lower()] - 1) for a in addresses)


class SMTPSink:
    def __init__(self, *, keep_headers: bool = False) -> None:
        self.sink = MailSink(keep_headers=keep_headers)
        # server_hostname: aiosmtpd would otherwise call socket.getfqdn() per connection.
        self.controller = Controller(
            self.sink, hostname="127.0.0.1", port=free_port(), server_hostname="bench.localhost"
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}"

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
