"""What one deployment (Bureau's or the naive one) spent on a phase of a benchmark: CPU of its
web and worker process trees and of its PostgreSQL backends, and its SQL statements, commits
and Redis round trips as counted by ``bench.counting``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import counting
from bench.processes import cpu_seconds, process_tree
from bench.report import ms

# The application_name of the benchmark's own connections (polling, pg_stat_activity):
# their backends are not the deployment's.
OBSERVER = "bench-observer"
ROLES = ("web", "worker")


@dataclass
class Snapshot:
    trees: dict[str, float]
    backends: dict[int, float]
    counts: dict[str, dict[str, int]]
    redis_commands: int


@dataclass
class Costs:
    """Totals over a phase; ``per_request`` divides them by the requests it handled."""

    requests: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # web, worker, postgres (CPU-s)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # role -> counting.FIELDS
    redis_commands: int = 0  # the Redis server's, every client's

    def per_request(self, what: str, role: str | None = None) -> float:
        """CPU seconds (``what`` in web/worker/postgres) or counts (statements, commits,
        redis) per request, of one role or of all."""
        if not self.requests:
            return 0.0
        if what in self.cpu:
            return self.cpu[what] / self.requests
        roles = [role] if role else list(self.counts)
        return sum(self.counts[r][what] for r in roles) / self.requests

    def describe(self, roles: Sequence[str] = ROLES) -> str:
        """CPU and counts per request, for a results table."""
        if not self.requests:
            return "—"
        cpu = ", ".join(f"{name} {ms(self.per_request(name))}" for name in self.cpu)
        counted = "; ".join(
            f"{role}: {self.per_request('statements', role):.1f} SQL statements, "
            f"{self.per_request('commits', role):.1f} commits, "
            f"{self.per_request('redis', role):.1f} Redis round trips"
            for role in roles
            if role in self.counts
        )
        return (
            f"CPU {cpu}; {counted}; Redis server commands (all clients) "
            f"{self.redis_commands / self.requests:.1f}"
        )


class CostMeter:
    """Snapshots of one deployment: its process trees (by root pid), its database's
    backends, the counting hook's folders (one per role) and the Redis server's command
    count. ``since(before, requests)`` is what was spent in between."""

    def __init__(
        self,
        observer: Any,  # an SQLAlchemy engine whose connections say application_name OBSERVER
        database: str,
        roots: dict[str, int],
        counts: Path,
        redis_client: Any,
    ) -> None:
        self.observer = observer
        self.database = database
        self.roots = roots
        self.counts = counts
        self.redis = redis_client

    def backends(self) -> dict[int, float]:
        from sqlalchemy import text

        with self.observer.connect() as connection:
            pids = connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = :database"
                    " AND application_name <> :observer"
                ),
                {"database": self.database, "observer": OBSERVER},
            ).scalars()
            return {int(pid): cpu_seconds(int(pid)) for pid in pids}

    def snapshot(self) -> Snapshot:
        return Snapshot(
            trees={
                role: sum(cpu_seconds(pid) for pid in process_tree(root))
                for role, root in self.roots.items()
            },
            backends=self.backends(),
            counts={role: counting.read(self.counts / role) for role in ROLES},
            redis_commands=int(self.redis.info("stats")["total_commands_processed"]),
        )

    def since(self, before: Snapshot, requests: int) -> Costs:
        after = self.snapshot()
        # A backend that ended in between took its CPU time along; a new one counts whole.
        postgres = sum(cpu - before.backends.get(pid, 0.0) for pid, cpu in after.backends.items())
        return Costs(
            requests=requests,
            cpu={role: after.trees[role] - before.trees[role] for role in self.roots}
            | {"postgres": max(0.0, postgres)},
            counts={
                role: {
                    name: after.counts[role][name] - before.counts[role][name]
                    for name in counting.FIELDS
                }
                for role in ROLES
                if any(after.counts[role].values())
            },
            redis_commands=after.redis_commands - before.redis_commands,
        )


def ratio(product: float, naive: float) -> str:
    return f"{product / naive:.2f}x" if naive else "—"
