"""Schema-driven fuzzing: schemathesis generates requests from the app's own OpenAPI and checks that none gets a
500 (bad input must be a 4xx naming what is wrong).

Schemathesis' pytest plugin (``from_fixture``) does not run under pytest 9, so each operation's Hypothesis
strategy is driven here directly.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from atelier.api import create_app
from atelier.config import load_settings
from atelier.engine import Engine
from atelier.store.sql import Store, sqlite_url

EXAMPLES_PER_OPERATION = 40


@pytest.fixture(scope="module")
def fuzzed(artifacts, tmp_path_factory):
    """(the app's schema, a valid API key)."""
    store = Store(sqlite_url(tmp_path_factory.mktemp("fuzz") / "fuzz.db"))
    service = load_settings()
    service.service.rate_limit_per_minute = 1_000_000  # the fuzzer is one very eager client
    app = create_app(Engine.load(artifacts), settings=service, store=store)
    return schemathesis.openapi.from_asgi("/openapi.json", app), store.create_api_key("fuzz")


def test_no_generated_request_gets_a_server_error(fuzzed):
    schema, key = fuzzed
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # every route is fuzzed, the writing ones included
    for operation in operations:

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def no_server_error(case):
            response = case.call(headers={"X-API-Key": key})
            case.validate_response(response, checks=(not_a_server_error,))

        no_server_error()
