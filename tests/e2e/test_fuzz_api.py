"""Fuzz the running server against its own OpenAPI document (schemathesis).

Every operation gets a bounded, derandomized run of generated requests, valid and invalid;
the server must never answer 5xx, and every answer must have a documented status, content
type and body shape. The schema is loaded from the server, so the document served is the
one being held to account.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kvapp.http.openapi import openapi_document
from kvapp.testing.server import ServerProcess

EXAMPLES_PER_OPERATION = 50
REQUEST_TIMEOUT = 10.0  # seconds
METHODS = {"get", "put", "post", "delete"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real daphne server for the whole module (a server per operation would triple the runtime)."""
    data = tmp_path_factory.mktemp("fuzz") / "store.pickle"
    with ServerProcess(data) as process:
        yield process


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    """A keep-alive session shared by every generated request."""
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def api_schema(fuzz_server: ServerProcess) -> schemathesis.BaseSchema:
    """The document as the running server serves it."""
    loaded = schemathesis.openapi.from_url(f"{fuzz_server.url}/api/v1/openapi.json", timeout=REQUEST_TIMEOUT)
    loaded.config.update(base_url=fuzz_server.url)
    return loaded


def _cases() -> list[tuple[str, str, GenerationMode]]:
    """(path, method, mode) to fuzz, read from the in-process document only to name the tests.

    Invalid data is generated only where something can be invalid: a body or a typed query
    parameter. (A path key or a free string parameter cannot be made invalid by type.)
    """
    cases = []
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            cases.append((path, method, GenerationMode.POSITIVE))
            typed = [p for p in operation.get("parameters", []) if p["schema"].get("type") != "string"]
            if "requestBody" in operation or typed:
                cases.append((path, method, GenerationMode.NEGATIVE))
    return cases


# Built by hand rather than with ``schemathesis.pytest.from_fixture``: its lazy loader reads
# ``request.node._nodeid``, which pytest 9 no longer has.
@pytest.mark.parametrize(("path", "method", "mode"), _cases(), ids=str)
def test_api_answers_match_the_document(
    api_schema: schemathesis.BaseSchema, http: requests.Session, path: str, method: str, mode: GenerationMode
) -> None:
    """No 5xx, and every status, content type and body is the documented one."""
    operation = api_schema[path][method.upper()]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(session=http, checks=CHECKS, timeout=REQUEST_TIMEOUT)

    fuzz()


def test_fuzz_server_survived(fuzz_server: ServerProcess) -> None:
    """After the fuzzing the server still answers and logged no unhandled exception."""
    assert requests.get(f"{fuzz_server.url}/healthz", timeout=REQUEST_TIMEOUT).json()["status"] == "ok"
    assert "Traceback" not in fuzz_server.log()
