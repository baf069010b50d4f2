"""The commands themselves: parse arguments, call the server, print. Shared by shell and one-shot."""

from __future__ import annotations

import shlex
from contextlib import closing

from kvcli.client import KVClient
from kvcli.environment import Environment
from kvcli.errors import UsageError
from kvcli.output import (
    format_deleted,
    format_event,
    format_history_item,
    format_pair,
)
from kvcli.status import ExitStatus, report
from kvcli.usage import command_spec
from kvcli.watch import WatchStream


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
            spec = command_spec(name)
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

    def cmd_put(self, key: str, value: str) -> None:
        """Store and confirm with the new revision."""
        pair = self.client.put(key, value)
        self._print(f"stored {format_pair(pair)} (rev {pair.get('revision')})")

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

    def _print(self, text: str) -> None:
        """A result line on stdout, flushed so pipes and terminals see it at once."""
        self.env.stdout.write(text + "\n")
        self.env.stdout.flush()

    def _note(self, text: str) -> None:
        """A status line on stderr, kept out of stdout so output stays parseable."""
        self.env.stderr.write(text + "\n")
        self.env.stderr.flush()
