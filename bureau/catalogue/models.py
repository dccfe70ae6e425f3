"""Speakers, topics and weblog posts: the public catalogue."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bureau.columns import (
    CountryCode,
    CreatedAt,
    CurrencyCode,
    LocaleCode,
    TimeZoneName,
    UpdatedAt,
    link_table,
)
from bureau.db import Base

# Labels in the reader's language (lazy: str() them where they are formatted or serialised).
SPEAKER_FORMATS: dict[str, str] = {
    "keynote": _l("Keynote"),
    "panel": _l("Panel discussion"),
    "workshop": _l("Workshop"),
    "moderation": _l("Moderation"),
    "fireside": _l("Fireside chat"),
    "virtual": _l("Virtual talk"),
}

SEARCH_INDEXED = ("name", "name_zh", "headline", "headline_zh")

speaker_topics = link_table("speaker_topics", speaker_id="speakers.id", topic_id="topics.id")


class Topic(Base):
    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # The name in Chinese, where written; pages fall back to the English (bureau/i18n/content.py).
    # Lists sort by the English name.
    name_zh: Mapped[str | None] = mapped_column(String(120))

    speakers: Mapped[list[Speaker]] = relationship(
        secondary=speaker_topics, back_populates="topics", order_by="Speaker.name"
    )


class Speaker(Base):
    __tablename__ = "speakers"
    __table_args__ = (
        CheckConstraint("fee_min >= 0 AND fee_min <= fee_max", name="fee_band"),
        # Search by any part of a name or headline, Chinese or English (ILIKE '%…%'): a GIN
        # trigram index on PostgreSQL (pg_trgm, migration 0023); SQLite gets a plain one.
        Index(
            "ix_speakers_search",
            *SEARCH_INDEXED,
            postgresql_using="gin",
            postgresql_ops=dict.fromkeys(SEARCH_INDEXED, "gin_trgm_ops"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    headline: Mapped[str] = mapped_column(String(200))
    bio: Mapped[str] = mapped_column(Text)
    # The same in Chinese, where written; pages fall back to the English (bureau/i18n/content.py).
    name_zh: Mapped[str | None] = mapped_column(String(120))
    headline_zh: Mapped[str | None] = mapped_column(String(200))
    bio_zh: Mapped[str | None] = mapped_column(Text)
    # The language the bureau writes to the speaker in.
    locale: Mapped[LocaleCode]
    home_city: Mapped[str] = mapped_column(String(120))
    home_city_zh: Mapped[str | None] = mapped_column(String(120))
    home_country: Mapped[CountryCode]
    home_timezone: Mapped[TimeZoneName]
    fee_min: Mapped[int]
    fee_max: Mapped[int]
    fee_currency: Mapped[CurrencyCode]
    # Where availability checks go; speakers have no login.
    email: Mapped[str | None] = mapped_column(String(254))
    # The secret in the speaker's calendar feed address; rotating it revokes the old one.
    feed_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The demo catalogue's fee bands are examples; the public pages say so.
    is_fee_example: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    is_featured: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    topics: Mapped[list[Topic]] = relationship(
        secondary=speaker_topics, back_populates="speakers", order_by="Topic.name"
    )
    language_rows: Mapped[list[SpeakerLanguage]] = relationship(
        cascade="all, delete-orphan", order_by="SpeakerLanguage.position"
    )
    format_rows: Mapped[list[SpeakerFormat]] = relationship(
        cascade="all, delete-orphan", order_by="SpeakerFormat.position"
    )

    @property
    def languages(self) -> list[str]:
        return [row.code for row in self.language_rows]

    @property
    def formats(self) -> list[str]:
        return [row.format for row in self.format_rows]

    def set_languages(self, codes: list[str]) -> None:
        self.language_rows = [SpeakerLanguage(code=c, position=i) for i, c in enumerate(codes)]

    def set_formats(self, formats: list[str]) -> None:
        self.format_rows = [SpeakerFormat(format=f, position=i) for i, f in enumerate(formats)]


class SpeakerListEntry(Base):
    """One entry of a speaker's ordered list (languages, formats): keyed by speaker and value,
    the value declared by the table between these two (``sort_order`` keeps that order)."""

    __abstract__ = True

    speaker_id: Mapped[int] = mapped_column(
        ForeignKey("speakers.id", ondelete="CASCADE"), primary_key=True, sort_order=-1
    )
    position: Mapped[int] = mapped_column(default=0, sort_order=1)


class SpeakerLanguage(SpeakerListEntry):
    __tablename__ = "speaker_languages"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)


class SpeakerFormat(SpeakerListEntry):
    __tablename__ = "speaker_formats"

    format: Mapped[str] = mapped_column(String(20), primary_key=True)


class PostSpeaker(Base):
    """A speaker a weblog post mentions, in order of mention."""

    __tablename__ = "post_speakers"
    __table_args__ = (UniqueConstraint("post_id", "position"),)

    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    speaker_id: Mapped[int] = mapped_column(
        ForeignKey("speakers.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int]

    speaker: Mapped[Speaker] = relationship(lazy="joined")


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (Index("ix_posts_published_on_id", "published_on", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    published_on: Mapped[date]
    source: Mapped[str | None] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[LocaleCode]  # the language the post is written in
    created_at: Mapped[CreatedAt]

    speaker_links: Mapped[list[PostSpeaker]] = relationship(
        cascade="all, delete-orphan", order_by="PostSpeaker.position"
    )

    @property
    def speakers(self) -> list[Speaker]:
        return [link.speaker for link in self.speaker_links]

    @property
    def paragraphs(self) -> list[str]:
        return [p for p in self.body.split("\n\n") if p.strip()]
