"""The `bureau` command: run the whole service, or one of its processes, and admin tasks."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, routes_command, shell_command, with_appcontext
from flask_migrate.cli import db as db_group

from bureau.config import ConfigError


def _create_app() -> Flask:
    from bureau import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def cli() -> None:
    """Bureau: the booking workflow behind a speakers bureau's request form."""


cli.add_command(db_group)
cli.add_command(shell_command)
cli.add_command(routes_command)


def prepare_database(app: Flask) -> None:
    """Create or migrate the schema, and load the demo catalogue into an empty one."""
    from flask_migrate import upgrade

    from bureau.catalogue.demo import catalogue_is_empty, load_demo_catalogue
    from bureau.extensions import db

    with app.app_context():
        upgrade()
        if catalogue_is_empty(db.session):
            report = load_demo_catalogue(db.session)
            db.session.commit()
            click.echo(f"Loaded the demo catalogue: {report}.")
        # Connections must not cross into forked server processes.
        db.engine.dispose()


@cli.command("seed")
@with_appcontext
def seed_command() -> None:
    """Load the demo catalogue (idempotent: only what is missing is added)."""
    from bureau.catalogue.demo import load_demo_catalogue
    from bureau.extensions import db

    report = load_demo_catalogue(db.session)
    db.session.commit()
    click.echo(f"Demo catalogue: {report}.")


def _serve(host: str, port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")
            self.cfg.set("graceful_timeout", 10)

        def load(self) -> Any:
            # Each server process builds its own app (and database connections).
            return _create_app()

    Server().run()


@cli.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
def run_command(host: str, port: int) -> None:
    """Start the whole service on the embedded defaults (Ctrl-C stops it)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    prepare_database(app)
    # Links in emails should point at this server unless the operator chose a public URL.
    os.environ.setdefault("BUREAU_BASE_URL", f"http://{_link_host(host)}:{port}")
    click.echo(f"Bureau is running at http://{host}:{port}/  (Ctrl-C to stop)")
    _serve(host, port, workers=2)


def _link_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - compares only


@cli.command("web")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def web_command(host: str, port: int, workers: int) -> None:
    """Run only the web server (gunicorn), without migrating or seeding."""
    _serve(host, port, workers)


def main() -> None:
    try:
        cli.main(prog_name="bureau")
    except ConfigError as exc:
        click.echo(f"bureau: configuration error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
