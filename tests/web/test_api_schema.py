"""Property-based API testing (Schemathesis) against our OpenAPI document: no input makes a 5xx.

Bounded: a few valid and a few invalid examples per operation, as the admin (every route open). The
operations are driven with Hypothesis directly (Schemathesis' pytest plugin does not load under this
pytest); `test_every_operation_was_exercised` keeps the loop honest.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from kakuri.settings import load_settings
from kakuri.store.config import open_stores
from kakuri.web.app import create_app
from tests.web.factories import add_users, quick_argon2, store_message

EXAMPLES = 5


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with quick_argon2():
        config = load_settings(tmp_path_factory.mktemp("schema") / "kakuri-data")
        stores = open_stores(config)
        token = add_users(stores)["admin"]
        for _ in range(3):
            store_message(stores)
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(config, stores=stores))
        yield schema, {"Authorization": f"Bearer {token}"}
        stores.close()


def _operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_causes_a_server_error(api, mode):
    schema, headers = api
    errors, statuses = [], set()
    for operation in _operations(schema):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=True)
        def call(case):
            response = case.call(headers=headers)
            statuses.add(response.status_code)
            if response.status_code >= 500:
                errors.append(f"{operation.label}: {response.status_code} for {case.as_curl_command()}")

        try:
            call()
        except Unsatisfiable:  # nothing to make invalid (e.g. GET /me has no parameters)
            assert mode is GenerationMode.NEGATIVE
    assert errors == []
    assert 401 not in statuses and (200 in statuses or mode is GenerationMode.NEGATIVE)


def test_every_operation_was_exercised(api):
    labels = {operation.label for operation in _operations(api[0])}
    documented = {f"{method.upper()} {path}" for path, ops in api[0].raw_schema["paths"].items() for method in ops}
    assert labels == documented and "POST /api/v1/quarantine/bulk" in labels and "POST /api/v1/emergency/on" in labels
