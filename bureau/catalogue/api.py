"""JSON API for the catalogue, for sites that embed the bureau's speakers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from bureau.catalogue.models import SPEAKER_FORMATS, Speaker
from bureau.catalogue.queries import FEE_BANDS, speaker_by_slug, speaker_search
from bureau.catalogue.views import filters_from_args
from bureau.extensions import db
from bureau.params import MAX_PAGE, page_number, whole_number
from bureau.urls import public_url

bp = Blueprint("catalogue_api", __name__, url_prefix="/api/v1")
MAX_PER_PAGE = 100
MAX_QUERY = 200


def speaker_json(speaker: Speaker, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "slug": speaker.slug,
        "name": speaker.name,
        "headline": speaker.headline,
        "name_zh": speaker.name_zh,
        "headline_zh": speaker.headline_zh,
        "topics": [{"slug": t.slug, "name": t.name, "name_zh": t.name_zh} for t in speaker.topics],
        "languages": speaker.languages,
        "formats": speaker.formats,
        "home": {
            "city": speaker.home_city,
            "city_zh": speaker.home_city_zh,
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
        data["bio_zh"] = speaker.bio_zh
    return data


def list_errors() -> dict[str, list[str]]:
    """The catalogue page forgives odd filters; the API says what is wrong with them, in the
    language of the client's Accept-Language."""
    args, errors = request.args, {}
    for name in ("q", "topic", "language"):
        if len(args.get(name, "")) > MAX_QUERY:
            errors[name] = [_("Use at most %(num)d characters.", num=MAX_QUERY)]
    if args.get("format") and args["format"] not in SPEAKER_FORMATS:
        errors["format"] = [_("Use one of %(values)s.", values=", ".join(sorted(SPEAKER_FORMATS)))]
    if args.get("fee") and args["fee"] not in FEE_BANDS:
        errors["fee"] = [_("Use one of %(values)s.", values=", ".join(sorted(FEE_BANDS)))]
    for name, highest in (("page", None), ("per_page", MAX_PER_PAGE)):
        raw = args.get(name)
        if raw is not None and not whole_number(raw, highest or MAX_PAGE):
            errors[name] = [
                _("Use a whole number from 1 to %(highest)d.", highest=highest)
                if highest
                else _("Use a whole number from 1.")
            ]
    return errors


@bp.get("/speakers")
def speakers() -> ResponseReturnValue:
    errors = list_errors()
    if errors:
        return jsonify({"errors": errors}), 422
    page = db.paginate(
        speaker_search(filters_from_args(), db.engine.dialect.name),
        page=page_number(),
        per_page=whole_number(request.args.get("per_page", "50"), MAX_PER_PAGE),
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
