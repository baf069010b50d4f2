"""kvapp.http.openapi: the document is valid and names exactly the routed paths and methods."""

from __future__ import annotations

import pytest
from django.test import AsyncClient
from openapi_spec_validator import validate

from kvapp.http import openapi
from tests.support.security import (
    bearer,
    concrete_url,
    routes,
)

# --- the OpenAPI document ------------------------------------------------------------------


def test_openapi_document_is_valid_openapi_3() -> None:
    validate(openapi.openapi_document())


def test_openapi_document_and_url_conf_name_the_same_paths() -> None:
    routed = set(routes())
    documented = set(openapi.openapi_document()["paths"])
    assert routed - set(openapi.NOT_DOCUMENTED) == documented
    assert set(openapi.NOT_DOCUMENTED) <= routed, "an exemption names a route that no longer exists"


@pytest.mark.parametrize("path", sorted(openapi.openapi_document()["paths"]))
async def test_documented_methods_are_exactly_the_allowed_ones(client: AsyncClient, path: str) -> None:
    documented = {method.upper() for method in openapi.openapi_document()["paths"][path] if method != "parameters"}
    refused = await client.generic("PATCH", concrete_url(path))
    assert refused.status_code == 405
    implied = {"HEAD"} if "GET" in documented else set()  # HEAD wherever GET, as OpenAPI leaves implicit
    assert set(refused["Allow"].split(", ")) == documented | implied


async def test_openapi_document_is_served_behind_the_token(client: AsyncClient, token: str) -> None:
    assert (await client.get("/api/v1/openapi.json")).status_code == 401
    served = await client.get("/api/v1/openapi.json", headers=bearer())
    assert served.json() == openapi.openapi_document()
