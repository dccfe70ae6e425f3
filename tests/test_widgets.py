"""The quicker form markup writes what WTForms and Bootstrap-Flask write."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup
from wtforms.widgets.core import html_params as wtforms_html_params

from bureau.staff.forms import (
    CandidateForm,
    CloseForm,
    CompleteForm,
    CorrectStateForm,
    NoteForm,
    ReassignForm,
)
from bureau.widgets import html_params

names = st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True) | st.sampled_from(
    ["class_", "for_", "data_speaker_id", "aria_describedby", "list", "value"]
)
values = (
    st.booleans()
    | st.integers()
    | st.text()
    | st.text().map(Markup)  # already markup: a raw double quote in it is still escaped
    | st.sampled_from(['"quoted"', "<b>&amp;</b>", "it's", Markup('say "hi" <b>')])
)


@given(st.dictionaries(names, values, max_size=8))
def test_html_params_writes_what_wtforms_writes(attributes: dict[str, Any]) -> None:
    assert html_params(**attributes) == wtforms_html_params(**attributes)
    assert isinstance(html_params(**attributes), Markup)


def compact(html: str) -> str:
    return re.sub(r">\s+<", "><", html.strip())


def basic_fields() -> list[tuple[Any, dict[str, Any]]]:
    """The request page's fields written with basic_field, and the arguments it passes."""
    close = CloseForm(formdata=None)
    reassign = ReassignForm(formdata=None)
    reassign.staff_id.choices = [("rules", "Through the routing rules"), ("7", 'Ann "A" <B>')]
    correct = CorrectStateForm(formdata=None)
    correct.status.choices = [("new", "New"), ("assigned", "Assigned")]
    complete, note = CompleteForm(formdata=None), NoteForm(formdata=None)
    candidate = CandidateForm(formdata=None)
    return [
        (close.to, {}),
        (close.reason, {}),
        (reassign.staff_id, {}),
        (correct.status, {}),
        (correct.reason, {}),
        (correct.password, {"autocomplete": "current-password"}),
        (complete.feedback, {}),
        (complete.early_reason, {}),
        (note.text, {"rows": 2}),
        (candidate.speaker, {}),
        (candidate.fee_quote, {}),
        (candidate.home_city, {"placeholder": 'Beijing "north"'}),
        (candidate.note, {}),
    ]


def test_the_basic_field_macro_writes_what_render_field_writes(app: Flask) -> None:
    """The request page's text, number, textarea and select fields: the lean macro
    (templates/staff/_basic_field.html) and Bootstrap-Flask's render_field give the same
    markup, with and without errors."""
    template = app.jinja_env.from_string(
        '{% from "bootstrap5/form.html" import render_field %}'
        '{% from "staff/_basic_field.html" import basic_field %}'
        "{{ render_field(field, **arguments) }}|{{ basic_field(field, **arguments) }}"
    )
    with app.test_request_context():
        for field, arguments in basic_fields():
            for errors in ([], ['Too "long" <for> this']):
                field.errors = errors
                theirs, ours = template.render(field=field, arguments=arguments).split("|")
                assert compact(ours) == compact(theirs), (field.name, errors)
                assert ("is-invalid" in ours) == bool(errors)
