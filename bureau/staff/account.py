"""Signing in and out, and the staff member's own account: language, time zone, password."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from bureau.db import utcnow
from bureau.extensions import db
from bureau.i18n import COOKIE, COOKIE_MAX_AGE, LOCALES, speaking
from bureau.reference import timezone_names
from bureau.staff import forms
from bureau.staff.auth import (
    LoginRefused,
    authenticate,
    client_address,
    end_sessions,
    password_problem,
    password_problem_for_current,
    set_password,
)
from bureau.staff.blueprint import bp
from bureau.staff.models import StaffMember
from bureau.staff.sessions import start_session
from bureau.templating import staff_time
from bureau.urls import safe_next


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = forms.LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if form.validate_on_submit():
        try:
            member = authenticate(
                db.session,
                form.email.data or "",
                form.password.data or "",
                client=client_address(),
            )
        except LoginRefused as refused:
            form.form_errors.append(str(refused))
            return render_template("staff/login.html", form=form), 401
        login_user(member)
        start_session()
        return redirect(safe_next(form.next.data) or url_for("staff.dashboard"))
    return render_template("staff/login.html", form=form), 400 if form.errors else 200


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    # A copy of the session cookie taken earlier must not outlive the sign-out.
    member = db.session.get(StaffMember, current_user.id)
    if member is not None:
        end_sessions(member)
        db.session.commit()
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("staff.login"))


def account_page(
    status: int = 200,
    *,
    form: forms.PasswordChangeForm | None = None,
    zone_form: forms.TimezoneForm | None = None,
    locale_form: forms.LocaleForm | None = None,
) -> ResponseReturnValue:
    """The staff member's own account: their language, time zone and password."""
    if zone_form is None:
        zone_form = forms.TimezoneForm(formdata=None, timezone=current_user.timezone)
    zone_form.timezone.choices = forms.zone_choices()
    form = form or forms.PasswordChangeForm(formdata=None)
    locale_form = locale_form or forms.LocaleForm(formdata=None, locale=current_user.locale)
    html = render_template(
        "staff/password.html", form=form, zone_form=zone_form, locale_form=locale_form
    )
    return html, status


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password() -> ResponseReturnValue:
    form = forms.PasswordChangeForm()
    if form.validate_on_submit():
        refused = password_problem_for_current(form.current.data or "")
        if refused:
            form.current.errors = [refused]
            return account_page(422, form=form)
        problem = password_problem(form.new.data or "")
        if problem:
            form.new.errors = [problem]
            return account_page(422, form=form)
        member = db.session.get(StaffMember, current_user.id)
        assert member is not None
        set_password(member, form.new.data or "")
        db.session.commit()
        login_user(member)  # this session stays; the others end
        start_session()
        flash(_("Your password is changed; other sessions are signed out."), "success")
        return redirect(url_for("staff.dashboard"))
    return account_page(422 if form.errors else 200, form=form)


def _save_own(**values: str) -> None:
    """Set fields of the signed-in member's own account, and commit."""
    member = db.session.get(StaffMember, current_user.id)
    assert member is not None
    for name, value in values.items():
        setattr(member, name, value)
    db.session.commit()


@bp.post("/timezone")
def set_timezone() -> ResponseReturnValue:
    """The zone every time on the staff pages is shown in for this staff member."""
    form = forms.TimezoneForm()
    if not form.validate_on_submit():
        abort(400)
    name = (form.timezone.data or "").strip()
    if name not in timezone_names():
        form.timezone.errors = [_("Choose a time zone from the list, e.g. Europe/Amsterdam.")]
        return account_page(422, zone_form=form)
    _save_own(timezone=name)
    flash(
        _("Times are now shown in your zone: it is %(now)s.", now=staff_time(utcnow(), name)),
        "success",
    )
    return redirect(url_for("staff.password")), 303


@bp.post("/language")
def set_locale() -> ResponseReturnValue:
    """The staff member's preferred language: the staff pages' and their emails'. This
    browser's switcher follows it at once (its cookie would otherwise win)."""
    form = forms.LocaleForm()
    if not form.validate_on_submit():
        abort(400)
    code = form.locale.data if form.locale.data in LOCALES else None
    if code is None:
        form.locale.errors = [_("Choose a language from the list.")]
        return account_page(422, locale_form=form)
    _save_own(locale=code)
    with speaking(code):
        flash(_("The staff pages now speak %(language)s.", language=LOCALES[code]), "success")
    response = redirect(url_for("staff.password"), code=303)
    response.set_cookie(
        COOKIE, code, max_age=COOKIE_MAX_AGE, samesite="Lax", secure=request.is_secure
    )
    return response
