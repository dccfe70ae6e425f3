"""Where a staff page's time goes, in process: ``python -m bench.profile_pages``.

Not a benchmark run by ``python -m bench``: a developer's tool. A fresh SQLite database in a
temporary folder gets the demo catalogue, desks and 26 weeks of demo history (or, with
``--bench N``, a scratch PostgreSQL database gets bench.pages' seed: 1,000 speakers and N
requests); then the Flask test client, signed in as the admin or the tech
desk, GETs each page ``--repeat`` times. Per page: the mean wall and CPU time without the
profiler (CPU time is the steadier while other processes share the machine), SQL statements
per request, and cProfile's function calls per request with its ``--top`` entries
(``--sort``). Figures are for comparing before and after on one machine.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.pages import add_requests, add_speakers
from bench.report import DEFAULT_POSTGRES_URL, scratch_database

PASSWORD = "profile-pages-password"
ADMIN = "management@bureau.localhost"
AGENT = "tech.desk@bureau.localhost"


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    who: str


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bench",
        type=int,
        metavar="N",
        help="instead: bench.pages' seed (1,000 speakers, N requests) in a scratch PostgreSQL",
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="for --bench")
    parser.add_argument("--repeat", type=int, default=20, help="requests per page (20)")
    parser.add_argument("--top", type=int, default=25, help="profile rows per page (25)")
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (cumulative)")
    parser.add_argument("--only", help="pages whose name contains this")
    return parser.parse_args(argv)


def prepare(folder: Path, database_url: str | None = None, requests: int | None = None) -> Any:
    from flask_migrate import upgrade
    from sqlalchemy import select

    from bureau import create_app
    from bureau.demo.catalogue import load_demo_catalogue
    from bureau.demo.history import load_demo_history
    from bureau.demo.staff import load_demo_staff
    from bureau.extensions import db
    from bureau.staff.auth import set_password
    from bureau.staff.models import StaffMember

    app = create_app(
        {
            "BUREAU_ENV": "development",
            "BUREAU_INSTANCE_PATH": str(folder),
            "BUREAU_DATABASE_URL": database_url or f"sqlite:///{folder / 'bureau.db'}",
            "BUREAU_BASE_URL": "http://127.0.0.1",
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade()
        load_demo_catalogue(db.session)
        load_demo_staff(db.session)
        if requests is None:
            load_demo_history(db.session)
        else:
            db.session.commit()
            add_speakers(db.engine, 1000)
            add_requests(db.engine, requests, seed=0.1)
        for member in db.session.scalars(
            select(StaffMember).where(StaffMember.email.in_((ADMIN, AGENT)))
        ):
            set_password(member, PASSWORD)
        db.session.commit()
    return app


def pages(app: Any) -> list[Page]:
    from sqlalchemy import select

    from bureau.bookings.models import BookingRequest
    from bureau.bookings.states import Status
    from bureau.extensions import db
    from bureau.staff.models import StaffMember

    with app.app_context():
        agent = db.session.scalars(select(StaffMember.id).where(StaffMember.email == AGENT)).one()

        def first(*conditions: Any) -> int | None:
            query = select(BookingRequest.id).where(*conditions).order_by(BookingRequest.id)
            return db.session.scalars(query).first()

        # The benchmark's request page: the tech desk's own, at the shortlist step.
        mine = first(
            BookingRequest.status == Status.ASSIGNED, BookingRequest.assigned_staff_id == agent
        )
        later = first(BookingRequest.status.in_((Status.OFFER_RECEIVED, Status.SPEAKER_ACCEPTED)))
    found = [
        Page("dashboard, admin (all open)", "/staff/", "admin"),
        Page("dashboard, agent (mine)", "/staff/?queue=mine", "agent"),
        Page("dashboard, closed", "/staff/?queue=closed", "admin"),
    ]
    if mine:
        found.append(Page("request page (shortlist step)", f"/staff/requests/{mine}", "agent"))
        found.append(
            Page("request page (shortlist step), admin", f"/staff/requests/{mine}", "admin")
        )
    if later:
        found.append(Page("request page (offer step), admin", f"/staff/requests/{later}", "admin"))
    return found


def signed_in(app: Any, email: str) -> Any:
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert token, "no CSRF token on the sign-in page"
    response = client.post(
        "/staff/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert response.status_code in (302, 303), response.status_code
    return client


def count_statements(app: Any) -> list[int]:
    from sqlalchemy import event

    from bureau.extensions import db

    counter = [0]
    with app.app_context():
        event.listen(
            db.engine, "before_cursor_execute", lambda *_: counter.__setitem__(0, counter[0] + 1)
        )
    return counter


def measure(client: Any, page: Page, repeat: int, counter: list[int], top: int, sort: str) -> str:
    response = client.get(page.path)  # warm: templates compiled, caches filled
    assert response.status_code == 200, (page.path, response.status_code)
    started_count = counter[0]
    started, started_cpu = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        client.get(page.path)
    wall = (time.perf_counter() - started) / repeat
    cpu = (time.process_time() - started_cpu) / repeat
    statements = (counter[0] - started_count) / repeat
    profile = cProfile.Profile(time.process_time)  # CPU time: steadier on a shared machine
    profile.enable()
    for _ in range(repeat):
        client.get(page.path)
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    calls = stats.total_calls / repeat  # type: ignore[attr-defined]
    profiled = stats.total_tt / repeat  # type: ignore[attr-defined]
    stats.sort_stats(sort).print_stats(top)
    head = (
        f"== {page.name} ({page.path}, {page.who}): {wall * 1000:.1f} ms ({cpu * 1000:.1f} CPU), "
        f"{statements:.0f} SQL statements, {calls:,.0f} calls, "
        f"{profiled * 1000:.1f} CPU ms under the profiler"
    )
    return head + "\n" + out.getvalue()


def dispose(app: Any) -> None:
    from bureau.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    with contextlib.ExitStack() as cleanup:
        folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bureau-profile-"))
        database_url = None
        if options.bench:
            _, _, database_url = cleanup.enter_context(
                scratch_database(options.postgres_url, "bureau_profile_pages_")
            )
        app = prepare(Path(folder), database_url, options.bench)
        cleanup.callback(dispose, app)
        counter = count_statements(app)
        clients = {"admin": signed_in(app, ADMIN), "agent": signed_in(app, AGENT)}
        summary = []
        for page in pages(app):
            if options.only and options.only not in page.name:
                continue
            report = measure(
                clients[page.who], page, options.repeat, counter, options.top, options.sort
            )
            print(report)
            summary.append(report.splitlines()[0])
        print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
