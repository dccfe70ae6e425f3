"""Public pages: home, the speaker catalogue with search and filters, profiles, the weblog."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from bureau.catalogue.models import SPEAKER_FORMATS, Post
from bureau.catalogue.queries import (
    FEE_BANDS,
    SpeakerFilters,
    featured_speakers,
    languages_in_use,
    posts_mentioning,
    posts_newest_first,
    speaker_by_slug,
    speaker_search,
    topics_in_use,
)
from bureau.extensions import db
from bureau.i18n.content import TEMPLATE_GLOBALS
from bureau.params import page_number
from bureau.reference import CURRENCIES, language_name

bp = Blueprint("catalogue", __name__)

SPEAKERS_PER_PAGE = 12
POSTS_PER_PAGE = 10


def filters_from_args() -> SpeakerFilters:
    args = request.args
    return SpeakerFilters(
        q=args.get("q", "").strip()[:200],
        topic=args.get("topic", "").strip()[:80],
        language=args.get("language", "").strip()[:8],
        format=args.get("format", "").strip()[:20],
        fee=args.get("fee", "").strip()[:20],
    )


@bp.app_context_processor
def catalogue_helpers() -> dict[str, object]:
    return {
        "SPEAKER_FORMATS": SPEAKER_FORMATS,
        "CURRENCIES": CURRENCIES,
        "language_name": language_name,
        **TEMPLATE_GLOBALS,
    }


@bp.get("/")
def home() -> str:
    posts = db.session.scalars(posts_newest_first().limit(3)).all()
    return render_template(
        "catalogue/home.html", speakers=featured_speakers(db.session), posts=posts
    )


@bp.get("/speakers")
def speakers() -> str:
    filters = filters_from_args()
    page = db.paginate(
        speaker_search(filters, db.engine.dialect.name),
        page=page_number(),
        per_page=SPEAKERS_PER_PAGE,
        max_per_page=SPEAKERS_PER_PAGE,
        error_out=False,
    )
    return render_template(
        "catalogue/speakers.html",
        page=page,
        filters=filters,
        topics=topics_in_use(db.session),
        languages=languages_in_use(db.session),
        fee_bands=FEE_BANDS,
    )


@bp.get("/speakers/<slug>")
def speaker(slug: str) -> str:
    found = speaker_by_slug(db.session, slug)
    if found is None:
        abort(404)
    posts = db.session.scalars(posts_mentioning(found)).all()
    return render_template("catalogue/speaker.html", speaker=found, posts=posts)


@bp.get("/news")
def news() -> str:
    page = db.paginate(
        posts_newest_first(),
        page=page_number(),
        per_page=POSTS_PER_PAGE,
        max_per_page=POSTS_PER_PAGE,
        error_out=False,
    )
    return render_template("catalogue/news.html", page=page)


@bp.get("/news/<slug>")
def post(slug: str) -> str:
    found = db.session.scalars(posts_newest_first().where(Post.slug == slug)).first()
    if found is None:
        abort(404)
    return render_template("catalogue/post.html", post=found)
