"""The quicker form markup writes what WTForms and Bootstrap-Flask write."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms.widgets.core import html_params as wtforms_html_params

from bureau.staff.forms import CandidateForm
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


def test_the_text_field_macro_writes_what_render_field_writes(app: Flask) -> None:
    """The shortlist's rows: the lean macro (templates/staff/_text_field.html) and
    Bootstrap-Flask's render_field give the same markup, with and without errors."""
    template = app.jinja_env.from_string(
        '{% from "bootstrap5/form.html" import render_field %}'
        '{% from "staff/_text_field.html" import text_field %}'
        "{{ render_field(field) }}|{{ text_field(field) }}"
    )
    bad = MultiDict({"speaker": "x" * 201, "fee_quote": "lots", "note": 'a "quoted" <note>'})
    with app.test_request_context():
        for form in (CandidateForm(), CandidateForm(formdata=bad)):
            form.validate()
            for field in form:
                theirs, ours = template.render(field=field).split("|")
                assert compact(ours) == compact(theirs), field.name
        assert form.errors  # the second form's fields carried their errors
