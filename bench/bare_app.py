"""The bare endpoint ``python -m bench.api`` compares the API with: Flask returning a constant.

Served by the same gunicorn command and settings as Bureau
(``gunicorn -c python:bureau.gunicorn_conf 'bench.bare_app:create_app()'``); it answers the
same POST the API gets, without reading the body, so the difference is Bureau's own work.
"""

from __future__ import annotations

from flask import Flask

ANSWER = b'{"reference":"BR-2027-00001","status":"new"}\n'


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/api/v1/requests")
    def submit() -> tuple[bytes, int, dict[str, str]]:
        return ANSWER, 201, {"Content-Type": "application/json"}

    @app.get("/healthz")
    def healthz() -> tuple[bytes, int, dict[str, str]]:
        return b"ok\n", 200, {"Content-Type": "text/plain"}

    return app
