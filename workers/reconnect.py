"""Broker connections that, once the broker is back, reconnect within seconds (issue 22).

Celery's consumer reconnects with kombu's default pacing: 2 s, then 4, 6 … up to 30 s
between tries. After a long outage a worker could idle half a minute with the broker up
again. Capped here at RECONNECT_MAX seconds; a try costs one refused connect.
"""

from __future__ import annotations

from typing import Any

from kombu.connection import Connection

RECONNECT = {"interval_start": 1.0, "interval_step": 1.0, "interval_max": 5.0}


class ReconnectingConnection(Connection):
    def ensure_connection(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) <= 2:  # (errback, max_retries): the pacing is not given positionally
            kwargs = RECONNECT | kwargs
        return super().ensure_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
