"""An SMTP server that accepts everything and keeps only when each recipient got mail."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MailSink:
    """aiosmtpd handler: counts accepted messages and records arrival times (monotonic clock,
    the benchmark process's own) per recipient. The message itself is not parsed."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.messages = 0
        self.last_at = 0.0
        self.first_arrival: dict[str, float] = {}
        self.received: Counter[str] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.monotonic()
        with self._changed:
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

    def duplicates(self, addresses: set[str]) -> int:
        """How many extra copies the given recipients got (each should get exactly one)."""
        with self._changed:
            return sum(max(0, self.received[a.lower()] - 1) for a in addresses)


class SMTPSink:
    def __init__(self) -> None:
        self.sink = MailSink()
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
