"""The demo catalogue from the bureau's weblog: complete, linked, idempotent."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from bureau.catalogue.models import Post, Speaker, Topic
from bureau.demo.catalogue import demo_data, load_demo_catalogue
from bureau.extensions import db
from tests.conftest import DEMO_SPEAKERS, bureau_cli, make_app, migrate_and_seed

CONTRACT_SLUGS = set(DEMO_SPEAKERS)


def counts() -> tuple[int, int, int]:
    topics, speakers, posts = (
        db.session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Topic, Speaker, Post)
    )
    return topics, speakers, posts


def test_seed_is_idempotent_and_keeps_edits(tmp_path: Path) -> None:
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'seed.db'}")
    migrate_and_seed(app)
    with app.app_context():
        before = counts()
        assert before == (len(demo_data()["topics"]), 6, len(demo_data()["posts"]))
        speaker = db.session.scalars(select(Speaker).filter_by(slug="kaiser-kuo")).one()
        speaker.headline = "Edited by staff"
        db.session.commit()
        report = load_demo_catalogue(db.session)
        db.session.commit()
        assert (report.topics_added, report.speakers_added, report.posts_added) == (0, 0, 0)
        assert counts() == before
        assert db.session.scalars(select(Speaker.headline).filter_by(slug="kaiser-kuo")).one() == (
            "Edited by staff"
        )


def test_demo_has_the_contract_speakers_with_weblog_facts(db_session: object) -> None:
    speakers = {s.slug: s for s in db.session.scalars(select(Speaker))}
    assert set(speakers) == CONTRACT_SLUGS
    assert "Our Next Reality" in speakers["alvin-wang-graylin"].bio
    assert "The Digital War" in speakers["winston-ma"].bio
    assert "Hurun" in speakers["rupert-hoogewerf"].bio
    assert "China Speakers Bureau" in speakers["fons-tuinstra"].bio
    for speaker in speakers.values():
        assert speaker.is_fee_example
        assert 0 < speaker.fee_min < speaker.fee_max
        assert speaker.topics
        assert speaker.languages
        assert speaker.formats


def test_every_post_links_the_speakers_it_mentions(db_session: object) -> None:
    speakers = list(db.session.scalars(select(Speaker)))
    posts = list(db.session.scalars(select(Post)))
    assert len(posts) >= 10
    for post in posts:
        mentioned = {s.slug for s in speakers if s.name in post.body}
        assert {s.slug for s in post.speakers} == mentioned, post.slug
        assert post.speakers, post.slug


def test_seed_command_reports_what_it_added(tmp_path: Path) -> None:
    """`bureau db upgrade`, then `bureau seed` twice, through Flask's CLI runner on a fresh
    database (tests/test_config.py runs the real `bureau` command once)."""
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'seed.db'}")
    upgrade = bureau_cli(app, "db", "upgrade")
    assert upgrade.exit_code == 0, upgrade.output
    first = bureau_cli(app, "seed")
    second = bureau_cli(app, "seed")
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert "6 speakers" in first.output
    assert "0 topics, 0 speakers and 0 posts added" in second.output
