"""The commands themselves: parse arguments, call the server, print. Shared by shell and one-shot."""

from __future__ import annotations

import json
import shlex
import time
from contextlib import closing
from enum import Enum
from pathlib import Path
from typing import Any

from kvcli.client import KVClient, check_utf8
from kvcli.environment import Environment
from kvcli.errors import BadInput, UsageError
from kvcli.keepalive import RENEW_FRACTION, KeepAlive, throttled
from kvcli.lock import LOCK_PREFIX, Lock, sigterm_as_interrupt
from kvcli.output import (
    format_deleted,
    format_event,
    format_history_item,
    format_key,
    format_lease,
    format_pair,
    format_stored,
    format_txn_response,
    plural,
)
from kvcli.status import ExitStatus, report
from kvcli.usage import CONFIRM_ABOVE, DEFAULT_LOCK_TTL, command_spec, whole_number
from kvcli.watch import WatchStream

RENEWAL_LINE_INTERVAL = 5.0  # seconds; lease keepalive prints at most one renewal line this often
STDIN = "-"  # txn's file name for standard input


class Mode(Enum):
    """Who runs the commands, which decides whether stdin is the command's and whether to ask first."""

    ONE_SHOT = "one-shot"  # stdin is the command's (txn reads it); nobody is asked: --yes or refuse
    SCRIPT = "script"  # stdin is the script: not the command's, and nobody there to answer
    SHELL = "shell"  # a person at the prompt, who is asked before a big delete


class Commands:
    """Runs one command against the server; every failure becomes one line on stderr."""

    def __init__(self, client: KVClient, env: Environment, mode: Mode = Mode.ONE_SHOT) -> None:
        self.client = client
        self.env = env
        self.mode = mode

    def run_line(self, name: str, line: str) -> int:
        """Run ``name`` with arguments split like a shell would (used by the interactive shell)."""
        try:
            args = shlex.split(line)
        except ValueError as exc:  # "No closing quotation", "No escaped character"
            return report(UsageError(f"cannot parse the arguments: {str(exc).lower()}"), self.env.stderr)
        return self.run(name, args)

    def run(self, name: str, args: list[str]) -> int:
        """Run ``name`` with already-split arguments and return its exit status.

        That is an ExitStatus, but for ``lock`` with a command it is the command's own.
        """
        try:
            spec, args = command_spec(name).resolve(args)
            call = spec.parse(args)
            status = getattr(self, spec.method)(*call.args, **call.options)
        except BrokenPipeError:
            raise  # the reader went away (``| head``): nothing left to tell anyone
        except (Exception, KeyboardInterrupt) as exc:
            return report(exc, self.env.stderr)
        return ExitStatus.OK if status is None else status

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

    def cmd_delete(self, key: str | None = None, prefix: str | None = None, yes: bool = False) -> None:
        """Delete one key and confirm with the deleting revision, or (``--prefix``) every key under a prefix."""
        if (key is None) == (prefix is None):
            raise UsageError("usage: delete <key> | delete --prefix P [--yes]")
        if prefix is not None:
            self._delete_prefix(prefix, yes)
            return
        if yes:
            raise UsageError("--yes goes with --prefix: deleting one key asks nothing")
        self._print(f"deleted {format_deleted(self.client.delete(key))}")

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

    def cmd_txn(self, file: str = STDIN) -> ExitStatus:
        """Run the transaction in ``file`` (or stdin), print its outcome and one line per op; 1 if a compare failed."""
        answer = self.client.txn(self._read_txn(file))
        outcome = "succeeded" if answer["succeeded"] else "compare failed"
        self._print(f"{outcome} (rev {answer['revision']})")
        for response in answer["responses"]:
            self._print(format_txn_response(response))
        return ExitStatus.OK if answer["succeeded"] else ExitStatus.COMPARE_FAILED

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

    def cmd_lock(self, name: str, *command: str, ttl: int = DEFAULT_LOCK_TTL) -> int:
        """Wait for the lock, then run ``command`` (its status) or hold it until Ctrl+C; release it at the end."""
        if not name:
            raise UsageError("the lock name must not be empty")
        lock = Lock(self.client, name, ttl, self._note)
        with sigterm_as_interrupt():
            lock.acquire(waiting=None if command else self._note)  # with a command, quiet as flock(1)
            try:
                if command:
                    return lock.run(list(command))
                self._print(f"holding lock {name!r} (key {LOCK_PREFIX}{name}, lease {lock.lease}); Ctrl+C to release")
                try:
                    lock.hold()
                except KeyboardInterrupt:
                    self._note(f"\nreleased lock {name!r}")
                return ExitStatus.OK
            finally:
                lock.release()

    def _delete_prefix(self, prefix: str, yes: bool) -> None:
        """Delete under ``prefix`` in bounded atomic steps until none is left, then say how many went.

        Each step is one atomic commit of at most --page-size pairs, so no request is unbounded;
        pairs written under the prefix meanwhile are deleted too, as ``etcdctl del --prefix`` would.
        """
        if not yes and not self._confirmed(prefix):
            self._note("nothing deleted")
            return
        deleted, revision, finished = 0, 0, False
        try:
            while not finished:
                step = self.client.delete_prefix(prefix)
                deleted, revision, finished = deleted + step["deleted"], step["revision"], not step["more"]
        finally:  # also after Ctrl+C or an error midway: what did go is worth knowing
            if finished or deleted:
                where = f"under {format_key(prefix)}" if prefix else "(every key)"
                self._print(f"deleted {plural(deleted, 'pair')} {where}" + (f" (rev {revision})" if deleted else ""))

    def _confirmed(self, prefix: str) -> bool:
        """Whether to go ahead without --yes: a few pairs under a real prefix, or the shell's user says so.

        One-shot and scripts have nobody to ask (a script's stdin is the script), so there the
        answer is a UsageError asking for --yes. The count is taken first; it is what is asked about.
        """
        count = self.client.count(prefix)
        if count == 0 or (prefix and count <= CONFIRM_ABOVE):
            return True
        what = f"{plural(count, 'pair')} under {format_key(prefix)}" if prefix else f"every key ({count})"
        if self.mode is not Mode.SHELL:
            raise UsageError(f"this would delete {what}; add --yes to go ahead")
        return self._ask(f"delete {what}?")

    def _ask(self, question: str) -> bool:
        """Ask the shell's user a yes/no question; anything but y or yes (and end of input) is no."""
        self.env.stdout.write(f"{question} [y/N] ")
        self.env.stdout.flush()
        answer = self.env.stdin.readline()
        if not answer:
            self.env.stdout.write("\n")
        return answer.strip().lower() in ("y", "yes")

    def _read_txn(self, file: str) -> dict[str, Any]:
        """The transaction in ``file`` (``-``: stdin) as a JSON object; BadInput naming what is wrong."""
        if file == STDIN and self.mode is not Mode.ONE_SHOT:
            raise UsageError("in the shell, txn reads a file: txn FILE (standard input is the shell's)")
        where = "standard input" if file == STDIN else file
        try:
            text = self.env.stdin.read() if file == STDIN else Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"cannot read {where}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise BadInput(f"{where} is not UTF-8 text") from None
        try:
            body = json.loads(check_utf8(text, f"the transaction in {where}"))
        except json.JSONDecodeError as exc:
            raise BadInput(
                f"the transaction in {where} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        except RecursionError:
            raise BadInput(f"the transaction in {where} is nested too deeply") from None
        if not isinstance(body, dict):
            raise BadInput(
                f'the transaction in {where} must be a JSON object: {{"compare": [...], "success": [...], '
                '"failure": [...]}'
            )
        return body

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
