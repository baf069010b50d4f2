"""What the security tests share: the token they configure, request helpers, small server limits."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django.test import AsyncClient

from kvapp.http import openapi
from kvapp.urls import urlpatterns

TOKEN = "s3cret-token"
JSON = "application/json"
TEXT_ERROR_PATHS = {"/get", "/add"}  # seed routes that keep the flask server's text errors
TIMEOUT = 10.0  # seconds for any one request, frame or close
SERVER_LIMITS = {"KV_MAX_KEY_BYTES": "64", "KV_MAX_VALUE_BYTES": "1024", "KV_MAX_BODY_BYTES": "8192"}
SAMPLE_ARGS = {"key": "k", "name": "kvapp/missing.js", "lease_id": "1"}


def routes() -> dict[str, Callable[..., Any]]:
    """Every HTTP route as an OpenAPI-style path (``/api/v1/kv/{key}``) and its view."""
    return {"/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(p.pattern)): p.callback for p in urlpatterns}


def operations() -> list[tuple[str, str]]:
    """(path, METHOD) of every documented operation."""
    document = openapi.openapi_document()
    return [
        (path, method.upper()) for path, item in document["paths"].items() for method in item if method != "parameters"
    ]


def concrete_url(path: str) -> str:
    """A concrete URL for a route path."""
    return path.format(**SAMPLE_ARGS)


# Bodies (and queries) that make each write operation valid, by (path, method).
VALID_BODIES: dict[tuple[str, str], Any] = {
    ("/api/v1/txn", "POST"): {"success": [{"op": "put", "key": "k", "value": "v"}]},
    ("/api/v1/leases", "POST"): {"ttl": 60},
}
VALID_QUERIES = {("/api/v1/kv", "DELETE"): "prefix=k"}


async def valid_request(client: AsyncClient, method: str, path: str, query: str = "", **extra: Any) -> Any:
    """One request with a body (or seed parameters) that would be valid for the operation.

    A route naming a lease gets a lease granted for it first, with only ``extra``'s token.
    """
    url = await _with_a_real_lease(client, path, extra) if "{lease_id}" in path else concrete_url(path)
    query = "&".join(part for part in (VALID_QUERIES.get((path, method), ""), query) if part)
    body = VALID_BODIES.get((path, method))
    if body is not None:
        return await client.generic(method, f"{url}?{query}", json.dumps(body), content_type=JSON, **extra)
    if method == "PUT":
        return await client.put(f"{url}?{query}", data={"value": "v"}, content_type=JSON, **extra)
    if method == "POST":
        return await client.post(f"{url}?key=k&value=v&{query}", **extra)
    return await client.generic(method, f"{url}?{query}", **extra)


async def _with_a_real_lease(client: AsyncClient, path: str, extra: dict[str, Any]) -> str:
    token = {name: value for name, value in extra.get("headers", {}).items() if name == "Authorization"}
    granted = await client.post("/api/v1/leases", json.dumps({"ttl": 60}), content_type=JSON, headers=token)
    lease = granted.json().get("id", 1) if granted.status_code == 201 else 1
    return path.format(**{**SAMPLE_ARGS, "lease_id": lease})


def bearer(value: str = TOKEN) -> dict[str, str]:
    """The Authorization header for requests."""
    return {"Authorization": f"Bearer {value}"}
