"""The OpenAPI 3 description of kvstore's HTTP API, served at ``/api/v1/openapi.json``.

Written by hand next to the contract rather than generated from the views: the views raise
named exceptions and map them in one place, which no generator could read. ``tests/
http/test_openapi.py`` keeps it honest (every route documented, every documented path routed)
and ``tests/e2e/test_fuzz_api.py`` fuzzes the running server against it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from kvapp.conf import KVSettings, kv_settings
from kvapp.http.guard import kv_view
from kvapp.http.responses import json_response
from kvapp.store.base import DEFAULT_HISTORY_PAGE, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from kvapp.store.txn import COMPARISONS, TARGETS
from kvapp.store.validation import MAX_LEASE_ID

OPENAPI_VERSION = "3.0.3"
API_VERSION = "1"

# Routes in kvapp.urls that are deliberately not in the document, and why.
NOT_DOCUMENTED = {
    "/": "the HTML page is for people, not part of the JSON API",
    "/static/{name}": "the page's scripts and styles",
}

Schema = dict[str, Any]

_REF = "#/components/schemas/"
CROSS_SITE = 403  # every write operation's refusal of a foreign page (kvapp.http.origins)


def _ref(name: str) -> Schema:
    """A JSON reference to a named schema."""
    return {"$ref": _REF + name}


def _json(description: str, schema: str) -> Schema:
    """A response with a JSON body of the named schema."""
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _text(description: str) -> Schema:
    """A response with a text/plain body (the seed routes and /metrics)."""
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _errors(*statuses: int, text: bool = False) -> dict[str, Schema]:
    """Error responses for ``statuses`` plus the ones every route can give (401, 405)."""
    meaning = {
        400: "bad input: invalid JSON, a missing or non-string value, an invalid key or parameter",
        401: "a token is configured and the request did not present it",
        403: "a browser sent this write from a page on another site (Origin or Sec-Fetch-Site)",
        404: "the key (or lease) is absent, or the path is unknown",
        405: "the route exists but not for this method",
        410: "the revision asked for is older than the retained history (`oldest` says where it begins)",
        413: "the value or the request body is over its limit",
        429: "granting a lease would pass KV_MAX_LEASES live leases",
        503: "the backend cannot serve now; retry later",
    }
    chosen = sorted({*statuses, 401, 405})
    if text:
        return {str(status): _text(meaning[status]) for status in chosen}
    return {str(status): _json(meaning[status], "Error") for status in chosen}


def _query(name: str, schema: Schema, description: str) -> Schema:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _ttl(settings: KVSettings) -> Schema:
    """A lease's time to live: whole seconds up to KV_LEASE_MAX_TTL."""
    return {"type": "integer", "minimum": 1, "maximum": settings.lease_max_ttl}


def _limit(default: int, meaning: str) -> Schema:
    """The ``limit`` query parameter: from 1, clamped to the largest page."""
    schema = {"type": "integer", "minimum": 1, "default": default}
    return _query("limit", schema, f"{meaning}; larger values are clamped to {MAX_PAGE_SIZE}.")


_KEY_PATH = {
    "name": "key",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
    "description": "The key, percent-encoded (`a%2Fb` and `a/b` both mean key `a/b`).",
}
_REVISION = {"type": "integer", "minimum": 0}
_POSITIVE_REVISION = {"type": "integer", "minimum": 1}
_LEASE_ID = {"type": "integer", "minimum": 1, "maximum": MAX_LEASE_ID}
_AT_REVISION = _query(
    "revision",
    _REVISION,
    "Read the store as it stood at this revision: 400 beyond the store's, 410 older than its history.",
)


def _schemas(settings: KVSettings) -> dict[str, Schema]:
    """The bodies the API sends and accepts."""
    pair = {
        "key": {"type": "string"},
        "value": {"type": "string"},
        "revision": _POSITIVE_REVISION,
        "created": _POSITIVE_REVISION,
    }
    shown = {**pair, "lease": {**_LEASE_ID, "description": "The key's lease; absent when it has none."}}
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "description": "One human sentence."},
                "key": {"type": "string", "description": "On a 404 for a missing key: that key."},
                "lease": {"type": "integer", "minimum": 1, "description": "On a 404 for an unknown lease: that lease."},
                "oldest": {
                    **_POSITIVE_REVISION,
                    "description": "On a 410: the oldest retained revision; reads at `oldest - 1` and later work.",
                },
            },
        },
        "Pair": {"type": "object", "required": list(pair), "properties": shown, "additionalProperties": False},
        "PutBody": {
            "type": "object",
            "required": ["value"],
            "properties": {
                "value": {"type": "string"},
                "if_revision": {
                    **_REVISION,
                    "nullable": True,
                    "description": "Compare-and-swap: write only if the key is at this revision (0: absent).",
                },
                "lease": {
                    **_LEASE_ID,
                    "minimum": 0,
                    "nullable": True,
                    "description": "Attach the key to this lease (0: detach it); left out, the key keeps its lease.",
                },
                "ttl": {
                    **_ttl(settings),
                    "nullable": True,
                    "description": "Grant a new lease of this many seconds and attach the key (not with `lease`).",
                },
            },
        },
        "PutResult": {
            "type": "object",
            "required": [*pair, "prev"],
            "properties": {**shown, "prev": {"type": "string", "nullable": True}},
            "additionalProperties": False,
        },
        "DeleteResult": {
            "type": "object",
            "required": ["key", "revision", "prev"],
            "properties": {"key": {"type": "string"}, "revision": _POSITIVE_REVISION, "prev": {"type": "string"}},
            "additionalProperties": False,
        },
        "Conflict": {
            "type": "object",
            "description": "The pair as it is now; revision 0 and a null value when it is absent.",
            "required": ["error", "key", "value", "revision", "created"],
            "properties": {
                "error": {"type": "string"},
                "key": {"type": "string"},
                "value": {"type": "string", "nullable": True},
                "revision": _REVISION,
                "created": _REVISION,
                "lease": _LEASE_ID,
            },
        },
        "Page": {
            "type": "object",
            "required": ["items", "revision", "next", "count"],
            "properties": {
                "items": {"type": "array", "items": _ref("Pair"), "maxItems": MAX_PAGE_SIZE},
                "revision": {**_REVISION, "description": "The revision listed; pass it back to page one snapshot."},
                "next": {"type": "string", "nullable": True, "description": "Pass as `after` for the next page."},
                "count": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Pairs under the prefix at that revision, whatever the page size or search.",
                },
            },
            "additionalProperties": False,
        },
        "PrefixDeleted": {
            "type": "object",
            "required": ["deleted", "revision", "more"],
            "properties": {
                "deleted": {"type": "integer", "minimum": 0, "maximum": MAX_PAGE_SIZE},
                "revision": {**_REVISION, "description": "The store's revision after it (unchanged if none matched)."},
                "more": {"type": "boolean", "description": "Pairs under the prefix remain: call again."},
            },
            "additionalProperties": False,
        },
        "Health": {
            "type": "object",
            "required": ["status", "backend"],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "unavailable"]},
                "revision": _REVISION,
                "keys": {"type": "integer", "minimum": 0},
                "backend": {"type": "string", "enum": ["pickle", "redis"]},
                "watchers": {"type": "integer", "minimum": 0},
                "leases": {"type": "integer", "minimum": 0, "description": "Live leases."},
                "error": {"type": "string"},
            },
        },
        "AllPairs": {"type": "object", "additionalProperties": {"type": "string"}},
    }


def _kv_paths(settings: KVSettings) -> dict[str, Schema]:
    """``/api/v1/kv``, ``/api/v1/kv/`` and ``/api/v1/kv/{key}``."""
    limits = (
        f"Keys are at most {settings.max_key_bytes} UTF-8 bytes without control characters; "
        f"values at most {settings.max_value_bytes} bytes; request bodies at most {settings.max_body_bytes} bytes."
    )
    if_revision = _query("if_revision", _REVISION, "Compare-and-swap: delete only if the key is at this revision.")
    empty_key = {"summary": "The empty key, which is never valid", "responses": _errors(400)}
    empty_key_write = {**empty_key, "responses": _errors(400, CROSS_SITE)}
    return {
        "/api/v1/kv": {
            "get": {
                "operationId": "listPairs",
                "summary": "List pairs by prefix, sorted by key, one page at a time",
                "parameters": [
                    _query("prefix", {"type": "string"}, "Only keys starting with this."),
                    _limit(DEFAULT_PAGE_SIZE, "Page size"),
                    _query("after", {"type": "string"}, "Exclusive key to continue from (the previous `next`)."),
                    _AT_REVISION,
                    _query(
                        "search",
                        {"type": "string"},
                        "Only pairs whose key or value contains this, ignoring case. A page may come back "
                        "short (even empty) with a `next`: follow `next` until it is null.",
                    ),
                ],
                "responses": {"200": _json("one page", "Page"), **_errors(400, 410)},
            },
            "delete": {
                "operationId": "deletePrefix",
                "summary": "Delete up to `limit` pairs under a prefix, in key order, as one atomic commit",
                "description": (
                    "Each pair takes its own consecutive revision and delete event. A prefix is a string "
                    "prefix (`foo` matches `food`). Every key: `prefix=` with `all=true`. `if_revision`, "
                    "`revision`, `after` and `search` are refused (400) rather than ignored."
                ),
                "parameters": [
                    {
                        **_query("prefix", {"type": "string"}, "Delete keys starting with this; required."),
                        "required": True,
                    },
                    _limit(DEFAULT_PAGE_SIZE, "At most this many pairs"),
                    _query(
                        "all",
                        {"type": "boolean", "default": False},
                        "Must be true, with an empty prefix, to delete every key.",
                    ),
                ],
                "responses": {"200": _json("deleted and durable", "PrefixDeleted"), **_errors(400, CROSS_SITE, 503)},
            },
        },
        "/api/v1/kv/": {
            "get": {**empty_key, "operationId": "getEmptyKey"},
            "put": {**empty_key_write, "operationId": "putEmptyKey"},
            "delete": {**empty_key_write, "operationId": "deleteEmptyKey"},
        },
        "/api/v1/kv/{key}": {
            "parameters": [_KEY_PATH],
            "get": {
                "operationId": "getPair",
                "summary": "Read one pair, now or at a past revision",
                "parameters": [_AT_REVISION],
                "responses": {"200": _json("the pair", "Pair"), **_errors(400, 404, 410)},
            },
            "put": {
                "operationId": "putPair",
                "summary": "Write one pair (compare-and-swap with if_revision)",
                "description": limits,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("PutBody")}}},
                "responses": {
                    "200": _json("written and durable", "PutResult"),
                    "409": _json("if_revision did not match; the body holds the current pair", "Conflict"),
                    **_errors(400, CROSS_SITE, 404, 413, 429, 503),
                },
            },
            "delete": {
                "operationId": "deletePair",
                "summary": "Delete one pair",
                "parameters": [if_revision],
                "responses": {
                    "200": _json("deleted and durable", "DeleteResult"),
                    "409": _json("if_revision did not match; the body holds the current pair", "Conflict"),
                    **_errors(400, CROSS_SITE, 404, 503),
                },
            },
        },
    }


def _lease_schemas(settings: KVSettings) -> dict[str, Schema]:
    """A lease as each lease route shows it."""
    lease = {
        "id": _LEASE_ID,
        "ttl": {"type": "integer", "minimum": 1, "description": "Seconds the lease lasts without a keepalive."},
        "remaining": {"type": "number", "minimum": 0, "description": "Seconds left."},
    }

    def shown(extra: dict[str, Schema]) -> Schema:
        properties = {**lease, **extra}
        return {"type": "object", "required": list(properties), "properties": properties, "additionalProperties": False}

    return {
        "LeaseGrant": {
            "type": "object",
            "required": ["ttl"],
            "properties": {"ttl": {**_ttl(settings), "description": "Whole seconds."}},
            "additionalProperties": False,
        },
        "Lease": shown({}),
        "LeaseSummary": shown({"keys": {"type": "integer", "minimum": 0, "description": "Attached keys."}}),
        "LeaseDetail": shown({"keys": {"type": "array", "items": {"type": "string"}, "description": "Sorted."}}),
        "LeasePage": {
            "type": "object",
            "required": ["items", "next"],
            "properties": {
                "items": {"type": "array", "items": _ref("LeaseSummary"), "maxItems": MAX_PAGE_SIZE},
                "next": {**_LEASE_ID, "nullable": True, "description": "Pass as `after` for the next page."},
            },
            "additionalProperties": False,
        },
        "Revoked": {
            "type": "object",
            "required": ["id", "revision", "deleted"],
            "properties": {
                "id": _LEASE_ID,
                "revision": {**_REVISION, "description": "The store's revision after the keys were deleted."},
                "deleted": {"type": "array", "items": {"type": "string"}, "description": "The keys it deleted."},
            },
            "additionalProperties": False,
        },
    }


def _lease_paths(settings: KVSettings) -> dict[str, Schema]:
    """``/api/v1/leases``, ``/api/v1/leases/{lease_id}`` and its keepalive."""
    lease_id = {
        "name": "lease_id",
        "in": "path",
        "required": True,
        "schema": _LEASE_ID,
        "description": "A lease id: ASCII digits, 1 to 2^53 - 1.",
    }
    grant = {"required": True, "content": {"application/json": {"schema": _ref("LeaseGrant")}}}
    return {
        "/api/v1/leases": {
            "get": {
                "operationId": "listLeases",
                "summary": "Live leases by id, with how many keys each holds",
                "parameters": [
                    _limit(DEFAULT_PAGE_SIZE, "Page size"),
                    _query("after", _REVISION, "Exclusive lease id to continue from (the previous `next`)."),
                ],
                "responses": {"200": _json("one page", "LeasePage"), **_errors(400)},
            },
            "post": {
                "operationId": "grantLease",
                "summary": "Grant a lease; keys attached to it are deleted when it runs out",
                "description": (
                    f"`ttl` is 1 to {settings.lease_max_ttl} seconds (KV_LEASE_MAX_TTL); at most "
                    f"{settings.max_leases} leases live at once (KV_MAX_LEASES). Takes no revision."
                ),
                "requestBody": grant,
                "responses": {"201": _json("granted and durable", "Lease"), **_errors(400, CROSS_SITE, 413, 429, 503)},
            },
        },
        "/api/v1/leases/{lease_id}": {
            "parameters": [lease_id],
            "get": {
                "operationId": "getLease",
                "summary": "A live lease and its attached keys",
                "responses": {"200": _json("the lease", "LeaseDetail"), **_errors(400, 404)},
            },
            "delete": {
                "operationId": "revokeLease",
                "summary": "Revoke a lease, deleting its keys in one atomic commit",
                "responses": {"200": _json("revoked and durable", "Revoked"), **_errors(400, CROSS_SITE, 404, 503)},
            },
        },
        "/api/v1/leases/{lease_id}/keepalive": {
            "parameters": [lease_id],
            "post": {
                "operationId": "keepLeaseAlive",
                "summary": "Give a lease its full TTL again",
                "responses": {"200": _json("renewed", "Lease"), **_errors(400, CROSS_SITE, 404, 503)},
            },
        },
    }


def _txn_schemas(settings: KVSettings) -> dict[str, Schema]:
    """A transaction's request and answer."""
    key = {"type": "string", "minLength": 1}

    def closed(required: list[str], properties: dict[str, Schema]) -> Schema:
        return {"type": "object", "required": required, "properties": properties, "additionalProperties": False}

    def op(name: str, **extra: Schema) -> dict[str, Schema]:
        return {"op": {"type": "string", "enum": [name]}, "key": key, **extra}

    def branch(meaning: str) -> Schema:
        ops = {"oneOf": [_ref("TxnPut"), _ref("TxnDelete"), _ref("TxnGet")]}
        return {"type": "array", "items": ops, "maxItems": settings.txn_max_ops, "description": meaning}

    pair_then = {"value": {"type": "string"}, "revision": _POSITIVE_REVISION, "created": _POSITIVE_REVISION}
    lease = {"lease": _LEASE_ID}
    return {
        "TxnRequest": {
            "type": "object",
            "properties": {
                "compare": {
                    "type": "array",
                    "items": _ref("TxnCompare"),
                    "maxItems": settings.txn_max_ops,
                    "description": "All must hold for `success` to run; else `failure` runs.",
                },
                "success": branch("Ops run when every compare holds, in order."),
                "failure": branch("Ops run otherwise."),
            },
            "additionalProperties": False,
        },
        "TxnCompare": closed(
            ["key", "target", "op", "value"],
            {
                "key": key,
                "target": {"type": "string", "enum": list(TARGETS)},
                "op": {"type": "string", "enum": list(COMPARISONS)},
                "value": {
                    "anyOf": [{"type": "string", "nullable": True}, _REVISION],
                    "description": "A string or null (absent) for `value`; a whole number for the others.",
                },
            },
        ),
        "TxnPut": closed(
            ["op", "key", "value"],
            op(
                "put",
                value={"type": "string"},
                lease={**_LEASE_ID, "minimum": 0, "nullable": True},
                ttl={**_ttl(settings), "nullable": True},
            ),
        ),
        "TxnDelete": closed(["op", "key"], op("delete")),
        "TxnGet": closed(["op", "key"], op("get")),
        "TxnResult": closed(
            ["succeeded", "revision", "responses"],
            {
                "succeeded": {"type": "boolean", "description": "Whether the compares held (`success` ran)."},
                "revision": {**_REVISION, "description": "The store's revision after the transaction."},
                "responses": {
                    "type": "array",
                    "items": {"oneOf": [_ref("TxnPutAnswer"), _ref("TxnDeleteAnswer"), _ref("TxnGetAnswer")]},
                    "description": "One per op of the branch taken, in order.",
                },
            },
        ),
        "TxnPutAnswer": closed(
            ["op", "key", *pair_then, "prev"],
            op("put", **pair_then, **lease, prev={"type": "string", "nullable": True}),
        ),
        "TxnDeleteAnswer": closed(
            ["op", "key", "revision", "prev"],
            op(
                "delete",
                revision={**_POSITIVE_REVISION, "nullable": True, "description": "null: the key was absent."},
                prev={"type": "string", "nullable": True},
            ),
        ),
        "TxnGetAnswer": closed(
            ["op", "key", "value", "revision", "created"],
            op(
                "get",
                value={"type": "string", "nullable": True, "description": "null (and 0s): the key is absent."},
                revision=_REVISION,
                created=_REVISION,
                **lease,
            ),
        ),
    }


def _txn_paths(settings: KVSettings) -> dict[str, Schema]:
    """``/api/v1/txn``."""
    return {
        "/api/v1/txn": {
            "post": {
                "operationId": "transaction",
                "summary": "Compares, then the success or the failure ops, as one atomic step",
                "description": (
                    f"Checked whole before anything runs: at most {settings.txn_max_ops} compares and ops per "
                    "branch (KV_TXN_MAX_OPS), each key written at most once per branch. A failed compare "
                    "is a 200 with `succeeded` false. Each write takes the next revision."
                ),
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("TxnRequest")}}},
                "responses": {
                    "200": _json("run and durable", "TxnResult"),
                    **_errors(400, CROSS_SITE, 404, 413, 429, 503),
                },
            }
        }
    }


def _history_schemas() -> dict[str, Schema]:
    """A key's history page and its items (watch events without the key)."""
    item = {
        "type": {"type": "string", "enum": ["put", "delete"]},
        "value": {"type": "string", "description": "Puts only."},
        "revision": _POSITIVE_REVISION,
        "created": {**_POSITIVE_REVISION, "description": "Puts only."},
        "prev": {"type": "string", "nullable": True, "description": "The value it replaced."},
        "lease": {
            **_LEASE_ID,
            "description": "A put's lease; on a delete, the lease whose end deleted the key.",
        },
        "reason": {"type": "string", "enum": ["expired", "revoked"], "description": "Deletes by a lease only."},
        "time": {
            "type": "string",
            "nullable": True,
            "description": "Commit time, ISO 8601 UTC with milliseconds; null for events from before times were kept.",
        },
    }
    return {
        "HistoryItem": {
            "type": "object",
            "required": ["type", "revision", "prev", "time"],
            "properties": item,
            "additionalProperties": False,
        },
        "History": {
            "type": "object",
            "required": ["key", "items", "oldest", "next"],
            "properties": {
                "key": {"type": "string"},
                "items": {"type": "array", "items": _ref("HistoryItem"), "maxItems": MAX_PAGE_SIZE},
                "oldest": {**_POSITIVE_REVISION, "description": "The oldest revision the history still reaches."},
                "next": {**_POSITIVE_REVISION, "nullable": True, "description": "Pass as `before` for older items."},
            },
            "additionalProperties": False,
        },
    }


def _history_paths() -> dict[str, Schema]:
    """``/api/v1/history/{key}`` and the empty key's ``/api/v1/history/``."""
    return {
        "/api/v1/history/": {
            "get": {
                "operationId": "historyOfEmptyKey",
                "summary": "The empty key, which is never valid",
                "responses": _errors(400),
            },
        },
        "/api/v1/history/{key}": {
            "parameters": [_KEY_PATH],
            "get": {
                "operationId": "history",
                "summary": "A key's retained events, newest first",
                "description": "A key with no retained events has no items (still a 200).",
                "parameters": [
                    _limit(DEFAULT_HISTORY_PAGE, "Events per page"),
                    _query("before", _REVISION, "Only events with a revision below this (the previous `next`)."),
                ],
                "responses": {"200": _json("one page, newest first", "History"), **_errors(400)},
            },
        },
    }


def _seed_paths() -> dict[str, Schema]:
    """The original flask server's routes: text answers, except ``/get_all``."""
    key = {"type": "string"}
    return {
        "/get": {
            "get": {
                "operationId": "seedGet",
                "summary": "The bare value of a key, as text",
                "parameters": [_query("key", key, "The key; required.")],
                "responses": {"200": _text("the value"), **_errors(400, 404, text=True)},
            }
        },
        "/add": {
            "post": {
                "operationId": "seedAdd",
                "summary": "Store a pair (query string or form body)",
                "parameters": [_query("key", key, "The key; required."), _query("value", key, "The value; required.")],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {"type": "object", "properties": {"key": key, "value": key}}
                        }
                    },
                },
                "responses": {
                    "200": _text("`Successfully added Value - V for Key - K`"),
                    **_errors(400, CROSS_SITE, 413, 503, text=True),
                },
            }
        },
        "/get_all": {
            "get": {
                "operationId": "seedGetAll",
                "summary": "Every pair as one JSON object",
                "responses": {"200": _json("every pair", "AllPairs"), **_errors()},
            }
        },
    }


def _ops_paths() -> dict[str, Schema]:
    """Health, metrics and this document."""
    return {
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Liveness and store summary for load balancers",
                "responses": {
                    "200": _json("serving", "Health"),
                    "503": _json("the backend cannot answer", "Health"),
                    **_errors(),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus text format",
                "responses": {"200": _text("metrics"), **_errors()},
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {
                    "200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {}}}},
                    **_errors(),
                },
            }
        },
    }


def openapi_document(settings: KVSettings | None = None) -> Schema:
    """The whole document, with the configured limits in its descriptions."""
    settings = settings or kv_settings()
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "kvstore",
            "version": API_VERSION,
            "description": (
                "A revisioned key-value store with watch. Watching is a websocket at "
                "`/ws/watch?prefix=P&after=R`, outside this document."
            ),
        },
        "paths": {
            **_kv_paths(settings),
            **_txn_paths(settings),
            **_lease_paths(settings),
            **_history_paths(),
            **_seed_paths(),
            **_ops_paths(),
        },
        "components": {
            "schemas": {
                **_schemas(settings),
                **_txn_schemas(settings),
                **_lease_schemas(settings),
                **_history_schemas(),
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Needed only when the server sets KV_TOKEN.",
                }
            },
        },
        # Either the bearer token or nothing: which one depends on the server's KV_TOKEN.
        "security": [{"bearer": []}, {}],
    }


@kv_view("GET", route="openapi")
async def openapi_view(request: HttpRequest) -> HttpResponse:
    """``GET /api/v1/openapi.json``; behind the token like every other API call."""
    return json_response(openapi_document())
