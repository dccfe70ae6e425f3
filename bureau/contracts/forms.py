"""The organizer's answer to a contract version: accept (name, organization, "on behalf of",
billing details) or decline with a reason. The checks with their messages are the services';
the forms bring CSRF and the fields."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField, TextAreaField

from bureau.contracts.models import (
    ADDRESS_MAX,
    NAME_MAX,
    ORGANIZATION_MAX,
    REASON_MAX,
    TAX_NUMBER_MAX,
)


class AcceptContractForm(FlaskForm):  # type: ignore[misc]
    full_name = StringField(_l("Your full name"), render_kw={"maxlength": NAME_MAX})
    organization = StringField(_l("Organization"), render_kw={"maxlength": ORGANIZATION_MAX})
    on_behalf = BooleanField(_l("I agree on behalf of my organization"))
    billing_address = TextAreaField(
        _l("Billing address for the invoices"), render_kw={"maxlength": ADDRESS_MAX, "rows": 3}
    )
    tax_number = StringField(
        _l("Tax number (VAT, GST…), if any"), render_kw={"maxlength": TAX_NUMBER_MAX}
    )
    # The hash of the text the organizer was shown: what they accept.
    sha256 = HiddenField()


class DeclineContractForm(FlaskForm):  # type: ignore[misc]
    reason = TextAreaField(
        _l("Why do you decline?"), render_kw={"maxlength": REASON_MAX, "rows": 2}
    )
