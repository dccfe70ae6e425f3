"""Error pages and JSON errors: plain words, no stack traces, JSON under /api/."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

logger = logging.getLogger(__name__)

MESSAGES = {
    400: "The request could not be understood.",
    404: "There is nothing at this address.",
    405: "This address does not accept that method.",
    413: "The request is too large.",
    429: "Too many requests from your address. Please wait a moment and try again.",
    500: "Something went wrong on our side. Nothing you sent was lost; please try again.",
}


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        code = error.code or 500
        message = MESSAGES.get(code, error.description or "Error")
        if code == 429:
            message = f"{MESSAGES[429]} (limit: {error.description})"
        if _wants_json():
            response = jsonify({"errors": {"_": [message]}})
            response.status_code = code
        else:
            response = app.make_response(
                (render_template("errors/error.html", code=code, message=message), code)
            )
        for name, value in error.get_headers():
            if name in ("Retry-After", "Allow"):
                response.headers[name] = value
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> ResponseReturnValue:
        message = "Your form expired or came from elsewhere. Please reload the page and try again."
        return render_template("errors/error.html", code=400, message=message), 400

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> ResponseReturnValue:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return http_error(InternalServerError())
