"""Transactions: compares, then the ``success`` or the ``failure`` ops, as one atomic step.

The request is parsed and checked whole here, before any backend sees it, so a bad
transaction is refused (InvalidRequest) without anything having run, on every backend
alike. Evaluating compares against a pair is shared too; what "atomic" means is each
backend's business (one unit of the pickle group commit, one Lua script on Redis).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kvapp.store.base import Pair
from kvapp.store.errors import InvalidRequest, KVError
from kvapp.store.validation import Limits, check_key, check_lease_or_ttl, check_value, is_whole_number

DEFAULT_MAX_OPS = 128  # compares, and ops per branch (KV_TXN_MAX_OPS)
TARGETS = ("value", "revision", "created", "lease")
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
OPS = ("put", "delete", "get")
EXAMPLE = '{"compare": [...], "success": [...], "failure": [...]}'  # what to send, for error messages
_FIELDS = {"compare", "success", "failure"}
_COMPARE_FIELDS = {"key", "target", "op", "value"}
_OP_FIELDS = {"put": {"op", "key", "value", "lease", "ttl"}, "delete": {"op", "key"}, "get": {"op", "key"}}


@dataclass(frozen=True)
class Compare:
    """``target`` of ``key`` compared with ``value`` by ``op``; an absent key has value None and 0s."""

    key: str
    target: str
    op: str
    value: str | int | None

    def holds(self, pair: Pair | None) -> bool:
        """Whether the compare is true of ``pair`` (None: the key is absent)."""
        actual = _target_of(pair, self.target)
        if (actual is None or self.value is None) and self.op in ("<", ">"):
            return False  # nothing is less or greater than "absent"
        return COMPARISONS[self.op](actual, self.value)


@dataclass(frozen=True)
class Op:
    """One op of a branch: ``put`` (with ``lease``/``ttl`` as for a PUT), ``delete`` or ``get``."""

    kind: str
    key: str
    value: str | None = None
    lease: int | None = None
    ttl: int | None = None


@dataclass(frozen=True)
class Txn:
    """A whole transaction, already checked."""

    compare: tuple[Compare, ...] = ()
    success: tuple[Op, ...] = ()
    failure: tuple[Op, ...] = ()

    def branch(self, succeeded: bool) -> tuple[Op, ...]:
        """The ops to run once the compares are known."""
        return self.success if succeeded else self.failure


@dataclass(frozen=True)
class TxnResult:
    """The outcome: which branch ran, the store revision after it, one response per op run."""

    succeeded: bool
    revision: int
    responses: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The answer of ``POST /api/v1/txn``."""
        return {"succeeded": self.succeeded, "revision": self.revision, "responses": self.responses}


@dataclass(frozen=True)
class TxnLimits:
    """What a transaction may hold: sizes of keys and values, ops per branch, lease TTLs."""

    limits: Limits
    max_ops: int = DEFAULT_MAX_OPS
    max_ttl: int = 86_400


def _target_of(pair: Pair | None, target: str) -> str | int | None:
    """The compared field of ``pair``; an absent key's value is None and its numbers are 0."""
    if target == "value":
        return None if pair is None else pair.value
    if pair is None:
        return 0
    return getattr(pair, target)


# --- the responses each op gives ------------------------------------------------------------


def put_response(pair: Pair, prev: str | None) -> dict[str, Any]:
    """``{"op":"put","key","value","revision","created","prev"}`` (and ``lease``)."""
    return {"op": "put", **pair.as_dict(), "prev": prev}


def delete_response(key: str, revision: int | None, prev: str | None) -> dict[str, Any]:
    """``{"op":"delete","key","revision","prev"}``; revision None when nothing was deleted."""
    return {"op": "delete", "key": key, "revision": revision, "prev": prev}


def get_response(key: str, pair: Pair | None) -> dict[str, Any]:
    """``{"op":"get","key","value","revision","created"}``; value None and 0s when absent."""
    if pair is None:
        return {"op": "get", "key": key, "value": None, "revision": 0, "created": 0}
    return {"op": "get", **pair.as_dict()}


# --- parsing ----------------------------------------------------------------------------------


def parse_txn(document: Any, limits: TxnLimits) -> Txn:
    """The transaction in a decoded JSON body, or InvalidRequest saying what is wrong with it."""
    if not isinstance(document, dict):
        raise InvalidRequest(f"body must be a JSON object like {EXAMPLE}")
    _refuse_unknown(document, _FIELDS, "the transaction")
    compares = _items(document, "compare", limits.max_ops)
    txn = Txn(
        compare=tuple(_compare(item, n, limits) for n, item in enumerate(compares)),
        success=_branch(document, "success", limits),
        failure=_branch(document, "failure", limits),
    )
    return txn


def _branch(document: Mapping[str, Any], name: str, limits: TxnLimits) -> tuple[Op, ...]:
    """One branch's ops, refusing a key written twice in it."""
    ops = tuple(_op(item, f"{name}[{n}]", limits) for n, item in enumerate(_items(document, name, limits.max_ops)))
    written: set[str] = set()
    for op in ops:
        if op.kind == "get":
            continue
        if op.key in written:
            raise InvalidRequest(f"{name} writes key {op.key!r} twice; a transaction writes each key at most once")
        written.add(op.key)
    return ops


def _items(document: Mapping[str, Any], name: str, max_ops: int) -> list[Any]:
    """The list under ``name`` (absent: empty), at most ``max_ops`` long."""
    items = document.get(name, [])
    if not isinstance(items, list):
        raise InvalidRequest(f'"{name}" must be a list')
    if len(items) > max_ops:
        raise InvalidRequest(f'"{name}" has {len(items)} entries; at most {max_ops} are allowed')
    return items


def _compare(item: Any, number: int, limits: TxnLimits) -> Compare:
    """One compare, checked: known target and op, and a value of the target's type."""
    where = f"compare[{number}]"
    if not isinstance(item, dict):
        raise InvalidRequest(f"{where} must be an object")
    _refuse_unknown(item, _COMPARE_FIELDS, where)
    key = _key(item, where, limits)
    target, op = item.get("target"), item.get("op")
    if target not in TARGETS:
        raise InvalidRequest(f'{where}: "target" must be one of {", ".join(TARGETS)}')
    if op not in COMPARISONS:
        raise InvalidRequest(f'{where}: "op" must be one of {", ".join(COMPARISONS)}')
    if "value" not in item:
        raise InvalidRequest(f'{where} needs a "value"')
    value = item["value"]
    if target == "value":
        if value is not None:
            value = _in(check_value, value, limits.limits.max_value_bytes, where)
    elif not is_whole_number(value):
        raise InvalidRequest(f'{where}: the "value" of a {target} compare must be a whole number from 0')
    return Compare(key, target, op, value)


def _op(item: Any, where: str, limits: TxnLimits) -> Op:
    """One op, checked like the single-key call it stands for."""
    if not isinstance(item, dict):
        raise InvalidRequest(f"{where} must be an object")
    kind = item.get("op")
    if kind not in OPS:
        raise InvalidRequest(f'{where}: "op" must be one of {", ".join(OPS)}')
    _refuse_unknown(item, _OP_FIELDS[kind], where)
    key = _key(item, where, limits)
    if kind != "put":
        return Op(kind, key)
    if "value" not in item:
        raise InvalidRequest(f'{where}: a put needs a "value" string')
    value = _in(check_value, item["value"], limits.limits.max_value_bytes, where)
    lease, ttl = _in(check_lease_or_ttl, item, limits.max_ttl, where)
    return Op("put", key, value, lease, ttl)


def _key(item: Mapping[str, Any], where: str, limits: TxnLimits) -> str:
    if "key" not in item:
        raise InvalidRequest(f'{where} needs a "key"')
    return _in(check_key, item["key"], limits.limits.max_key_bytes, where)


def _in(check: Callable[[Any, int], Any], value: Any, limit: int, where: str) -> Any:
    """``check(value, limit)``, with ``where`` in front of its message."""
    try:
        return check(value, limit)
    except KVError as exc:  # keeps its type (ValueTooLarge is a 413), told where
        exc.args = (f"{where}: {exc}",)
        raise


def _refuse_unknown(item: Mapping[str, Any], known: set[str], where: str) -> None:
    """A misspelt field ("sucess") would silently do nothing: refuse it."""
    unknown = sorted(set(item) - known)
    if unknown:
        raise InvalidRequest(f"{where} has unknown field(s) {', '.join(map(repr, unknown))}")
