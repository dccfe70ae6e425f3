"""Every public page renders, with the demo catalogue, search and filters."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.conftest import DEMO_SPEAKERS as SIX


@pytest.mark.parametrize(
    "path",
    ["/", "/speakers", "/news", "/request", "/request?speaker=kaiser-kuo", "/healthz"]
    + [f"/speakers/{slug}" for slug in SIX],
)
def test_page_renders(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    if response.mimetype == "text/html":
        page = response.get_data(as_text=True)
        assert "<main" in page
        # Bootstrap is served from this server, never from a CDN.
        assert "/bootstrap/static/css/bootstrap.min.css" in page
        assert "cdn.jsdelivr.net" not in page


def test_bootstrap_assets_are_served_locally(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    for asset in ("css/bootstrap.min.css", "js/bootstrap.min.js"):
        assert asset in page
        with client.get(f"/bootstrap/static/{asset}") as response:
            assert response.status_code == 200
            assert len(response.data) > 10_000


def test_home_shows_featured_speakers_and_latest_posts(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "Featured speakers" in page
    assert "Alvin Wang Graylin" in page
    assert page.count('href="/news/') >= 3


def test_catalogue_lists_the_six_speakers(client: FlaskClient) -> None:
    page = client.get("/speakers").get_data(as_text=True)
    assert "6 speakers" in page
    for slug in SIX:
        assert f'href="/speakers/{slug}"' in page


@pytest.mark.parametrize(
    ("query", "expected", "absent"),
    [
        ("q=billionaires", {"rupert-hoogewerf"}, {"kaiser-kuo"}),
        ("q=Hurun+Report", {"rupert-hoogewerf"}, {"winston-ma"}),
        ("q=digital+war", {"winston-ma"}, {"ashley-dudarenok"}),
        ("topic=e-commerce-retail", {"ashley-dudarenok"}, {"rupert-hoogewerf"}),
        ("language=nl", {"fons-tuinstra"}, {"kaiser-kuo"}),
        ("format=workshop", set(), set()),
        ("fee=under-10k", set(), {"alvin-wang-graylin"}),
        ("q=zzzzunmatched", set(), set(SIX)),
    ],
)
def test_catalogue_search_and_filters(
    client: FlaskClient, query: str, expected: set[str], absent: set[str]
) -> None:
    page = client.get(f"/speakers?{query}").get_data(as_text=True)
    for slug in expected:
        assert f'href="/speakers/{slug}"' in page, slug
    for slug in absent:
        assert f'href="/speakers/{slug}"' not in page, slug


def test_unmatched_search_says_so(client: FlaskClient) -> None:
    page = client.get("/speakers?q=zzzzunmatched").get_data(as_text=True)
    assert "No speaker matches" in page


def test_search_text_is_escaped(client: FlaskClient) -> None:
    page = client.get("/speakers?q=<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_profile_links_to_the_request_form(client: FlaskClient) -> None:
    page = client.get("/speakers/winston-ma").get_data(as_text=True)
    assert 'href="/request?speaker=winston-ma"' in page
    assert "The Digital War" in page
    assert "example figures" in page  # demo fee bands are marked as examples


def test_weblog_posts_link_their_speakers_and_end_with_a_call(client: FlaskClient) -> None:
    news = client.get("/news").get_data(as_text=True)
    assert news.count('href="/news/') >= 10
    page = client.get("/news/hurun-global-rich-list-us-billionaires-outpace-china").get_data(
        as_text=True
    )
    assert 'href="/speakers/rupert-hoogewerf"' in page
    assert 'href="/request?speaker=rupert-hoogewerf"' in page
    assert "request form" in page


@pytest.mark.parametrize(
    "path", ["/speakers/nobody", "/news/nothing", "/requests/not-a-token", "/api/v1/speakers/x"]
)
def test_unknown_things_are_plain_404(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "Traceback" not in response.get_data(as_text=True)


def test_inactive_speaker_is_hidden(client: FlaskClient, db_session: object) -> None:
    from bureau.catalogue.models import Speaker
    from bureau.extensions import db

    speaker = db.session.query(Speaker).filter_by(slug="kaiser-kuo").one()
    speaker.is_active = False
    db.session.commit()
    assert client.get("/speakers/kaiser-kuo").status_code == 404
    assert 'href="/speakers/kaiser-kuo"' not in client.get("/speakers").get_data(as_text=True)
    assert "kaiser-kuo" not in client.get("/request").get_data(as_text=True)


def test_speakers_api_lists_and_shows(client: FlaskClient) -> None:
    listing = client.get("/api/v1/speakers").get_json()
    assert listing["total"] == 6
    assert {s["slug"] for s in listing["speakers"]} == set(SIX)
    detail = client.get("/api/v1/speakers/ashley-dudarenok").get_json()
    assert detail["name"] == "Ashley Dudarenok"
    assert detail["fee_band"]["is_example"] is True
    assert detail["request_url"] == "https://bureau.test/request?speaker=ashley-dudarenok"
    filtered = client.get("/api/v1/speakers?topic=wealth-rich-lists").get_json()
    assert [s["slug"] for s in filtered["speakers"]] == ["rupert-hoogewerf"]
