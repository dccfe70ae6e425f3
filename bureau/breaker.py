"""A circuit breaker in front of the broker: after a failed publish, skip publishing for a few
seconds instead of blocking each request on a broker that is away.

Skipping is safe because the outbox row is committed before anything is published: beat's
sweeper sends whatever was skipped once the broker answers again (bureau/outbox/). One
breaker per process (``app.extensions["broker_breaker"]``, made by bureau.queue), shared by
its threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

COOLDOWN = 5.0  # seconds without trying after a failure; then one call tries (half-open)


class CircuitBreaker:
    """Closed: every call goes through. A failure opens it for ``cooldown`` seconds, during
    which ``allow()`` says no; then one caller at a time is let through to try: its success
    closes the breaker, its failure opens it again."""

    def __init__(self, cooldown: float = COOLDOWN, clock: Callable[[], float] = time.monotonic):
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until: float | None = None  # None: closed
        self._trying = False

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def allow(self) -> bool:
        """May the caller try now? A True must be followed by succeeded() or failed()."""
        with self._lock:
            if self._open_until is None:
                return True
            if self._trying or self._clock() < self._open_until:
                return False
            self._trying = True
            return True

    def succeeded(self) -> None:
        with self._lock:
            self._open_until = None
            self._trying = False

    def failed(self) -> None:
        with self._lock:
            self._open_until = self._clock() + self.cooldown
            self._trying = False
