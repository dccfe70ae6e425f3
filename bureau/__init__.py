"""Bureau: the booking workflow behind a speakers bureau's request form."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from bureau.config import SETTING_NAMES, ConfigError, load_settings
from bureau.logs import RequestIdMiddleware, configure_logging
from bureau.params import IdConverter
from bureau.private_files import private_sqlite
from bureau.resources import resource_dir

__all__ = ["create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web application.

    ``config`` overrides: ``BUREAU_*`` keys are settings (checked like the environment's),
    any other key goes straight into ``app.config`` (e.g. ``WTF_CSRF_ENABLED`` in tests).
    """
    overrides = dict(config or {})
    environ = dict(os.environ)
    environ.update({k: str(v) for k, v in overrides.items() if k in SETTING_NAMES})
    try:
        settings = load_settings(environ)
    except ConfigError as error:
        from bureau.refusal import GUNICORN_APP_LOAD_ERROR, in_gunicorn, refuse

        if in_gunicorn():  # one line, and the master stops instead of restarting the worker
            refuse(error, GUNICORN_APP_LOAD_ERROR)
        raise
    private_sqlite(settings.database_url)
    private_sqlite(settings.broker_url)

    app = Flask(
        __name__,
        instance_path=str(settings.instance_path),
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    app.config.update(settings.flask_config())
    app.config.update({k: v for k, v in overrides.items() if k not in SETTING_NAMES})
    app.url_map.converters["id"] = IdConverter  # every route's row id: see bureau/params.py
    # Leaves alone a host process (pytest, a logging config) that configured logging itself.
    configure_logging(settings.log_format)
    app.wsgi_app = RequestIdMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, access_log=settings.log_format == "json"
    )

    _init_extensions(app)
    _register_blueprints(app)
    return app


def _init_extensions(app: Flask) -> None:
    import bureau.models  # noqa: F401 - registers every table before migrations compare
    from bureau.extensions import bootstrap, csrf, db, migrate
    from bureau.i18n import init_i18n
    from bureau.queue import init_celery
    from bureau.staff.auth import login_manager
    from bureau.staff.sessions import init_sessions

    db.init_app(app)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")))
    csrf.init_app(app)
    bootstrap.init_app(app)
    login_manager.init_app(app)
    init_sessions(app)
    init_i18n(app)
    _engine_events(app)
    init_celery(app)


def _engine_events(app: Flask) -> None:
    """PostgreSQL: idle connections pinged before use; SQLite: the pragmas."""
    from sqlalchemy import event

    from bureau.db import ping_when_idle
    from bureau.extensions import db

    with app.app_context():
        engine = db.engine
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        ping_when_idle(engine)
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets the web read while the worker writes; foreign keys are off by default.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def _register_blueprints(app: Flask) -> None:
    from bureau import errors, health, openapi, templating
    from bureau.billing import views as billing_views
    from bureau.bookings import api as bookings_api
    from bureau.bookings import contract_pages  # noqa: F401 - its routes on bookings.bp
    from bureau.bookings import views as bookings_views
    from bureau.calendar import admin as own_calendar_admin
    from bureau.calendar import feeds as calendar_feeds
    from bureau.calendar import views as own_calendar_views
    from bureau.catalogue import admin as catalogue_admin
    from bureau.catalogue import api as catalogue_api
    from bureau.catalogue import views as catalogue_views
    from bureau.extensions import csrf
    from bureau.i18n import views as i18n_views
    from bureau.insights import views as insights_views
    from bureau.ops import views as ops_views
    from bureau.privacy import views as privacy_views
    from bureau.ratelimit import init_rate_limits
    from bureau.security import init_security
    from bureau.staff import views as staff_views

    app.register_blueprint(catalogue_views.bp)
    app.register_blueprint(bookings_views.bp)
    app.register_blueprint(catalogue_api.bp)
    app.register_blueprint(bookings_api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(staff_views.bp)
    app.register_blueprint(catalogue_admin.bp)
    app.register_blueprint(calendar_feeds.bp)
    app.register_blueprint(own_calendar_admin.bp)
    app.register_blueprint(own_calendar_views.bp)
    app.register_blueprint(privacy_views.bp)
    app.register_blueprint(ops_views.bp)
    app.register_blueprint(insights_views.bp)
    app.register_blueprint(billing_views.bp)
    app.register_blueprint(i18n_views.bp)
    # The JSON API is for other sites and scripts: no cookies, so no CSRF token.
    csrf.exempt(bookings_api.bp)
    errors.register(app)
    init_rate_limits(app)
    templating.register(app)
    init_security(app)
