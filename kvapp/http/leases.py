"""The lease routes: grant and list at ``/api/v1/leases``, show, revoke and keep one alive by id.

A lease is answered as the store's ``Lease.as_dict`` shows it; the id in a path is read as
ASCII digits only, as every number in a URL is.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from kvapp.backend import get_store
from kvapp.conf import kv_settings
from kvapp.http import metrics
from kvapp.http.guard import kv_view
from kvapp.http.inputs import json_object, page_limit, path_lease_id, query_whole
from kvapp.http.responses import json_response
from kvapp.store.base import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from kvapp.store.errors import InvalidRequest
from kvapp.store.validation import check_ttl

GRANT_EXAMPLE = '{"ttl": 60}'
CREATED = 201


@kv_view("GET", "POST", route="leases")
async def leases(request: HttpRequest) -> HttpResponse:
    """``GET``: live leases by id, a page at a time; ``POST {"ttl": T}``: grant one."""
    if request.method == "POST":
        return await _grant(request)
    page = await get_store().leases(
        query_whole(request, "after"), page_limit(request, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    )
    return json_response({"items": [lease.as_dict(key_count=True) for lease in page.items], "next": page.next})


async def _grant(request: HttpRequest) -> HttpResponse:
    """``{"ttl": T}``, whole seconds; nothing else, since a misspelt field would do nothing."""
    body = json_object(request, GRANT_EXAMPLE)
    unknown = sorted(set(body) - {"ttl"})
    if unknown:
        raise InvalidRequest(f"a grant takes only {GRANT_EXAMPLE}; unknown field(s) {', '.join(map(repr, unknown))}")
    if "ttl" not in body:
        raise InvalidRequest(f"body needs a ttl in seconds, like {GRANT_EXAMPLE}")
    lease = await get_store().grant(check_ttl(body["ttl"], kv_settings().lease_max_ttl))
    return json_response(lease.as_dict(), status=CREATED)


@kv_view("GET", "DELETE", route="lease")
async def lease(request: HttpRequest, lease_id: str) -> HttpResponse:
    """``GET``: the lease with its attached keys; ``DELETE``: revoke it, deleting its keys."""
    number = path_lease_id(lease_id)
    if request.method == "DELETE":
        revoked = await get_store().revoke(number)
        return json_response({"id": revoked.id, "revision": revoked.revision, "deleted": revoked.deleted})
    return json_response((await get_store().lease(number)).as_dict(with_keys=True))


@kv_view("POST", route="lease_keepalive")
async def keepalive(request: HttpRequest, lease_id: str) -> HttpResponse:
    """The lease's full TTL again from now; 404 once it has expired."""
    renewed = await get_store().keepalive(path_lease_id(lease_id))
    metrics.KEEPALIVES.inc()  # the store keeps no count of its own
    return json_response(renewed.as_dict())
