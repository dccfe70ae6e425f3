"""A shortlist in the organizer's language: the speaker's Chinese headline and home city on
the status page and in the shortlist email, the city as staff typed it when they changed it."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from bureau.bookings import actions
from bureau.bookings.models import BookingRequest
from bureau.bookings.workflow import Actor
from bureau.catalogue.models import Speaker
from bureau.extensions import db
from bureau.mail.compose import render_booking_mail
from bureau.mail.recipients import Recipient, links_for
from tests.workflow_helpers import submit_and_route

DESK = Actor("staff", "Greater China desk")


def shortlisted(app: Flask) -> int:
    """A request shortlisted with Kaiser Kuo (his own home city), Winston Ma (a city staff
    typed: where he travels from) and Ashley Dudarenok."""
    booking_id = submit_and_route(app).id
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        kuo = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
        assert kuo.home_city_zh == "北京"
        picks = [
            actions.Candidate("kaiser-kuo", 12000, kuo.home_city, None),
            actions.Candidate("winston-ma", 15000, "Singapore", None),
            actions.Candidate("ashley-dudarenok", 14000, "Hong Kong", None),
        ]
        actions.shortlist(db.session, booking, picks, actor=DESK, expected_version=None)
        db.session.commit()
        return booking_id


def test_the_status_page_names_the_city_and_headline_in_chinese(app: Flask) -> None:
    booking_id = shortlisted(app)
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        token = booking.tracking_token
        kuo = db.session.scalars(select(Speaker).where(Speaker.slug == "kaiser-kuo")).one()
        headline_zh, headline = kuo.headline_zh, kuo.headline
    client = app.test_client()
    chinese = client.get(f"/requests/{token}", headers={"Accept-Language": "zh-CN"}).text
    assert "北京" in chinese
    assert headline_zh in chinese
    assert "Singapore" in chinese  # typed by staff: shown as typed
    english = client.get(f"/requests/{token}", headers={"Accept-Language": "en"}).text
    assert "Beijing" in english
    assert "北京" not in english
    assert headline in english


def test_the_shortlist_email_names_the_city_in_the_readers_language(app: Flask) -> None:
    booking_id = shortlisted(app)
    with app.app_context():
        booking = db.session.get(BookingRequest, booking_id)
        assert booking is not None
        links = links_for(Recipient.ORGANIZER, booking)
        chinese = render_booking_mail(
            "proposal", booking, role=Recipient.ORGANIZER, links=links, locale="zh_Hans"
        )
        english = render_booking_mail("proposal", booking, role=Recipient.ORGANIZER, links=links)
        for text in (chinese.text, chinese.html):
            assert "北京" in text
            assert "Singapore" in text
        for text in (english.text, english.html):
            assert "Beijing" in text
            assert "北京" not in text
