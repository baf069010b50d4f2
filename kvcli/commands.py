"""The commands themselves: parse arguments, call the server, print. Shared by shell and one-shot."""

from __future__ import annotations

import shlex
from contextlib import closing
from dataclasses import dataclass

from kvcli.client import KVClient, check_utf8
from kvcli.environment import Environment
from kvcli.errors import UsageError
from kvcli.output import format_deleted, format_event, format_pair
from kvcli.status import ExitStatus, report
from kvcli.watch import WatchStream


@dataclass(frozen=True)
class CommandSpec:
    """How a command is called and what it does (for usage errors and help)."""

    usage: str
    summary: str
    min_args: int
    max_args: int

    @property
    def name(self) -> str:
        """``put`` for ``put <key> <value>``."""
        return self.usage.split()[0]

    @property
    def argument_names(self) -> list[str]:
        """``["key", "value"]`` for ``put <key> <value>``: what error messages call each argument."""
        return [word.strip("<>[]") for word in self.usage.split()[1:]]

    @property
    def help(self) -> str:
        """The help line: ``get <key>: print the value stored under <key>``."""
        return f"{self.usage}: {self.summary}"

    def usage_error(self, args: list[str]) -> UsageError:
        """``usage: ...`` for a call with the wrong number of ``args``.

        With too many, the extra words most likely belong to the last argument, split at its
        spaces (``put k hello big world``), so the message shows that call quoted.
        """
        message = f"usage: {self.usage}"
        if len(args) > self.max_args > 0:
            kept, rest = args[: self.max_args - 1], " ".join(args[self.max_args - 1 :])
            example = " ".join([self.name, *map(shlex.quote, kept), _double_quoted(rest)])
            message += f" (quote a {self.argument_names[self.max_args - 1]} with spaces: {example})"
        return UsageError(message)


END_OF_OPTIONS = "--"  # POSIX: what follows is data, even if it starts with "-"

COMMANDS: dict[str, CommandSpec] = {
    "get": CommandSpec("get <key>", "print the value stored under <key>", 1, 1),
    "put": CommandSpec("put <key> <value>", "store <value> under <key> (quote a value with spaces)", 2, 2),
    "getall": CommandSpec("getall [prefix]", "print every pair, or those whose key starts with prefix", 0, 1),
    "delete": CommandSpec("delete <key>", "remove <key> and its value", 1, 1),
    "watch": CommandSpec("watch [prefix]", "print each change as it happens, until Ctrl+C", 0, 1),
}


def command_spec(name: str) -> CommandSpec:
    """The spec of command ``name``; UsageError listing the commands when there is none."""
    spec = COMMANDS.get(name)
    if spec is None:
        raise UsageError(f"unknown command {name!r}; commands are: {', '.join(COMMANDS)}")
    return spec


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
        args = _without_end_of_options(args)
        try:
            self._check(name, args)
            getattr(self, f"cmd_{name}")(*args)
        except BrokenPipeError:
            raise  # the reader went away (``| head``): nothing left to tell anyone
        except (Exception, KeyboardInterrupt) as exc:
            return report(exc, self.env.stderr)
        return ExitStatus.OK

    def cmd_get(self, key: str) -> None:
        """Print the value alone, so ``$(kvcli get k)`` is the value."""
        self._print(str(self.client.get(key).get("value")))

    def cmd_put(self, key: str, value: str) -> None:
        """Store and confirm with the new revision."""
        pair = self.client.put(key, value)
        self._print(f"stored {format_pair(pair)} (rev {pair.get('revision')})")

    def cmd_getall(self, prefix: str = "") -> None:
        """Print page by page as pages arrive, so output starts at once and memory stays flat."""
        empty = True
        for page in self.client.pages(prefix):
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

    def _check(self, name: str, args: list[str]) -> None:
        """UsageError unless ``name`` is a command and gets the right number of UTF-8 arguments."""
        spec = command_spec(name)
        if not spec.min_args <= len(args) <= spec.max_args:
            raise spec.usage_error(args)
        for arg, arg_name in zip(args, spec.argument_names, strict=False):
            check_utf8(arg, f"the {arg_name}")

    def _print(self, text: str) -> None:
        """A result line on stdout, flushed so pipes and terminals see it at once."""
        self.env.stdout.write(text + "\n")
        self.env.stdout.flush()

    def _note(self, text: str) -> None:
        """A status line on stderr, kept out of stdout so output stays parseable."""
        self.env.stderr.write(text + "\n")
        self.env.stderr.flush()


def _double_quoted(text: str) -> str:
    """``text`` in double quotes, as users write it, when that means the same in sh and in the shell."""
    if any(char in text for char in '"\\$`!'):
        return shlex.quote(text)  # single quotes: literal in both
    return f'"{text}"'


def _without_end_of_options(args: list[str]) -> list[str]:
    """``args`` less the first ``--``, so ``put -- -key -value`` stores key ``-key``.

    Dropped here, where the shell and one-shot mode meet, and only the first: after it, a
    ``--`` is data too (``put -- key --`` stores the value ``--``).
    """
    if END_OF_OPTIONS not in args:
        return args
    end = args.index(END_OF_OPTIONS)
    return args[:end] + args[end + 1 :]
