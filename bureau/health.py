"""Liveness and readiness probes for load balancers and orchestrators.

``/readyz`` answers 503 only when the web itself cannot work: the database or the broker is
unreachable. Workers, beat and the outbox's backlog are reported in ``checks``, and a problem
there makes the status ``degraded`` with a 200: the web must keep accepting requests into the
outbox while workers are down (they catch up when they return), so a load balancer must not
take it out of service for that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from bureau.extensions import db

if TYPE_CHECKING:
    from bureau.ops.queries import QueueDepth

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    from bureau.ops.queries import readiness_checks

    settings = current_app.config["BUREAU_SETTINGS"]
    problems: dict[str, str] = {}
    checks: dict[str, Any] = {}
    reasons: list[str] = []
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:
        problems["database"] = type(exc).__name__
        db.session.rollback()
    queue = current_app.extensions["celery"].conf.task_default_queue
    depth = _broker_depth(settings.broker_url, queue)
    if depth.messages is None:
        problems["broker"] = (depth.error or "unreachable").split(":", 1)[0]
    else:
        checks["queue"] = {"name": queue, "messages": depth.messages}
    if "database" not in problems:
        try:
            found, reasons = readiness_checks(db.session, settings)
            checks.update(found)
        except Exception as exc:  # e.g. not migrated yet: still answer, saying so
            db.session.rollback()
            reasons = [f"checks unavailable: {type(exc).__name__}"]
    if problems:
        failing = ", ".join(sorted(problems))
        body = {"status": f"unavailable: {failing}", "failing": problems, "checks": checks}
        return jsonify(body), 503
    if reasons:
        return jsonify({"status": "degraded", "reasons": reasons, "checks": checks})
    return jsonify({"status": "ready", "checks": checks})


def _broker_depth(broker_url: str, queue: str) -> QueueDepth:
    """queue_depth, but answered at once while the publishing breaker says the broker is
    away (a probe of a broker that is down takes seconds), and feeding the breaker."""
    from bureau.ops.queries import QueueDepth, queue_depth

    breaker = current_app.extensions["broker_breaker"]
    if not breaker.allow():
        return QueueDepth(queue, None, "OperationalError: broker away (recent failure)")
    depth = queue_depth(broker_url, queue)
    if depth.messages is None:
        breaker.failed()
    else:
        breaker.succeeded()
    return depth
