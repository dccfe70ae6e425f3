"""The OpenAPI document at /api/v1/openapi.json is true: Schemathesis generates requests from
it, valid and invalid, sends them to the app and checks every answer — no 5xx, a documented
status code and content type, a body matching the documented schema, invalid input refused."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bureau.bookings.validation import FIELDS
from bureau.openapi import document

OPERATIONS = [(path, method) for path, item in document()["paths"].items() for method in item]
# A schema-valid request may still be refused with 422 for what no schema can say: a speaker
# slug that is not in the catalogue, a date in the past, an end before the start, a place or
# zone that does not exist. Everything else is checked for it too.
SEMANTIC_CHECKS_ONLY = {("/api/v1/requests", "post")}


@pytest.fixture(scope="module")
def api(app: Flask) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.mark.parametrize("mode", list(GenerationMode), ids=str)
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_the_api_keeps_its_document(api: Any, path: str, method: str, mode: Any) -> None:
    operation = api[path][method.upper()]

    @settings(
        max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy(mode))
    def check(case: Any) -> None:
        if (path, method) in SEMANTIC_CHECKS_ONLY:
            case.call_and_validate(excluded_checks=[positive_data_acceptance])
        else:
            case.call_and_validate()

    check()


def test_the_document_names_every_field_the_validation_accepts(client: Any) -> None:
    served = client.get("/api/v1/openapi.json").get_json()
    assert served == document()
    accepted = served["components"]["schemas"]["RequestInput"]["properties"]
    assert set(accepted) == set(FIELDS)
    assert set(served["paths"]) == {
        "/api/v1/speakers",
        "/api/v1/speakers/{slug}",
        "/api/v1/requests",
        "/api/v1/requests/{token}",
    }
