"""Liveness and readiness probes."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import make_app


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_when_database_and_broker_answer(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ready"


def test_readyz_names_the_broker_when_it_is_down(
    tmp_path: Path, database_url: str, app: Flask
) -> None:
    broken = make_app(tmp_path, database_url, BUREAU_BROKER_URL="redis://127.0.0.1:1/0")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert set(body["failing"]) == {"broker"}
    assert "broker" in body["status"]


def test_readyz_names_the_database_when_it_is_down(tmp_path: Path) -> None:
    broken = make_app(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert "database" in response.get_json()["failing"]
