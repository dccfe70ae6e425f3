"""A real SMTP server for tests (aiosmtpd), with scripted replies per recipient."""

from __future__ import annotations

import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Inbox:
    """Collects accepted messages. ``script(rcpt, "421 …", …)`` makes the next RCPT TO for
    that address get those replies first; ``stall()`` holds every RCPT TO until
    ``release()`` (to catch a worker mid-conversation)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.attempts: dict[str, int] = defaultdict(int)
        self._scripts: dict[str, deque[str]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self.stalled = threading.Event()

    # --- aiosmtpd hooks
    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        import asyncio

        with self._lock:
            self.attempts[address.lower()] += 1
            script = self._scripts[address.lower()]
            reply = script.popleft() if script else None
        while not self._open.is_set():
            self.stalled.set()
            await asyncio.sleep(0.05)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    # --- test controls
    def script(self, address: str, *replies: str) -> None:
        with self._lock:
            self._scripts[address.lower()].extend(replies)

    def stall(self) -> None:
        self.stalled.clear()
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.attempts.clear()
            self._scripts.clear()
        self.release()

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def wait_for(
        self, condition: Callable[[Inbox], bool], timeout: float = 20.0, what: str = "mail"
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self):
                return
            time.sleep(0.05)
        subjects = [str(m["Subject"]) for m in self.messages]
        raise AssertionError(f"timed out waiting for {what}; inbox has {subjects}")


class SMTPServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=free_port())

    def start(self) -> None:
        self.controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}"

    def stop(self) -> None:
        self.controller.stop()
