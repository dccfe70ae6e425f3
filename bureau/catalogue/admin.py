"""Admins edit the catalogue: speakers (create, edit, deactivate), topics, weblog posts."""

from __future__ import annotations

from typing import TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import select

from bureau.calendar.admin import panel as own_calendar_panel
from bureau.calendar.feeds import rotate_feed
from bureau.catalogue import forms
from bureau.catalogue.forms import SLUG, SLUG_RULE, listed
from bureau.catalogue.models import Post, PostSpeaker, Speaker, Topic
from bureau.catalogue.services import SpeakerRefused, save_speaker
from bureau.db import Base
from bureau.extensions import db
from bureau.i18n import DEFAULT_LOCALE
from bureau.staff.auth import guard_staff_pages
from bureau.staff.forms import ResendForm
from bureau.urls import public_url

bp = Blueprint("catalogue_admin", __name__, url_prefix="/staff")


guard_staff_pages(bp, admins_only=True)

Row = TypeVar("Row", bound=Base)
Form = TypeVar("Form", bound=FlaskForm)


def _edit(model: type[Row], row_id: int | None, form_class: type[Form]) -> tuple[Row | None, Form]:
    """The row a new-or-edit page works on (None: a new one; an id naming no row is a 404) and
    its form. A submission is read from its fields only: one left out is missing, not the
    stored value."""
    row = db.session.get(model, row_id) if row_id else None
    if row_id and row is None:
        abort(404)
    return row, form_class(obj=None if request.method == "POST" else row)


def _posted_speaker(speaker_id: int) -> Speaker:
    """The speaker a button on the speakers list acts on, once its CSRF token is checked."""
    speaker = db.session.get(Speaker, speaker_id)
    if speaker is None:
        abort(404)
    if not ResendForm().validate_on_submit():
        abort(400)
    return speaker


@bp.get("/speakers")
def speakers() -> ResponseReturnValue:
    speakers = db.session.scalars(
        select(Speaker).order_by(Speaker.is_active.desc(), Speaker.name)
    ).all()
    feeds = {
        s.id: public_url("calendar.speaker_feed", slug=s.slug, token=s.feed_token)
        for s in speakers
        if s.feed_token
    }
    return render_template(
        "staff/speakers.html", speakers=speakers, toggle=ResendForm(), feeds=feeds
    )


@bp.route("/speakers/new", methods=["GET", "POST"])
@bp.route("/speakers/<id:speaker_id>/edit", methods=["GET", "POST"])
def speaker_form(speaker_id: int | None = None) -> ResponseReturnValue:
    speaker, form = _edit(Speaker, speaker_id, forms.SpeakerForm)
    form.known_topics = set(db.session.scalars(select(Topic.slug)))
    if speaker is not None and not form.is_submitted():
        form.topics.data = ", ".join(t.slug for t in speaker.topics)
        form.languages.data = ", ".join(speaker.languages)
        form.formats.data = ", ".join(speaker.formats)
    if form.validate_on_submit():
        try:
            speaker = save_speaker(db.session, speaker, form.values())
        except SpeakerRefused as refused:
            for name, problem in refused.problems.items():
                getattr(form, name).errors = [problem]
        else:
            db.session.commit()
            flash(_("Saved %(name)s.", name=speaker.name), "success")
            return redirect(url_for("catalogue_admin.speakers")), 303
    status = 422 if form.is_submitted() else 200
    return render_template(
        "staff/speaker_form.html",
        form=form,
        speaker=speaker,
        **own_calendar_panel(db.session, speaker),
    ), status


@bp.post("/speakers/<id:speaker_id>/active")
def toggle_speaker(speaker_id: int) -> ResponseReturnValue:
    speaker = _posted_speaker(speaker_id)
    speaker.is_active = not speaker.is_active
    db.session.commit()
    if speaker.is_active:
        flash(_("%(name)s is now active.", name=speaker.name), "info")
    else:
        flash(_("%(name)s is now deactivated.", name=speaker.name), "info")
    return redirect(url_for("catalogue_admin.speakers")), 303


@bp.post("/speakers/<id:speaker_id>/feed")
def rotate_speaker_feed(speaker_id: int) -> ResponseReturnValue:
    speaker = _posted_speaker(speaker_id)
    rotate_feed(speaker)
    db.session.commit()
    flash(
        _(
            "%(name)s's calendar feed has a new address; the old one no longer works.",
            name=speaker.name,
        ),
        "info",
    )
    return redirect(url_for("catalogue_admin.speakers")), 303


@bp.route("/topics", methods=["GET", "POST"])
def topics() -> ResponseReturnValue:
    form = forms.TopicForm()
    status = 200
    if form.validate_on_submit():
        if not SLUG.match(form.slug.data or ""):
            form.slug.errors = [str(SLUG_RULE)]
        elif db.session.scalar(select(Topic.id).where(Topic.slug == form.slug.data)):
            form.slug.errors = [_("This topic exists already")]
        else:
            db.session.add(
                Topic(
                    slug=form.slug.data,
                    name=form.name.data,
                    name_zh=form.chinese_name(),
                )
            )
            db.session.commit()
            flash(_("Topic %(name)s added.", name=form.name.data), "success")
            return redirect(url_for("catalogue_admin.topics")), 303
    if form.is_submitted():
        status = 422
    rows = db.session.scalars(select(Topic).order_by(Topic.name)).all()
    return render_template("staff/topics.html", form=form, topics=rows), status


@bp.route("/topics/<id:topic_id>/edit", methods=["GET", "POST"])
def topic_form(topic_id: int) -> ResponseReturnValue:
    topic, form = _edit(Topic, topic_id, forms.TopicNamesForm)
    if topic is None:  # a topic is only added on the topics page
        abort(404)
    if form.validate_on_submit():
        topic.name, topic.name_zh = form.name.data, form.chinese_name()
        db.session.commit()
        flash(_("Saved %(name)s.", name=topic.name), "success")
        return redirect(url_for("catalogue_admin.topics")), 303
    status = 422 if form.is_submitted() else 200
    return render_template("staff/topic_form.html", form=form, topic=topic), status


@bp.get("/posts")
def posts() -> ResponseReturnValue:
    rows = db.session.scalars(select(Post).order_by(Post.published_on.desc())).all()
    return render_template("staff/posts.html", posts=rows)


@bp.route("/posts/new", methods=["GET", "POST"])
@bp.route("/posts/<id:post_id>/edit", methods=["GET", "POST"])
def post_form(post_id: int | None = None) -> ResponseReturnValue:
    post, form = _edit(Post, post_id, forms.PostForm)
    if post is not None and not form.is_submitted():
        form.speakers.data = ", ".join(s.slug for s in post.speakers)
    if form.validate_on_submit():
        speakers = {s.slug: s for s in db.session.scalars(select(Speaker))}
        unknown = [slug for slug in listed(form.speakers.data) if slug not in speakers]
        clash = db.session.scalar(
            select(Post.id).where(Post.slug == form.slug.data, Post.id != (post_id or 0))
        )
        if unknown:
            form.speakers.errors = [_("Unknown: %(items)s", items=", ".join(unknown))]
        elif not SLUG.match(form.slug.data or "") or clash:
            form.slug.errors = [_("Lower-case words joined by -, not used by another post")]
        else:
            if post is None:
                post = Post()
                db.session.add(post)
            post.slug, post.title = form.slug.data, form.title.data
            post.language = form.language.data or DEFAULT_LOCALE
            post.published_on, post.source = form.published_on.data, form.source.data or None
            post.body = (form.body.data or "").replace("\r\n", "\n")
            post.speaker_links = [
                PostSpeaker(speaker=speakers[slug], position=i)
                for i, slug in enumerate(listed(form.speakers.data))
            ]
            db.session.commit()
            flash(_("Saved “%(title)s”.", title=post.title), "success")
            return redirect(url_for("catalogue_admin.posts")), 303
    status = 422 if form.is_submitted() else 200
    return render_template("staff/post_form.html", form=form, post=post), status
