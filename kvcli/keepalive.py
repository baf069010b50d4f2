"""Keeping a lease alive: renew it at a third of its TTL, riding out a server that is briefly away.

Used by ``lease keepalive`` in the foreground and by ``lock`` in a thread of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from kvcli.client import KVClient
from kvcli.errors import CLIError, ServerError, ServerTimeout, ServerUnreachable

RENEW_FRACTION = 3  # renew at a third of the TTL, as etcd's clients do: two renewals may fail before it lapses
RETRY_DELAY = 0.5  # seconds between attempts while the server does not answer

Lease = dict[str, Any]


class LeaseLapsed(CLIError):
    """No renewal was confirmed for a whole TTL: the lease may have run out, so nothing may rely on it."""


class KeepAlive:
    """Renews one lease until ``stop`` is set; ``run`` raises when the lease is gone."""

    def __init__(
        self,
        client: KVClient,
        lease: int,
        stop: threading.Event | None = None,
        *,
        lapse: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.lease = lease
        self.stop = stop or threading.Event()
        self.lapse = lapse  # give up once a whole TTL passed without a confirmed renewal
        self.clock = clock

    def run(self, renewed: Callable[[Lease], None], trouble: Callable[[str], None]) -> None:
        """Renew now and then at a third of the TTL; ``renewed`` gets each answer, ``trouble`` each outage.

        LeaseNotFound (from the client) once the lease is gone. A server that does not answer,
        or answers 5xx, is retried: after a restart it gives every lease its full TTL again
        (API.md), so only its answer tells whether the lease survived. With ``lapse`` the wait
        is bounded instead, by the TTL: LeaseLapsed.
        """
        expires: float | None = None  # when the lease runs out if no renewal gets through
        troubled = False
        while not self.stop.is_set():
            sent = self.clock()
            try:
                answer = self.client.keepalive(self.lease)
            except (ServerUnreachable, ServerTimeout, ServerError) as exc:
                if isinstance(exc, ServerError) and (exc.status or 0) < 500:
                    raise
                if self.lapse and expires is not None and self.clock() >= expires:
                    raise LeaseLapsed(f"no renewal of lease {self.lease} got through in time ({exc})") from None
                if not troubled:
                    trouble(f"lease {self.lease}: renewal failed ({exc}); retrying")
                troubled = True
                self.stop.wait(RETRY_DELAY)
                continue
            troubled = False
            # Measured from before the request: the server restarted its TTL at some moment after it.
            expires = sent + answer["ttl"]
            renewed(answer)
            self.stop.wait(answer["ttl"] / RENEW_FRACTION)


def throttled(
    callback: Callable[[Lease], None], seconds: float, clock: Callable[[], float] = time.monotonic
) -> Callable[[Lease], None]:
    """``callback``, skipping calls that come less than ``seconds`` after the last one it let through."""
    last: float | None = None

    def call(answer: Lease) -> None:
        nonlocal last
        now = clock()
        if last is None or now - last >= seconds:
            last = now
            callback(answer)

    return call
