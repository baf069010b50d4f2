"""Following a prefix over the watch socket, reconnecting across dropped connections.

The server replays every retained event after ``after=R``, so resuming from the last
revision seen loses nothing and repeats nothing. Only failures that a retry cannot fix
(bad token, compacted history, a refused request) end the watch; a server dropping a watcher
that fell behind (``CloseCode.TOO_SLOW``) is a dropped connection like any other.

The watch asks for a progress frame after PROGRESS_INTERVAL quiet seconds: it says how far
the server has got for this prefix, so the resume point keeps up with the store while other
keys are written, instead of staying at the prefix's last event until the history no
longer reaches back to it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from kvcli.answers import DELETED, PAIR, checked, of, record
from kvcli.client import KVClient
from kvcli.errors import (
    AuthRequired,
    BadResponse,
    ServerError,
    ServerTimeout,
    ServerUnreachable,
    UsageError,
    WatchCompacted,
    WatchRefused,
)
from kvcli.protocol import CloseCode

RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)  # seconds before each retry; the last one repeats
OPEN_TIMEOUT = 5.0  # seconds for the TCP connect and the websocket handshake
CLOSE_TIMEOUT = 1.0  # seconds to wait for the server's close frame when the user stops
STABLE_CONNECTION = 5.0  # seconds open after which a connection counts as healthy again
PING_INTERVAL = 20.0  # seconds; pings find a peer that vanished without closing the TCP connection
PING_TIMEOUT = 20.0  # seconds
# Seconds of quiet after which the server says how far it has got. The resume point then lags
# the store by at most this long, so with the default 10,000 retained events a quiet prefix
# stays resumable while other keys take up to 1,000 writes a second (a third of what daphne
# does durably); the cost is one 40-byte frame per quiet watcher every 10 s.
PROGRESS_INTERVAL = 10

PROGRESS = record(revision=of(int))  # {"type": "progress", "revision": R}

Event = dict[str, Any]
Notify = Callable[[str], None]


class WatchStream:
    """Iterate over put/delete events under ``prefix`` with revision > ``after``, until stopped."""

    def __init__(
        self,
        client: KVClient,
        prefix: str,
        after: int,
        notify: Notify,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.last = after  # the highest revision handed out; reconnects resume after it
        self.notify = notify
        self.sleep = sleep
        self.refusal: str | None = None  # the server's ``error`` frame, explaining its close code

    def __iter__(self) -> Iterator[Event]:
        """Yield events forever; raise a ``kvcli.errors`` exception when retrying cannot help."""
        attempt = 0  # failed attempts since the last healthy connection; drives the backoff
        while True:
            opened: float | None = None
            too_slow = False
            try:
                if attempt:
                    self._check_not_rewound()
                with self._open() as socket:
                    self._connected(attempt)
                    opened = time.monotonic()
                    for frame in socket:
                        for event in self._events(frame):
                            # Only an event is progress: a server that accepts each socket and
                            # then refuses the watch (an error frame) must still be backed off from.
                            attempt = 0
                            yield event
                reason = "the server closed the connection"
            except ConnectionClosed as exc:
                reason = self._closed(exc)
                too_slow = _close_code(exc) == CloseCode.TOO_SLOW
            except InvalidStatus as exc:
                reason = self._rejected(exc.response.status_code)
            except InvalidURI as exc:
                raise UsageError(f"invalid watch URL: {exc}") from None
            except (OSError, TimeoutError, InvalidHandshake, ServerUnreachable, ServerTimeout, ServerError) as exc:
                reason = str(exc) or type(exc).__name__
            # A socket that is accepted and then closed at once (a server refusing while it starts
            # or stops) is a failed attempt too, or the loop would reconnect without backing off.
            if opened is not None and time.monotonic() - opened >= STABLE_CONNECTION:
                attempt = 0
            if attempt == 0:
                self.notify(f"watch: connection lost ({reason}); reconnecting after rev {self.last}")
            # A watcher dropped for falling behind resumes at once: the server is up, and waiting
            # would only leave more to replay. Without an event since the last failure (too slow
            # for even one) the backoff applies as to any failure, so no server is hammered.
            if not (too_slow and attempt == 0):
                self.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
            attempt += 1

    def _check_not_rewound(self) -> None:
        """Before resuming: a server whose revision is below ours lost or replaced its data.

        Resuming ``after`` a revision the server has not reached would silently drop every
        write until it got there, so stop and say so instead.
        """
        revision = self.client.revision()
        if revision < self.last:
            raise WatchRefused(
                f"the server's revision went back from {self.last} to {revision} (was its data replaced?); "
                "run getall, then watch again"
            )

    def _open(self) -> ClientConnection:
        """Connect with the token header and ``after`` = the last revision seen."""
        progress = urlencode({"progress": PROGRESS_INTERVAL})
        return connect(
            f"{self.client.watch_url(self.prefix, self.last)}&{progress}",
            additional_headers=self.client.auth_headers,
            open_timeout=OPEN_TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            # An event carries the new value and the previous one, each up to the server's value
            # limit (1 MiB by default, configurable) and longer once JSON-escaped, so any fixed cap
            # (websockets' default is 1 MiB) would close the socket with 1009 on a big write and
            # the watch would reconnect into the same event forever. The server is trusted here.
            max_size=None,
        )

    def _connected(self, attempt: int) -> None:
        """Called once the handshake succeeded: say so, first time or after a reconnect."""
        where = f"prefix {self.prefix!r}" if self.prefix else "all keys"
        if attempt:
            self.notify(f"watch: reconnected, resuming after rev {self.last}")
        else:
            self.notify(f"watching {where} after rev {self.last} (Ctrl+C to stop)")

    def _events(self, frame: str | bytes) -> Iterator[Event]:
        """The new event in one frame, if any; raises for a ``compacted`` frame, and moves on for ``progress``."""
        try:
            message = json.loads(frame)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the decoder goes
            raise BadResponse("the server sent a watch frame that is not JSON (is --url a kvstore server?)") from None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "compacted":
            raise WatchCompacted(_compacted_message(self.last, message.get("oldest")))
        if kind == "error":
            self.refusal = str(message.get("error"))
        elif kind == "progress":
            # Every event for the prefix up to here has been sent: resume after it. Nothing is printed.
            self.last = max(self.last, checked(message, PROGRESS, "progress frame")["revision"])
        elif kind in ("put", "delete"):
            checked(message, PAIR if kind == "put" else DELETED, f"{kind} event")
            # The server promises no duplicates; skipping what is not newer keeps that promise here.
            if message["revision"] > self.last:
                self.last = message["revision"]
                yield message

    def _closed(self, exc: ConnectionClosed) -> str:
        """Raise for close codes a retry cannot fix; otherwise the reason to show while retrying."""
        code = _close_code(exc)
        refusal = self.refusal or (exc.rcvd.reason if exc.rcvd is not None else "") or ""
        self.refusal = None
        if code == CloseCode.UNAUTHORIZED:
            raise AuthRequired(f"the watch was refused: {refusal or 'a valid token is required'} (pass --token)")
        if code == CloseCode.COMPACTED:
            raise WatchCompacted(_compacted_message(self.last, None))
        if code in (CloseCode.BAD_REQUEST, CloseCode.TOO_MANY):
            raise WatchRefused(f"the server refused the watch: {refusal or f'close code {code}'}")
        if code is None:
            return "connection dropped"
        if code == CloseCode.TOO_SLOW:
            return f"the server dropped this watch for reading too slowly, close code {code}"
        return f"close code {code}: {refusal}" if refusal else f"close code {code}"

    def _rejected(self, status: int) -> str:
        """Raise for handshake statuses a retry cannot fix; 5xx (a restarting server) is retried."""
        if status == 401:
            raise AuthRequired("the watch was refused: a valid token is required (pass --token)")
        if status < 500:
            raise WatchRefused(f"the server rejected the watch handshake with HTTP {status}")
        return f"HTTP {status}"


def _close_code(exc: ConnectionClosed) -> int | None:
    """The close code the server sent, or None when the connection ended without a close frame."""
    return exc.rcvd.code if exc.rcvd is not None else None


def _compacted_message(last: int, oldest: Any) -> str:
    """What a compacted watch means and what to do about it."""
    oldest_text = f" (oldest kept is rev {oldest})" if oldest is not None else ""
    return f"watch stopped: events after rev {last} are no longer kept{oldest_text}; run getall, then watch again"
