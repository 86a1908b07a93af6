"""Schemathesis against kb's own OpenAPI schema, with an admin token (it may write): no 5xx, no schema violation.

KB_PUBLIC_READ=0, the real engine, a small corpus. Each operation gets generated valid and invalid requests.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from kb.settings import Settings
from web_support import bearer, kb_client, write_corpus

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 25


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("schemathesis")
    with kb_client(Settings(data_dir=root / "data", public_read=False, max_upload_mb=1), write_corpus(root / "corpus"), (("admin1", "admin"),)) as client:
        yield client


@pytest.fixture(scope="module")
def admin_headers(api) -> dict[str, str]:
    return bearer(api, "admin1")


@pytest.fixture(scope="module")
def api_schema(api, admin_headers):
    response = api.get("/openapi.json", headers=admin_headers)
    assert response.status_code == 200
    loaded = schemathesis.openapi.from_dict(response.json())
    loaded.app = api.app  # calls go to the running app in process, through ASGI
    return loaded


def test_no_server_errors_and_no_schema_violations(api_schema, admin_headers):
    """Every operation, valid and invalid requests; the tally is printed for the record (pytest -s)."""
    tally = {"calls": 0, "5xx": 0}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
            def check(case) -> None:
                response = case.call(headers=admin_headers, timeout=120)  # the first call starts the app: engines load
                tally["calls"] += 1
                tally["5xx"] += response.status_code >= 500
                case.validate_response(response, checks=[not_a_server_error, response_schema_conformance], headers=admin_headers)

            try:
                check()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # an operation without inputs has no invalid request
    print(f"schemathesis: {tally['calls']} calls, {tally['5xx']} server errors, 0 schema violations")
    assert tally["calls"] > 0 and tally["5xx"] == 0
