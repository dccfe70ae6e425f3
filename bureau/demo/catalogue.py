"""The demo catalogue drawn from the China Speakers Bureau weblog; loading it is idempotent."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

from sqlalchemy import select

from bureau.catalogue.models import Post, PostSpeaker, Speaker, Topic
from bureau.catalogue.services import CHINESE_FIELDS
from bureau.db import AnySession

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedReport:
    topics_added: int
    speakers_added: int
    posts_added: int

    def __str__(self) -> str:
        return (
            f"{self.topics_added} topics, {self.speakers_added} speakers and "
            f"{self.posts_added} posts added"
        )


def demo_data() -> dict[str, Any]:
    text = resources.files("bureau.demo").joinpath("catalogue.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def load_demo_catalogue(session: AnySession) -> SeedReport:
    """Add the demo topics, speakers and posts that are missing, matched by slug.

    Rows that exist are left alone, so staff edits survive a second run; the caller commits.
    """
    data = demo_data()
    topics = {t.slug: t for t in session.scalars(select(Topic))}
    speakers = {s.slug: s for s in session.scalars(select(Speaker))}
    existing_posts = set(session.scalars(select(Post.slug)))
    added = [0, 0, 0]

    for item in data["topics"]:
        if item["slug"] in topics:
            # A topic loaded before topics had Chinese names gets its own, unless staff
            # renamed it since.
            topic = topics[item["slug"]]
            if topic.name_zh is None and topic.name == item["name"]:
                topic.name_zh = item.get("name_zh")
            continue
        topics[item["slug"]] = Topic(
            slug=item["slug"], name=item["name"], name_zh=item.get("name_zh")
        )
        session.add(topics[item["slug"]])
        added[0] += 1

    for item in data["speakers"]:
        if item["slug"] in speakers:
            _add_chinese(speakers[item["slug"]], item)
            continue
        speaker = Speaker(
            slug=item["slug"],
            name=item["name"],
            headline=item["headline"],
            bio=item["bio"],
            **{name: item.get(name) for name in CHINESE_FIELDS},
            home_city=item["home_city"],
            home_country=item["home_country"],
            home_timezone=item["home_timezone"],
            fee_min=item["fee_min"],
            fee_max=item["fee_max"],
            fee_currency=item["fee_currency"],
            # A demo mailbox: availability checks land in instance/mail/ like all demo mail.
            email=f"{item['slug']}@speakers.bureau.localhost",
            is_fee_example=True,
            is_featured=item.get("featured", False),
            topics=[topics[slug] for slug in item["topics"]],
        )
        speaker.set_languages(item["languages"])
        speaker.set_formats(item["formats"])
        session.add(speaker)
        speakers[item["slug"]] = speaker
        added[1] += 1

    for item in data["posts"]:
        if item["slug"] in existing_posts:
            continue
        session.add(
            Post(
                slug=item["slug"],
                title=item["title"],
                published_on=date.fromisoformat(item["published_on"]),
                source=item.get("source"),
                body=item["body"],
                language=item.get("language", "en"),
                speaker_links=[
                    PostSpeaker(speaker=speakers[slug], position=i)
                    for i, slug in enumerate(item["speakers"])
                ],
            )
        )
        added[2] += 1

    session.flush()
    report = SeedReport(*added)
    logger.info("demo catalogue: %s", report)
    return report


def _add_chinese(speaker: Speaker, item: dict[str, Any]) -> None:
    """A demo speaker loaded before the catalogue had Chinese texts gets them, unless staff
    edited the speaker since (saving sets the fee band to real terms)."""
    if speaker.is_fee_example:
        for name in CHINESE_FIELDS:
            if getattr(speaker, name) is None and item.get(name):
                setattr(speaker, name, item[name])


def catalogue_is_empty(session: AnySession) -> bool:
    return session.scalars(select(Speaker.id).limit(1)).first() is None
