"""The server's API called directly, not through the CLI under test: to set a test up and to check it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

TIMEOUT = 5  # seconds per request


def put_pair(url: str, key: str, value: str, **fields: Any) -> int:
    """Store ``value`` (with ``ttl=`` or ``lease=`` if given); the revision it took."""
    response = requests.put(f"{url}/api/v1/kv/{quote(key, safe='')}", json={"value": value, **fields}, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()["revision"]


def delete_pair(url: str, key: str) -> int:
    """Delete ``key``; the revision that took."""
    response = requests.delete(f"{url}/api/v1/kv/{quote(key, safe='')}", timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()["revision"]


def pair(url: str, key: str) -> dict[str, Any] | None:
    """The pair under ``key`` as the server has it now (its ``lease`` too), None if absent."""
    response = requests.get(f"{url}/api/v1/kv/{quote(key, safe='')}", timeout=TIMEOUT)
    return response.json() if response.ok else None


def count(url: str, prefix: str) -> int:
    """How many pairs are under ``prefix`` now."""
    response = requests.get(f"{url}/api/v1/kv", params={"prefix": prefix, "limit": 1}, timeout=TIMEOUT)
    return response.json()["count"]


def grant(url: str, ttl: int) -> int:
    """A new lease of ``ttl`` seconds; its id."""
    response = requests.post(f"{url}/api/v1/leases", json={"ttl": ttl}, timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()["id"]


def revoke(url: str, lease: int) -> None:
    """Revoke ``lease`` from outside, as another client would."""
    requests.delete(f"{url}/api/v1/leases/{lease}", timeout=TIMEOUT).raise_for_status()


def lease_alive(url: str, lease: int) -> bool:
    """Whether the server still has ``lease``."""
    return requests.get(f"{url}/api/v1/leases/{lease}", timeout=TIMEOUT).ok
