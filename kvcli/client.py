"""The kvstore HTTP API client: one keep-alive session, low-level errors made actionable."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests

from kvcli.answers import (
    COUNTED,
    DELETED,
    DELETED_PREFIX,
    HISTORY,
    LEASE,
    LEASE_SHOWN,
    LEASES,
    LISTING,
    PAIR,
    REVOKED,
    TXN,
    Check,
    checked,
)
from kvcli.errors import (
    AuthRequired,
    BadResponse,
    HistoryCompacted,
    KeyNotFound,
    LeaseNotFound,
    ListingCompacted,
    ServerError,
    ServerTimeout,
    ServerUnreachable,
    UnknownPath,
    UsageError,
)

API_PATH = "/api/v1/kv"
TXN_PATH = "/api/v1/txn"
LEASES_PATH = "/api/v1/leases"
HISTORY_PATH = "/api/v1/history"
WATCH_PATH = "/ws/watch"
CONNECT_TIMEOUT = 3.05  # seconds; just over the 3 s TCP retransmission window
READ_TIMEOUT = 30.0  # seconds; a 10,000-pair page from a busy server
DEFAULT_PAGE_SIZE = 1000  # pairs per listing request (the server's default), and per delete --prefix step
MAX_PAGE_SIZE = 10_000  # pairs; the server caps ``limit`` here
USER_AGENT = "kvcli/0.1"
URL_EXAMPLES = "http://127.0.0.1:8000, localhost:8000 or [::1]:8000"
# The address part of a --url given without a scheme: a host name or IPv4 address (no colon,
# bracket or @), or a bracketed IPv6 address, then maybe a non-empty :port (urlsplit checks it).
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # RFC 3986's scheme, then "://"
_HOST_AND_PORT = re.compile(r"(?:[^:@\[\]]+|\[[^\]]*\])(?::[^:]+)?")

Pair = dict[str, Any]


class KVClient:
    """Talks to one kvstore server; every method raises a ``kvcli.errors`` exception on failure."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self.base_url = _check_url(base_url)
        self.token = token
        # Sent on every request and on the websocket handshake.
        self.auth_headers = {"Authorization": _bearer(token)} if token else {}
        self.timeout = (CONNECT_TIMEOUT, read_timeout)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise UsageError(f"page size must be between 1 and {MAX_PAGE_SIZE}")
        self.page_size = page_size
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json", **self.auth_headers})

    def copy(self, read_timeout: float | None = None) -> KVClient:
        """The same server and token on a session of its own, for another thread (a Session is not thread-safe)."""
        return KVClient(self.base_url, self.token, self.page_size, read_timeout or self.timeout[1])

    def close(self) -> None:
        """Called when the CLI exits: drop the pooled connection."""
        self.session.close()

    def get(self, key: str, revision: int | None = None) -> Pair:
        """The pair ``{"key","value","revision","created"}``, now or at ``revision``; KeyNotFound if absent."""
        return self._call("GET", _key_path(key), PAIR, missing=key, params=_at(revision))

    def put(self, key: str, value: str, *, lease: int | None = None, ttl: int | None = None) -> Pair:
        """Store ``value``, under ``lease`` or a new lease of ``ttl`` seconds; the answer also carries ``prev``."""
        body = {"value": value, **_given(lease=lease, ttl=ttl)}
        return self._call("PUT", _key_path(key), PAIR, json=body)

    def delete(self, key: str) -> Pair:
        """Remove ``key``; KeyNotFound if absent."""
        return self._call("DELETE", _key_path(key), DELETED, missing=key)

    def pages(self, prefix: str = "", revision: int | None = None) -> Iterator[list[Pair]]:
        """Every pair under ``prefix`` (now or at ``revision``), one page at a time, so a million keys
        never sit in memory.

        Every page after the first is read at the revision the first one answered: the listing
        is one snapshot however long it takes and whatever is written meanwhile (etcd's ranged
        reads at a fixed revision). Without that, a pair moved past the cursor could be listed
        twice or not at all. The price: a listing that outlives the server's history is a 410.
        """
        params: dict[str, Any] = {"prefix": prefix, "limit": self.page_size, **_at(revision)}
        while True:
            try:
                page = self._call("GET", API_PATH, LISTING, params=params)
            except HistoryCompacted as exc:
                if "after" in params:  # a later page: the snapshot fell out of the history meanwhile
                    raise ListingCompacted(exc.revision, exc.oldest) from None
                raise
            yield page["items"]
            if page["next"] is None:
                return
            params = {**params, "revision": page["revision"], "after": page["next"]}

    def revision(self) -> int:
        """The store's current revision (from a one-pair listing, which needs the same auth)."""
        return self._call("GET", API_PATH, LISTING, params={"limit": 1})["revision"]

    def count(self, prefix: str) -> int:
        """How many pairs are under ``prefix`` now (the listing's ``count``, whatever its page size)."""
        return self._call("GET", API_PATH, COUNTED, params={"prefix": prefix, "limit": 1})["count"]

    def delete_prefix(self, prefix: str) -> Pair:
        """One bounded atomic step of deleting under ``prefix`` (every key when it is empty): ``{"deleted","more"}``."""
        params = {"prefix": prefix, "limit": self.page_size, **({"all": "true"} if not prefix else {})}
        return self._call("DELETE", API_PATH, DELETED_PREFIX, params=params)

    def txn(self, body: dict[str, Any]) -> Pair:
        """Run a transaction: ``{"succeeded", "revision", "responses"}``; a failed compare is no error."""
        return self._call("POST", TXN_PATH, TXN, json=body)

    def grant(self, ttl: int) -> Pair:
        """A new lease of ``ttl`` seconds: ``{"id", "ttl", "remaining"}``."""
        return self._call("POST", LEASES_PATH, LEASE, json={"ttl": ttl})

    def keepalive(self, lease: int) -> Pair:
        """Give ``lease`` its full TTL again; LeaseNotFound once it is gone."""
        return self._call("POST", f"{LEASES_PATH}/{lease}/keepalive", LEASE)

    def lease(self, lease: int) -> Pair:
        """The lease with its attached keys; LeaseNotFound if it is gone."""
        return self._call("GET", f"{LEASES_PATH}/{lease}", LEASE_SHOWN)

    def revoke(self, lease: int) -> Pair:
        """Revoke ``lease``, deleting its keys: ``{"id", "revision", "deleted": [keys]}``."""
        return self._call("DELETE", f"{LEASES_PATH}/{lease}", REVOKED)

    def lease_pages(self) -> Iterator[list[Pair]]:
        """Every live lease by id, one page at a time."""
        for page in self._follow(LEASES_PATH, LEASES, "after"):
            yield page["items"]

    def history_pages(self, key: str) -> Iterator[Pair]:
        """``key``'s retained events, newest first, one answer (``items`` and ``oldest``) at a time."""
        return self._follow(_key_path(key, HISTORY_PATH), HISTORY, "before")

    def watch_url(self, prefix: str, after: int) -> str:
        """The websocket URL that replays events after ``after`` and then follows live writes."""
        scheme = "wss" if self.base_url.startswith("https:") else "ws"
        host = self.base_url.split("://", 1)[1]
        return f"{scheme}://{host}{WATCH_PATH}?{urlencode({'prefix': prefix, 'after': after})}"

    def _follow(self, path: str, shape: Check, cursor: str) -> Iterator[Pair]:
        """Each page of a listing at ``path``, passing its ``next`` as ``cursor`` until it is null."""
        params: dict[str, Any] = {"limit": self.page_size}
        while True:
            page = self._call("GET", path, shape, params=params)
            yield page
            if page["next"] is None:
                return
            params = {**params, cursor: page["next"]}

    def _call(self, method: str, path: str, shape: Check, *, missing: str | None = None, **kwargs: Any) -> Pair:
        """One request, answered with a JSON object of ``shape`` or a named exception."""
        try:
            response = self.session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise ServerTimeout(f"the server at {self.base_url} did not answer in time") from None
        except requests.ConnectionError as exc:
            raise ServerUnreachable(f"cannot reach the server at {self.base_url} ({_reason(exc)})") from None
        except requests.RequestException as exc:
            raise ServerUnreachable(f"request to {self.base_url} failed ({_reason(exc)})") from None
        at = (kwargs.get("params") or {}).get("revision")
        return checked(_answer(response, missing, at, self.base_url), shape, f"answer to {method} {path}")


def _answer(response: requests.Response, missing: str | None, at: int | None, base_url: str) -> Pair:
    """The JSON body of a successful answer; otherwise the exception its status means.

    ``missing`` is the key a 404 may be about, ``at`` the revision a 410 is about.
    """
    try:
        body = response.json()
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the decoder goes
        body = None
    if not isinstance(body, dict):
        raise BadResponse(
            f"the server answered {response.status_code} without a JSON object (is --url a kvstore server?)"
        )
    message = body.get("error") if isinstance(body.get("error"), str) else response.reason
    if response.status_code == 401:
        raise AuthRequired(f"{message} (pass --token or set KV_TOKEN)")
    if response.status_code == 404 and missing is not None and _is_missing_key(body, message, missing):
        raise KeyNotFound(missing, at)
    if response.status_code == 404 and "lease" in body:  # the server names the lease it does not know
        raise LeaseNotFound(body["lease"])
    if response.status_code == 404:
        raise UnknownPath(f"the server answered 404: {message} (is --url {base_url} the server's base URL?)")
    if response.status_code == 410:
        raise HistoryCompacted(at, body.get("oldest"))
    if not response.ok:
        raise ServerError(f"the server answered {response.status_code}: {message}", response.status_code)
    return body


def _is_missing_key(body: dict, message: str, key: str) -> bool:
    """Whether a 404 is the server's "no such key" for ``key``, not a path it does not serve.

    The server names the missing key in the 404 (``"key"``); servers from before that are
    recognised by the whole sentence their KeyNotFound gives for this very key (kvcli's
    KeyNotFound words it the same). Either way no other 404 (a wrong ``--url``, a proxy,
    another service) passes for "not found".
    """
    if "key" in body:
        return body["key"] == key
    return message == str(KeyNotFound(key))


def _key_path(key: str, base: str = API_PATH) -> str:
    """The API path of one key, percent-encoded so ``/``, ``?``, ``#`` and spaces survive."""
    encoded = quote(key, safe="")
    if key in (".", ".."):
        # HTTP clients resolve dot segments ("/kv/.." becomes "/api/v1/"); %2E is not resolved.
        encoded = key.replace(".", "%2E")
    return f"{base}/{encoded}"


def _at(revision: int | None) -> dict[str, int]:
    """The query parameters of a read at ``revision``: none for a read of the store as it is."""
    return {} if revision is None else {"revision": revision}


def _given(**fields: Any) -> dict[str, Any]:
    """``fields`` less those that are None: the optional parts of a request body."""
    return {name: value for name, value in fields.items() if value is not None}


def check_utf8(text: str, what: str) -> str:
    """``text`` if it is Unicode text; UsageError naming ``what`` if it holds bytes that are not UTF-8.

    Python hands such bytes in argv, the environment and (see Environment) stdin over as
    surrogate escapes, which no JSON body, URL or UTF-8 encoder accepts.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ord(text[exc.start])
        escaped = 0xDC80 <= bad <= 0xDCFF  # surrogateescape maps byte 0xXY to U+DCXY
        shown = f"byte \\x{bad - 0xDC00:02x}" if escaped else f"character U+{bad:04X}"
        raise UsageError(f"{what} is not valid UTF-8 (first bad {shown})") from None
    return text


def _bearer(token: str) -> str:
    """The ``Authorization`` value for ``token``, as the latin-1 text of the bytes to send.

    Header values are bytes, and both http.client (under requests) and websockets encode a
    str value as latin-1, so a non-latin-1 token would fail to encode. Passing the latin-1
    text of the token's UTF-8 bytes sends those bytes, which the server matches against the
    UTF-8 of its KV_TOKEN. surrogateescape, as the server encodes its own KV_TOKEN: a token
    given as bytes that are not UTF-8 (argv and the environment carry them as surrogate
    escapes) is sent as those very bytes. The rejected alternative, the watch's ``?token=``,
    would write the token into access logs.
    """
    if any(ord(char) < 0x20 or char == "\x7f" for char in token):
        # websockets does not check header values: a newline would end the header early.
        raise UsageError("--token (or KV_TOKEN) contains a control character such as a newline")
    return "Bearer " + token.encode("utf-8", "surrogateescape").decode("latin-1")


def _check_url(url: str) -> str:
    """A usable base URL without a trailing slash, or UsageError naming the problem.

    Checked here, once, rather than left to requests: urlsplit raises a bare ValueError (an
    unclosed ``[``, a port past 65535) and requests words the rest as a failed request.
    """
    given = check_utf8(url.strip(), "--url")
    url = _with_scheme(given)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (read for its ValueError: a port that is not a number up to 65535)
    except ValueError as exc:
        raise UsageError(f"invalid server URL {given!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"invalid server URL {given!r}: expected something like {URL_EXAMPLES}")
    if any(char.isspace() or not char.isprintable() for char in url):
        raise UsageError(f"invalid server URL {given!r}: it contains a space or a control character")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise UsageError(f"invalid server URL {given!r}: a base URL has no ?query or #fragment")
    return url.rstrip("/")


def _with_scheme(url: str) -> str:
    """``url`` if it names a scheme; ``http://`` + ``url`` if it starts ``host``, ``host:port`` or ``[v6]:port``.

    ``localhost:8000`` is what etcdctl and redis-cli users type. Text in none of those forms
    (``http:/host``, a slash short; ``::1:8000``, brackets missing) gets no scheme guessed
    for it, as that would connect somewhere else: it is refused like any bad URL.
    """
    if _SCHEME.match(url):
        return url
    if not _HOST_AND_PORT.fullmatch(url.split("/", 1)[0]):
        raise UsageError(f"invalid server URL {url!r}: expected something like {URL_EXAMPLES}")
    return f"http://{url}"


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests/urllib3 error, which is the part a user can act on."""
    while exc.__context__ is not None and exc.__context__ is not exc:
        exc = exc.__context__
    text = str(exc)
    for marker in ("] ", ": "):
        # "[Errno 111] Connection refused" and "<conn>: Failed to establish ...: [Errno 111] ..."
        if marker in text:
            text = text.rsplit(marker, 1)[1]
    return text.strip(" ')\"") or type(exc).__name__
