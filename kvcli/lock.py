"""``kvcli lock``: a mutex made of one key, as ``etcdctl lock`` makes one.

The lock ``NAME`` is the key ``locks/NAME``. Taking it is a transaction that creates the key
only if it is absent (``revision == 0``), under a new lease of ``--ttl`` seconds granted in
the same commit, so a waiter holds no lease that could leak. A waiter watches the key and
tries again when it is deleted, rather than polling. The holder keeps the lease alive from a
thread and watches the key from another; losing either (the lease expired or was revoked,
the key was deleted or overwritten) means someone else may hold the lock now, so the
command is stopped, with everything it started (``kvcli.child``). Releasing revokes the
lease, which deletes the key; a holder that dies releases it by expiry, within the TTL.

The rejected alternative, etcd's queue of keys under a prefix (each waiter its own key,
served in revision order), is fair but needs a lease per waiter and more than one
transaction; one key keeps the lock visible as a single pair (``getall locks/``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any

from kvcli import child
from kvcli.answers import of
from kvcli.client import KVClient
from kvcli.errors import BadResponse, CLIError, LeaseNotFound, LockLost
from kvcli.keepalive import RENEW_FRACTION, KeepAlive
from kvcli.status import error_message
from kvcli.watch import WatchStream

LOCK_PREFIX = "locks/"  # the lock NAME is the key locks/NAME
CHECK_INTERVAL = 0.1  # seconds between looks at whether the running command ended or the lock was lost
JOIN_TIMEOUT = 1.0  # seconds to wait for the keepalive thread at release
MIN_READ_TIMEOUT = 1.0  # seconds; a renewal's answer is awaited a third of the TTL, but no less than this

Notify = Callable[[str], None]


class Lock:
    """One lock: ``acquire`` it, ``run`` a command or ``hold`` it, ``release`` it."""

    def __init__(self, client: KVClient, name: str, ttl: int, notify: Notify) -> None:
        self.client = client
        self.name = name
        self.key = LOCK_PREFIX + name
        self.ttl = ttl
        self.notify = notify
        self.lease: int | None = None
        self.revision = 0  # the revision that created our key
        self._released = threading.Event()  # set at release: the helper threads stop
        self._lost = threading.Event()
        self._lost_reason = ""
        self._guard = threading.Lock()  # the first reason to lose the lock is the one told
        self._keeper: threading.Thread | None = None

    def acquire(self, waiting: Notify | None = None) -> None:
        """Called first: take the lock, waiting for as long as someone else holds it.

        ``waiting`` is told once who holds it, when it is held.
        """
        while True:
            answer = self.client.txn(self._create_if_absent())
            put_or_get = answer["responses"][0]
            if answer["succeeded"]:
                self._acquired(put_or_get)
                return
            if waiting is not None:
                waiting(f"waiting for lock {self.name!r}, held by {put_or_get.get('value')!r} (Ctrl+C to give up)")
                waiting = None
            self._wait_for_delete(after=answer["revision"])

    def run(self, command: list[str]) -> int:
        """Called once acquired: run ``command`` and return its exit status (128+N for signal N).

        LockLost if the lock was lost while it ran, after stopping it; on Ctrl+C (or SIGTERM)
        reaching kvcli it is stopped too.
        """
        with child.running(command) as process:
            try:
                return child.exit_status(self._wait(process))
            except BaseException:  # LockLost, KeyboardInterrupt: nothing may go on running
                child.stop(process)
                raise

    def _wait(self, process: subprocess.Popen) -> int:
        """The command's return code once it ends by itself; LockLost as soon as the lock is lost."""
        while True:
            try:
                return process.wait(timeout=CHECK_INTERVAL)
            except subprocess.TimeoutExpired:
                if self._lost.is_set():
                    raise self._lost_error("the command was stopped") from None

    def hold(self) -> None:
        """Called once acquired, without a command: wait for Ctrl+C; LockLost if the lock is lost first."""
        while not self._lost.wait(CHECK_INTERVAL):
            pass
        raise self._lost_error("it is no longer held")

    def release(self) -> None:
        """Called at the end whatever happened: stop the helper threads and revoke the lease, deleting the key."""
        self._released.set()
        if self.lease is None:
            return
        try:
            self.client.revoke(self.lease)
        except LeaseNotFound:
            pass  # gone already: it expired, or was revoked by someone else
        except CLIError as exc:
            self.notify(f"could not release lock {self.name!r} ({exc}); it expires within {self.ttl}s")
        if self._keeper is not None:
            self._keeper.join(JOIN_TIMEOUT)

    def _create_if_absent(self) -> dict[str, Any]:
        """The transaction that takes the lock: put the key under a new lease if it does not exist."""
        holder = f"{socket.gethostname()} pid {os.getpid()}"  # what getall locks/ shows
        return {
            "compare": [{"key": self.key, "target": "revision", "op": "==", "value": 0}],
            "success": [{"op": "put", "key": self.key, "value": holder, "ttl": self.ttl}],
            "failure": [{"op": "get", "key": self.key}],
        }

    def _wait_for_delete(self, after: int) -> None:
        """Until the key is deleted (released, expired or removed) after revision ``after``."""
        stream = WatchStream(self.client, self.key, after, notify=self._watch_trouble)
        with closing(iter(stream)) as events:
            for event in events:  # the watch is by prefix: locks/a also matches locks/ab
                if event["key"] == self.key and event["type"] == "delete":
                    return

    def _acquired(self, put: dict[str, Any]) -> None:
        """Record the lease the transaction granted and start the threads that keep and guard it."""
        if not of(int)(put.get("lease")):
            raise BadResponse("the server's answer to the lock's transaction has no lease (is it a kvstore server?)")
        self.lease, self.revision = put["lease"], put["revision"]
        self._keeper = _start(self._keep_alive, self.lease)
        _start(self._guard_key)

    def _keep_alive(self, lease: int) -> None:
        """The keepalive thread: renew until released; a lease that is gone or lapsed loses the lock."""
        # Its own session, whose requests time out before a renewal is due: a hung request
        # must not outlast the lease unnoticed.
        client = self.client.copy(read_timeout=max(self.ttl / RENEW_FRACTION, MIN_READ_TIMEOUT))
        try:
            KeepAlive(client, lease, self._released, lapse=True).run(lambda _: None, self._trouble)
        except LeaseNotFound:
            self._lose(f"its lease {lease} is gone (expired or revoked)")
        except Exception as exc:
            self._lose(error_message(exc))
        finally:
            client.close()

    def _guard_key(self) -> None:
        """The key-watching thread: any write to our key but our own release loses the lock.

        It ends with the delete that revoking the lease causes; at exit, as a daemon, in any case.
        """
        client = self.client.copy()
        stream = WatchStream(client, self.key, self.revision, notify=self._watch_trouble)
        try:
            with closing(iter(stream)) as events:
                for event in events:
                    if self._released.is_set():
                        return
                    if event["key"] == self.key:
                        self._lose(_what_happened(self.key, event))
                        return
        except Exception as exc:
            self._lose(f"its key can no longer be watched ({error_message(exc)})")
        finally:
            client.close()

    def _lose(self, reason: str) -> None:
        """Called from a helper thread: the lock is no longer ours (ignored once released)."""
        with self._guard:
            if not self._released.is_set() and not self._lost.is_set():
                self._lost_reason = reason
                self._lost.set()

    def _lost_error(self, consequence: str) -> LockLost:
        """The one line saying why the lock was lost and what that did."""
        return LockLost(f"lost lock {self.name!r}: {self._lost_reason}; {consequence}")

    def _trouble(self, note: str) -> None:
        """A helper's note about the connection, told unless the lock is being released anyway."""
        if not self._released.is_set():
            self.notify(f"lock {self.name!r}: {note}")

    def _watch_trouble(self, note: str) -> None:
        """A WatchStream note: told when it is about trouble (its words for that start "watch:"), not
        the "watching ... (Ctrl+C to stop)" every connection starts with."""
        if note.startswith("watch:"):
            self._trouble(note)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the lock is held, SIGTERM (``timeout``, systemd, ``kill``) stops the command and releases
    the lock as Ctrl+C does, instead of leaving the command running with a lock that will expire."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    """The SIGTERM handler: the same path as Ctrl+C."""
    raise KeyboardInterrupt


def _what_happened(key: str, event: dict[str, Any]) -> str:
    """Why a write to the lock's key lost it: ``its lease 7 expired``, ``its key locks/a was deleted``."""
    if event["type"] == "put":
        return f"its key {key} was overwritten"
    if "reason" in event:  # the lease's end deleted it
        return f"its lease {event.get('lease')} {'expired' if event['reason'] == 'expired' else 'was revoked'}"
    return f"its key {key} was deleted"


def _start(target: Callable[..., None], *args: Any) -> threading.Thread:
    """A daemon thread running ``target(*args)``: it never keeps kvcli from exiting."""
    thread = threading.Thread(target=target, args=args, name=f"kvcli-lock{target.__name__}", daemon=True)
    thread.start()
    return thread
