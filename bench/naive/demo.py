"""The naive service's database as the benchmarks prepare it: its tables, Bureau's demo
speakers (the same slugs the request bodies name) and Bureau's demo agent desks."""

from __future__ import annotations


def prepare_database(url: str) -> None:
    from bench.naive.app import create_app, db, seed
    from bureau.demo.catalogue import demo_data
    from bureau.demo.staff import DESKS
    from bureau.staff.models import Role

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        seed(
            [(s["slug"], s["name"]) for s in demo_data()["speakers"]],
            [(name, email) for email, name, role, *_ in DESKS if role == Role.AGENT],
        )
        db.engine.dispose()
