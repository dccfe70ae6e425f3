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
from bureau.refusal import refuse


def _create_app() -> Flask:
    from bureau import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def cli() -> None:
    """Bureau: the booking workflow behind a speakers bureau's request form."""


cli.add_command(db_group)
cli.add_command(shell_command)
cli.add_command(routes_command)


def prepare_database(app: Flask, *, demo_history: bool = False) -> None:
    """Create or migrate the schema, load the demo catalogue into an empty one, and (when
    asked) the demo booking history, once."""
    from flask_migrate import upgrade

    from bureau.demo.catalogue import catalogue_is_empty, load_demo_catalogue
    from bureau.demo.history import load_demo_history
    from bureau.demo.staff import load_demo_staff
    from bureau.extensions import db

    with app.app_context():
        upgrade()
        if catalogue_is_empty(db.session):
            report = load_demo_catalogue(db.session)
            staff, rules = load_demo_staff(db.session)
            db.session.commit()
            click.echo(
                f"Loaded the demo catalogue: {report}; {staff} staff desks, {rules} routing rules."
            )
        if demo_history:
            history = load_demo_history(db.session)
            db.session.commit()
            click.echo(f"Demo history: {history}.")
        # Connections must not cross into forked server processes.
        db.engine.dispose()


@cli.command("seed")
@click.option(
    "--history",
    is_flag=True,
    help="Also add 26 weeks of demo booking requests (once; no email is sent).",
)
@with_appcontext
def seed_command(history: bool) -> None:
    """Load the demo catalogue, staff desks and routing rules (idempotent)."""
    from bureau.demo.catalogue import load_demo_catalogue
    from bureau.demo.history import load_demo_history
    from bureau.demo.staff import load_demo_staff
    from bureau.extensions import db

    report = load_demo_catalogue(db.session)
    staff, rules = load_demo_staff(db.session)
    db.session.commit()
    click.echo(f"Demo catalogue: {report}; {staff} staff desks and {rules} routing rules added.")
    if history:
        summary = load_demo_history(db.session)
        db.session.commit()
        click.echo(f"Demo history: {summary}.")


@cli.group("staff")
def staff_group() -> None:
    """Staff accounts."""


@staff_group.command("create")
@click.argument("email")
@click.option("--name", required=True, help="Shown to colleagues and in emails.")
@click.option("--role", type=click.Choice(["admin", "agent"]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--locale", help="Their language for the staff pages and emails: en, zh_Hans.")
@with_appcontext
def staff_create(
    email: str, name: str, role: str, password_stdin: bool, locale: str | None
) -> None:
    """Create a staff account (or set the password, name and role of an existing one)."""
    from bureau.config import is_mailbox
    from bureau.extensions import db
    from bureau.i18n import LOCALES, supported
    from bureau.staff.auth import (
        find_by_email,
        forget_failures,
        password_problem,
        set_password,
    )
    from bureau.staff.models import StaffMember

    email = email.strip()
    if not is_mailbox(email):
        raise click.BadParameter("not an email address", param_hint="EMAIL")
    local, _, domain = email.rpartition("@")
    email = f"{local}@{domain.lower()}"
    if not password_stdin:
        raise click.UsageError("give the password on standard input with --password-stdin")
    chosen = supported(locale) if locale is not None else None
    if locale is not None and chosen is None:
        known = ", ".join(LOCALES)
        raise click.BadParameter(f"not a language Bureau speaks ({known})", param_hint="--locale")
    password = sys.stdin.readline().rstrip("\r\n")
    problem = password_problem(password)
    if problem:
        raise click.UsageError(f"password: {problem}")
    member = find_by_email(db.session, email)
    created = member is None
    if member is None:
        member = StaffMember(email=email, name=name, role=role)
        db.session.add(member)
    member.name, member.role, member.is_active = name, role, True
    if chosen is not None:
        member.locale = chosen
    forget_failures(db.session, email)  # a reset also lifts any pause on sign-in
    set_password(member, password)
    db.session.commit()
    click.echo(f"{'Created' if created else 'Updated'} {role} {name} <{email}>.")


@cli.group("privacy")
def privacy_group() -> None:
    """Organizers' personal data."""


@privacy_group.command("retention")
@click.option("--dry-run", is_flag=True, help="Only list what would be anonymised.")
@with_appcontext
def privacy_retention(dry_run: bool) -> None:
    """Anonymise requests that never became bookings, and delete received emails, past
    BUREAU_RETENTION_DAYS."""
    from bureau.extensions import db
    from bureau.privacy.retention import apply_retention

    settings = current_app.config["BUREAU_SETTINGS"]
    done = apply_retention(
        db.session,
        days=settings.retention_days,
        mail_folder=settings.instance_path / "mail",
        dry_run=dry_run,
    )
    if done.cutoff is None:
        click.echo("Retention is off (BUREAU_RETENTION_DAYS=0): nothing anonymised.")
        return
    verb = "Would anonymise" if dry_run else "Anonymised"
    click.echo(
        f"{verb} {len(done.references)} requests that never became bookings, "
        f"inactive since before {done.cutoff:%Y-%m-%d %H:%M} UTC "
        f"({done.days} days)" + ("." if dry_run else f"; {done.files} mail files deleted.")
    )
    for reference in done.references:
        click.echo(f"  {reference}")
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(f"{verb} {done.received} received emails older than the period.")


EX_TEMPFAIL = 75  # sysexits.h: the MTA keeps the message and tries again later


@cli.group("mail")
def mail_group() -> None:
    """Email the bureau receives."""


@mail_group.command("receive")
@with_appcontext
def mail_receive() -> None:
    """Take one RFC 5322 message from standard input (an MTA's pipe delivery).

    Exit 0: stored (also a replay, already stored; also a message over
    BUREAU_INBOUND_MAX_BYTES, kept as failed). Exit 75: not stored (the database is
    unreachable): the MTA keeps it and delivers it again later.
    """
    from bureau.extensions import db
    from bureau.inbound.services import receive_raw

    raw = sys.stdin.buffer.read()
    try:
        message = receive_raw(db.session, raw, source="pipe")
        db.session.commit()
    except Exception as error:  # whatever it is, the MTA still holds the message
        db.session.rollback()
        click.echo(f"bureau mail receive: not stored, try again later: {error}", err=True)
        sys.exit(EX_TEMPFAIL)
    if message is None:
        click.echo("Already received: nothing stored.")
    else:
        click.echo(f"Stored as inbound message {message.id} ({message.status}).")


@cli.group("i18n")
def i18n_group() -> None:
    """Translations: extract the marked text, update and compile the catalogues, check them.

    Run from the repository (they read babel.cfg and write bureau/translations/)."""


@i18n_group.command("extract")
def i18n_extract() -> None:
    """Write bureau/translations/messages.pot from the code and templates."""
    from bureau.i18n import catalogues

    catalogues.extract()
    click.echo(f"Wrote {catalogues.TEMPLATE}.")


@i18n_group.command("update")
def i18n_update() -> None:
    """Extract, then merge new and changed messages into every language's .po."""
    from bureau.i18n import catalogues

    catalogues.update()
    click.echo(
        "Updated: "
        + ", ".join(str(catalogues.po_path(code)) for code in catalogues.translated_locales())
    )


@i18n_group.command("compile")
def i18n_compile() -> None:
    """Compile every .po into the .mo the application reads."""
    from bureau.i18n import catalogues

    catalogues.compile_all()


@i18n_group.command("check")
@click.argument("prefixes", nargs=-1)
def i18n_check(prefixes: tuple[str, ...]) -> None:
    """Fail on text not marked for translation, and on messages missing, untranslated or
    fuzzy in a catalogue. PREFIXES (e.g. templates/mail bureau/staff) narrow the first."""
    from bureau.i18n import catalogues, unmarked

    found = unmarked.everything(prefixes)
    for item in found:
        click.echo(f"not marked for translation: {item}")
    report = catalogues.check() if not prefixes else catalogues.CatalogueReport()
    for problem in report.problems:
        click.echo(problem)
    if found or not report.ok:
        click.echo(f"{len(found)} unmarked, {len(report.problems)} catalogue problems.", err=True)
        sys.exit(1)
    click.echo("Every shown text is marked, every message translated.")


def _serve(host: str, port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    from bureau import gunicorn_conf

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            # The production settings file, with this command's address and worker count.
            for name, value in vars(gunicorn_conf).items():
                if name in self.cfg.settings:
                    self.cfg.set(name, value)
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("graceful_timeout", 10)

        def load(self) -> Any:
            # Each server process builds its own app (and database connections).
            return _create_app()

    Server().run()


@cli.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--demo-history",
    is_flag=True,
    help="Add 26 weeks of demo booking requests first (once), as `bureau seed --history`.",
)
def run_command(host: str, port: int, demo_history: bool) -> None:
    """Start the whole service: web, a worker and beat (Ctrl-C stops them all)."""
    from bureau.supervisor import Supervisor

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    prepare_database(app, demo_history=demo_history)
    settings = app.config["BUREAU_SETTINGS"]
    env = dict(os.environ)
    # Links in emails point at this server unless the operator chose a public URL.
    env.setdefault("BUREAU_BASE_URL", f"http://{_link_host(host)}:{port}")
    env["BUREAU_INSTANCE_PATH"] = str(settings.instance_path)
    env["PYTHONUNBUFFERED"] = "1"
    me = [sys.executable, "-m", "bureau"]
    supervisor = Supervisor(
        {
            "web": [*me, "web", "--host", host, "--port", str(port)],
            "worker": [*me, "worker", "--concurrency", "1"],
            "beat": [*me, "beat"],
        },
        env=env,
    )
    mail = "SMTP" if settings.smtp_url else f"files in {settings.instance_path / 'mail'}"
    click.echo(
        f"Bureau is running at http://{host}:{port}/  (Ctrl-C to stop)\n"
        f"  database {settings.database_url}\n  broker   {settings.broker_url}\n  mail     {mail}"
    )
    sys.exit(supervisor.run())


def _celery(*arguments: str) -> None:
    """Become the Celery command (signals and exit status are Celery's own)."""
    from bureau.config import load_settings

    # JSON logs are one object per line: no banner on standard output.
    quiet = ["--quiet"] if load_settings().log_format == "json" else []
    command = [sys.executable, "-m", "celery", "-A", "workers.celery_app", *quiet, *arguments]
    os.execv(sys.executable, command)  # noqa: S606 - our own interpreter, fixed arguments


# Celery's gossip, mingle and event heartbeats talk to the other workers over the broker;
# nothing here uses them (our heartbeats are in the database), and their channels are the
# ones closed after a Redis restart dropped the connection (celery/kombu#582, issue 22).
WORKER_OPTIONS = ("--without-gossip", "--without-mingle", "--without-heartbeat")


@cli.command("worker", context_settings={"ignore_unknown_options": True})
@click.option("--concurrency", "-c", type=int, help="Worker processes (default: CPU count).")
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker_command(concurrency: int | None, celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker (celery -A workers.celery_app worker); extra options go to Celery."""
    extra = ["--concurrency", str(concurrency)] if concurrency else []
    _celery("worker", "--loglevel", "INFO", *WORKER_OPTIONS, *extra, *celery_args)


@cli.command("beat", context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def beat_command(celery_args: tuple[str, ...]) -> None:
    """Run the beat scheduler (exactly one per deployment)."""
    _celery("beat", "--loglevel", "INFO", *celery_args)


@cli.group("ops")
def ops_group() -> None:
    """Operations: health checks for containers."""


@ops_group.group("check")
def ops_check() -> None:
    """Exit 0 when the process has a fresh heartbeat, else 1 with one line saying why."""


@ops_check.command("worker")
@click.option("--hostname", help="Only a worker on this host (its hostname or node name).")
@with_appcontext
def check_worker(hostname: str | None) -> None:
    """A worker (on this host) wrote a heartbeat recently."""
    from bureau.extensions import db
    from bureau.ops.heartbeat import WORKER_STALE_AFTER, fresh_heartbeats

    try:
        workers = fresh_heartbeats(db.session, "worker", WORKER_STALE_AFTER)
    except Exception as error:
        click.echo(f"unhealthy: cannot read heartbeats ({type(error).__name__})", err=True)
        sys.exit(1)
    if hostname:
        workers = [w for w in workers if hostname in (w.hostname, w.name.partition(":")[2])]
    if not workers:
        where = f" on {hostname}" if hostname else ""
        click.echo(
            f"unhealthy: no worker{where} wrote a heartbeat in the last {WORKER_STALE_AFTER:.0f} s",
            err=True,
        )
        sys.exit(1)
    click.echo(f"ok: {', '.join(w.name for w in workers)}")


@ops_check.command("beat")
@with_appcontext
def check_beat() -> None:
    """Beat sent a scheduled task recently."""
    from bureau.extensions import db
    from bureau.ops.heartbeat import beat_stale_after, fresh_heartbeats

    stale_after = beat_stale_after(current_app.config["BUREAU_SETTINGS"])
    try:
        beats = fresh_heartbeats(db.session, "beat", stale_after)
    except Exception as error:
        click.echo(f"unhealthy: cannot read heartbeats ({type(error).__name__})", err=True)
        sys.exit(1)
    if not beats:
        click.echo(f"unhealthy: beat has not run in the last {stale_after:.0f} s", err=True)
        sys.exit(1)
    click.echo(f"ok: beat on {beats[0].hostname}")


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
        refuse(exc)


if __name__ == "__main__":
    main()
