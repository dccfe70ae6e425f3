"""JSON API for the catalogue, for sites that embed the bureau's speakers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request
from flask.typing import ResponseReturnValue

from bureau.catalogue.models import Speaker
from bureau.catalogue.queries import speaker_by_slug, speaker_search
from bureau.catalogue.views import filters_from_args
from bureau.extensions import db
from bureau.urls import public_url

bp = Blueprint("catalogue_api", __name__, url_prefix="/api/v1")
MAX_PER_PAGE = 100


def speaker_json(speaker: Speaker, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": speaker.slug,
        "name": speaker.name,
        "headline": speaker.headline,
        "topics": [{"slug": t.slug, "name": t.name} for t in speaker.topics],
        "languages": speaker.languages,
        "formats": speaker.formats,
        "home": {
            "city": speaker.home_city,
            "country": speaker.home_country,
            "timezone": speaker.home_timezone,
        },
        "fee_band": {
            "min": speaker.fee_min,
            "max": speaker.fee_max,
            "currency": speaker.fee_currency,
            "is_example": speaker.is_fee_example,
        },
        "url": public_url("catalogue.speaker", slug=speaker.slug),
        "request_url": public_url("bookings.request_form", speaker=speaker.slug),
    }
    if full:
        data["bio"] = speaker.bio
    return data


@bp.get("/speakers")
def speakers() -> ResponseReturnValue:
    page = db.paginate(
        speaker_search(filters_from_args(), db.engine.dialect.name),
        per_page=request.args.get("per_page", 50, type=int),
        max_per_page=MAX_PER_PAGE,
        error_out=False,
    )
    return jsonify(
        {
            "speakers": [speaker_json(s) for s in page.items],
            "page": page.page,
            "pages": page.pages,
            "total": page.total,
        }
    )


@bp.get("/speakers/<slug>")
def speaker(slug: str) -> ResponseReturnValue:
    found = speaker_by_slug(db.session, slug)
    if found is None:
        abort(404)
    return jsonify(speaker_json(found, full=True))
