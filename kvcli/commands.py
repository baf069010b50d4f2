"""The commands themselves: parse arguments, call the server, print. Shared by shell and one-shot."""

from __future__ import annotations

import shlex
import time
from contextlib import closing
from typing import Any

from kvcli.client import KVClient
from kvcli.environment import Environment
from kvcli.errors import UsageError
from kvcli.keepalive import RENEW_FRACTION, KeepAlive, throttled
from kvcli.output import (
    format_deleted,
    format_event,
    format_history_item,
    format_key,
    format_lease,
    format_pair,
    format_stored,
    plural,
)
from kvcli.status import ExitStatus, report
from kvcli.usage import command_spec, whole_number
from kvcli.watch import WatchStream

RENEWAL_LINE_INTERVAL = 5.0  # seconds; lease keepalive prints at most one renewal line this often


class Commands:
    """Runs one command against the server; every failure becomes one line on stderr."""

    def __init__(self, client: KVClient, env: Environment) -> None:
        self.client = client
        self.env = env

    def run_line(self, name: str, line: str) -> ExitStatus:
        """Run ``name`` with arguments split like a shell would (used by the interactive shell)."""
        try:
            args = shlex.split(line)
        except ValueError as exc:  # "No closing quotation", "No escaped character"
            return report(UsageError(f"cannot parse the arguments: {str(exc).lower()}"), self.env.stderr)
        return self.run(name, args)

    def run(self, name: str, args: list[str]) -> ExitStatus:
        """Run ``name`` with already-split arguments and return its exit status."""
        try:
            spec, args = command_spec(name).resolve(args)
            call = spec.parse(args)
            getattr(self, spec.method)(*call.args, **call.options)
        except BrokenPipeError:
            raise  # the reader went away (``| head``): nothing left to tell anyone
        except (Exception, KeyboardInterrupt) as exc:
            return report(exc, self.env.stderr)
        return ExitStatus.OK

    def cmd_get(self, key: str, rev: int | None = None) -> None:
        """Print the value alone, so ``$(kvcli get k)`` is the value."""
        self._print(str(self.client.get(key, rev).get("value")))

    def cmd_put(self, key: str, value: str, ttl: int | None = None, lease: int | None = None) -> None:
        """Store and confirm with the new revision (and the lease, if the key has one)."""
        if ttl is not None and lease is not None:
            raise UsageError("give --ttl (a new lease) or --lease (an existing one), not both")
        self._print(format_stored(self.client.put(key, value, lease=lease, ttl=ttl)))

    def cmd_getall(self, prefix: str = "", rev: int | None = None) -> None:
        """Print page by page as pages arrive, so output starts at once and memory stays flat."""
        empty = True
        for page in self.client.pages(prefix, rev):
            if page:
                empty = False
                self._print("\n".join(format_pair(pair) for pair in page))
        if empty:
            self._note(f"(no keys with prefix {prefix!r})" if prefix else "(no keys)")

    def cmd_delete(self, key: str) -> None:
        """Delete and confirm with the deleting revision."""
        answer = self.client.delete(key)
        self._print(f"deleted {format_deleted(answer)}")

    def cmd_watch(self, prefix: str = "") -> None:
        """Follow changes until Ctrl+C; starting from the current revision means nothing after it is missed."""
        stream = WatchStream(self.client, prefix, self.client.revision(), notify=self._note)
        try:
            with closing(iter(stream)) as events:
                for event in events:
                    self._print(format_event(event))
        except KeyboardInterrupt:
            self._note("\nwatch stopped")

    def cmd_history(self, key: str) -> None:
        """Print the key's retained events newest first, a page at a time, as getall does."""
        empty, oldest = True, 0
        for page in self.client.history_pages(key):
            oldest = page["oldest"]
            if page["items"]:
                empty = False
                self._print("\n".join(format_history_item(item) for item in page["items"]))
        if empty:
            kept = f"; the server keeps changes from rev {oldest} on" if oldest > 1 else ""
            self._note(f"(no retained changes of {key!r}{kept})")

    def cmd_lease_grant(self, ttl: str) -> None:
        """Print the new lease's id alone, so ``ID=$(kvcli lease grant 30)`` works."""
        self._print(str(self.client.grant(_number(ttl, "the ttl", 1))["id"]))

    def cmd_lease_keepalive(self, lease: str) -> None:
        """Renew until Ctrl+C, one line per renewal at most every few seconds; LeaseNotFound ends it."""
        lease_id = _number(lease, "the lease id", 1)
        renewed = throttled(self._renewed, RENEWAL_LINE_INTERVAL)
        self._note(f"keeping lease {lease_id} alive (Ctrl+C to stop)")
        try:
            KeepAlive(self.client, lease_id).run(renewed, self._note)
        except KeyboardInterrupt:
            self._note(f"\nkeepalive stopped; lease {lease_id} runs out unless renewed")

    def cmd_lease_revoke(self, lease: str) -> None:
        """Revoke, then print the keys that went with it, one a line."""
        revoked = self.client.revoke(_number(lease, "the lease id", 1))
        deleted = revoked["deleted"]
        self._print(f"revoked lease {revoked['id']}: deleted {plural(len(deleted), 'key')} (rev {revoked['revision']})")
        for key in deleted:
            self._print(format_key(key))

    def cmd_lease_list(self) -> None:
        """One line per live lease, page by page."""
        empty = True
        for page in self.client.lease_pages():
            if page:
                empty = False
                self._print("\n".join(format_lease(lease) for lease in page))
        if empty:
            self._note("(no leases)")

    def cmd_lease_show(self, lease: str) -> None:
        """The lease's line as ``lease list`` shows it, then its keys, one a line."""
        shown = self.client.lease(_number(lease, "the lease id", 1))
        self._print(format_lease(shown))
        for key in shown["keys"]:
            self._print(format_key(key))

    def _renewed(self, lease: dict[str, Any]) -> None:
        """A keepalive's line: ``08:40:12 lease 7 renewed: ttl 30s, next in 10s``."""
        next_in = round(lease["ttl"] / RENEW_FRACTION, 1)  # 10s, 3.3s, 0.7s
        self._print(
            f"{time.strftime('%H:%M:%S')} lease {lease['id']} renewed: ttl {lease['ttl']}s, next in {next_in:g}s"
        )

    def _print(self, text: str) -> None:
        """A result line on stdout, flushed so pipes and terminals see it at once."""
        self.env.stdout.write(text + "\n")
        self.env.stdout.flush()

    def _note(self, text: str) -> None:
        """A status line on stderr, kept out of stdout so output stays parseable."""
        self.env.stderr.write(text + "\n")
        self.env.stderr.flush()


def _number(text: str, what: str, minimum: int) -> int:
    """A positional argument that must be a whole number (a TTL, a lease id); UsageError otherwise."""
    try:
        return whole_number(minimum)(text)
    except ValueError as exc:
        raise UsageError(f"{what} must be {exc}, not {text!r}") from None
