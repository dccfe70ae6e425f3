"""workers/redis_transport.py: closing a channel after its connection was collected (what a
Celery worker does when Redis restarts) is a connection error, not an exit; and
workers/reconnect.py: a worker tries to reconnect every few seconds."""

from __future__ import annotations

from typing import Any

import pytest
from kombu.connection import Connection
from kombu.exceptions import OperationalError
from kombu.transport import redis as stock

from workers import redis_transport

pytestmark = pytest.mark.redis


def collected_channel(redis_url: str, transport: Any) -> tuple[Connection, Any]:
    """A channel holding an unacknowledged delivery, whose connection was then collected the
    way the consumer does on a connection error (kombu clears the transport's client)."""
    connection = Connection(redis_url, transport=transport)  # type: ignore[no-untyped-call]
    channel = connection.channel()  # type: ignore[no-untyped-call]
    channel.qos._delivered["tag-1"] = object()  # a message not acknowledged yet
    connection.transport.client = None  # Connection._do_close_transport()
    return connection, channel


def test_the_stock_transport_fails_as_issue_22_saw(redis_url: str) -> None:
    _, channel = collected_channel(redis_url, stock.Transport)
    with pytest.raises(AttributeError, match="hostname"):
        channel.close()
    channel.qos._delivered.clear()  # nothing left for its finalizer at exit


def test_our_transport_leaves_the_messages_in_redis_and_closes(redis_url: str) -> None:
    _, channel = collected_channel(redis_url, redis_transport.Transport)
    channel.close()  # no AttributeError: the worker stays up
    assert channel.closed
    assert not channel.qos._delivered


def test_a_new_pool_on_a_collected_connection_is_a_connection_error(redis_url: str) -> None:
    _, channel = collected_channel(redis_url, redis_transport.Transport)
    channel._disconnect_pools()
    with pytest.raises(ConnectionError):
        channel._create_client()  # what restoring and re-declaring do on such a channel
    assert issubclass(ConnectionError, tuple(channel.connection_errors))
    channel.qos._delivered.clear()


def test_a_worker_reconnects_every_few_seconds_not_every_half_minute() -> None:
    from workers.reconnect import RECONNECT, ReconnectingConnection

    waits: list[float] = []
    connection = ReconnectingConnection("redis://127.0.0.1:1/0")  # type: ignore[no-untyped-call]
    with pytest.raises(OperationalError):
        connection.ensure_connection(lambda error, wait: waits.append(wait), 2)  # refused
    connection.release()  # type: ignore[no-untyped-call]
    assert waits[:2] == [1.0, 2.0]  # kombu's default: 2, 4, 6 … 30
    assert RECONNECT["interval_max"] <= 5
