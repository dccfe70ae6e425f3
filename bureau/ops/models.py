"""Heartbeats: each worker and beat writes its row while it runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from bureau.db import Base, utcnow


class Heartbeat(Base):
    """The last sign of life of one process: ``worker:<node name>`` or ``beat``.

    A worker writes at start and then every ``WORKER_INTERVAL`` seconds; beat at start and
    whenever it sends a scheduled task. A row whose ``last_seen`` is recent enough is *fresh*.
    """

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # worker | beat
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Set by a clean shutdown: the process is gone, not merely late.
    stopped_at: Mapped[datetime | None]
