"""``POST /api/v1/txn``: compares, then the success or the failure ops, as one atomic step.

The body is checked whole by ``kvapp.store.txn.parse_txn`` with the configured limits
before the store sees it, so a bad transaction is refused with nothing run.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from kvapp.backend import get_store
from kvapp.conf import kv_settings
from kvapp.http import metrics
from kvapp.http.guard import kv_view
from kvapp.http.inputs import json_body
from kvapp.http.responses import json_response
from kvapp.store.errors import KVError
from kvapp.store.txn import EXAMPLE, TxnLimits, parse_txn
from kvapp.store.validation import Limits


@kv_view("POST", route="txn")
async def txn(request: HttpRequest) -> HttpResponse:
    """Run the transaction in the body; a compare that fails is a 200 with ``succeeded`` false."""
    try:
        result = await get_store().txn(parse_txn(json_body(request, EXAMPLE), txn_limits()))
    except (KVError, RequestDataTooBig):  # answered with an error by kv_view
        metrics.TXNS["refused"].inc()
        raise
    metrics.TXNS["succeeded" if result.succeeded else "failed"].inc()
    return json_response(result.as_dict())


def txn_limits() -> TxnLimits:
    """Key and value sizes, ops per branch and the longest TTL, from the settings."""
    settings = kv_settings()
    return TxnLimits(
        Limits(settings.max_key_bytes, settings.max_value_bytes),
        max_ops=settings.txn_max_ops,
        max_ttl=settings.lease_max_ttl,
    )
