"""Liveness and readiness probes for load balancers and orchestrators.

``/readyz`` answers 503 only when the web itself cannot work: the database or the broker is
unreachable. Workers, beat and the outbox's backlog are reported in ``checks``, and a problem
there makes the status ``degraded`` with a 200: the web must keep accepting requests into the
outbox while workers are down (they catch up when they return), so a load balancer must not
take it out of service for that.

Anyone gets the status and the names of the failing parts; the details (worker host names,
queue name, error classes, outbox figures) go to signed-in admins and to callers on this
machine (a container's health check, ``curl`` on the host). Behind ``BUREAU_PROXIES``,
``remote_addr`` is the client's address as ProxyFix read it from ``X-Forwarded-For``, so a
proxy on the same host does not make every caller local.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import text

from bureau.extensions import db

if TYPE_CHECKING:
    from bureau.ops.queries import QueueDepth

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify({"status": "ok"})


def is_loopback(address: str | None) -> bool:
    try:
        found = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped.is_loopback
    return found.is_loopback


def sees_details(database_up: bool) -> bool:
    """Whether this caller may read the probe's details."""
    if is_loopback(request.remote_addr):
        return True
    if not database_up:  # the session's staff member is read from the database
        return False
    try:
        return bool(current_user.is_authenticated and current_user.is_admin)
    except Exception:
        db.session.rollback()
        return False


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    from bureau.ops.queries import readiness_checks

    settings = current_app.config["BUREAU_SETTINGS"]
    problems: dict[str, str] = {}
    checks: dict[str, Any] = {}
    reasons: dict[str, str] = {}
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
            reasons = {"checks": f"checks unavailable: {type(exc).__name__}"}
    details = sees_details("database" not in problems)
    code = 503 if problems else 200
    if problems:
        status = f"unavailable: {', '.join(sorted(problems))}"
        body: dict[str, Any] = {"status": status, "failing": problems, "checks": checks}
    elif reasons:
        body = {"status": "degraded", "reasons": list(reasons.values()), "checks": checks}
    else:
        body = {"status": "ready", "checks": checks}
    if not details:
        body = {"status": body["status"], "failing": sorted(problems or reasons)}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, code


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
