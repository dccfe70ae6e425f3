"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from kombu.connection import Connection
from sqlalchemy import text

from bureau.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    problems: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:
        problems["database"] = type(exc).__name__
        db.session.rollback()
    broker_url = current_app.config["BUREAU_SETTINGS"].broker_url
    try:
        with Connection(broker_url, connect_timeout=2) as connection:  # type: ignore[no-untyped-call]
            connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        problems["broker"] = type(exc).__name__
    if problems:
        failing = ", ".join(sorted(problems))
        return jsonify({"status": f"unavailable: {failing}", "failing": problems}), 503
    return jsonify({"status": "ready"})
