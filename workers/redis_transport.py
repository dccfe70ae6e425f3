"""kombu's Redis transport, with a worker that survives a Redis restart (issue 22).

When the connection to Redis drops, the consumer closes the connection, and kombu clears the
transport's ``client``; a channel closed after that (its QoS restoring the messages it had
not acknowledged, ``restore_unacked_once``) builds a new connection pool from that client and
fails with ``AttributeError: 'NoneType' object has no attribute 'hostname'`` in
``Channel._connparams``. An AttributeError is not one of the transport's connection errors,
so Celery calls it an "Unrecoverable error" and the worker exits (seen 7 times in 25 Redis
restarts under load). The same failure in the same place: celery/kombu#582 (closing a
channel after the connection was gone, "Error on restarting Gossip") and celery/kombu#970
(``restore_unacked_once`` on a closed connection); no kombu release fixes it (5.7.0).

Here a channel whose transport has lost its client raises a connection error instead, which
Celery handles by reconnecting, and a restore that cannot reach Redis is skipped: those
messages stay in Redis's unacknowledged set (redelivered after the visibility timeout), and
the outbox does not depend on them anyway — the sweeper re-sends every job still pending.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis

logger = logging.getLogger(__name__)


def _closed(channel: Any) -> bool:
    transport = getattr(channel, "connection", None)
    return transport is None or getattr(transport, "client", None) is None


class QoS(redis.QoS):
    def restore_unacked_once(self, stderr: Any = None) -> Any:
        try:
            return super().restore_unacked_once(stderr)  # type: ignore[no-untyped-call]
        except Exception as error:
            if not (_closed(self.channel) or isinstance(error, self.channel.connection_errors)):
                raise
            logger.warning(
                "broker connection lost: %d unacknowledged messages not restored (%s); "
                "the sweeper sends their jobs again",
                len(self._delivered),
                error,
            )
            self._delivered.clear()
            self._delivered.restored = True  # type: ignore[attr-defined]
            return None


class Channel(redis.Channel):
    QoS = QoS

    def _connparams(self, asynchronous: bool = False) -> Any:
        if _closed(self):
            raise ConnectionError("the broker connection was closed")  # a connection error
        return super()._connparams(asynchronous)  # type: ignore[no-untyped-call]


class Transport(redis.Transport):
    Channel = Channel
