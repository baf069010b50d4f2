"""How each command is called: its arguments, its own options and its help, in one table.

The shell, one-shot mode and ``help`` all read ``COMMANDS``, so usage is written once.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from itertools import takewhile
from typing import Any

from kvcli.client import check_utf8
from kvcli.errors import UsageError

END_OF_OPTIONS = "--"  # POSIX: what follows is data, even if it starts with "-"
ANY_NUMBER = 1 << 30  # max_args of a command that takes the rest of the line (lock's COMMAND)
USAGE_COLUMN = 26  # characters; wider usages go on a line of their own in the command table
_ARGUMENT = re.compile(r"[<\[]([a-z]+)[>\]]")  # "<key>" or "[prefix]" in a usage line


def whole_number(minimum: int) -> Callable[[str], int]:
    """A converter for an option's value: ASCII digits, at least ``minimum``, else ValueError."""

    def convert(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or int(text) < minimum:
            raise ValueError(f"a whole number from {minimum}")
        return int(text)

    return convert


@dataclass(frozen=True)
class Option:
    """One of a command's own options: ``--yes`` (a flag) or ``--ttl T`` (taking a value)."""

    name: str
    metavar: str = ""  # empty for a flag
    convert: Callable[[str], Any] = str

    @property
    def dest(self) -> str:
        """The keyword the command method receives: ``ttl`` for ``--ttl``."""
        return self.name[2:].replace("-", "_")

    def value(self, given: str | None) -> Any:
        """The option's value from ``given`` (the text after it, None when there was none)."""
        if not self.metavar:
            if given is not None:
                raise UsageError(f"{self.name} takes no value")
            return True
        if given is None:
            raise UsageError(f"{self.name} needs a value: {self.name} {self.metavar}")
        try:
            return self.convert(given)
        except ValueError as exc:
            raise UsageError(f"{self.name} must be {exc}, not {given!r}") from None


@dataclass(frozen=True)
class Call:
    """A command line taken apart: the positional arguments and the options' values."""

    args: list[str]
    options: dict[str, Any]


@dataclass(frozen=True)
class CommandSpec:
    """How a command is called and what it does (for usage errors and help).

    ``usage`` reads as the user types it: the command's name (one word, or two for
    ``lease grant``), its options, ``<required>`` and ``[optional]`` arguments.
    """

    usage: str
    summary: str
    min_args: int
    max_args: int
    options: tuple[Option, ...] = ()
    forms: tuple[tuple[str, str], ...] = ()  # other ways to call it: (usage, summary), its options
    details: tuple[str, ...] = ()  # more help lines, shown by ``help <command>``
    subcommands: tuple[CommandSpec, ...] = ()

    @property
    def name(self) -> str:
        """``put`` for ``put <key> <value>``, ``lease grant`` for ``lease grant <ttl>``."""
        return " ".join(takewhile(lambda word: word[0].isalnum(), self.usage.split()))

    @property
    def method(self) -> str:
        """The ``Commands`` method running it: ``cmd_lease_grant``."""
        return "cmd_" + self.name.replace(" ", "_")

    @property
    def argument_names(self) -> list[str]:
        """``["key", "value"]`` for ``put <key> <value>``: what error messages call each argument."""
        return [match.group(1) for word in self.usage.split() if (match := _ARGUMENT.fullmatch(word))]

    @property
    def rows(self) -> list[tuple[str, str]]:
        """(usage, summary) of every way to call it, subcommands included: the lines of ``help``."""
        if self.subcommands:
            return [row for spec in self.subcommands for row in spec.rows]
        return [(self.usage, self.summary), *self.forms]

    @property
    def help(self) -> str:
        """The help text: ``get <key>: print the value stored under <key>``, its other forms, details."""
        if self.subcommands:
            return "\n".join(spec.help for spec in self.subcommands)
        lines = [f"{usage}: {summary}" for usage, summary in self.rows]
        return "\n".join([*lines, *(f"  {line}" for line in self.details)])

    @property
    def option_names(self) -> dict[str, bool]:
        """Each option this command (or one of its subcommands) takes, and whether it takes a value."""
        options = [option for spec in (self, *self.subcommands) for option in spec.options]
        return {option.name: bool(option.metavar) for option in options}

    def resolve(self, args: list[str]) -> tuple[CommandSpec, list[str]]:
        """The spec that runs ``args``: this one, or for ``lease grant 10`` the ``grant`` subcommand."""
        if not self.subcommands:
            return self, args
        names = {spec.name.split()[-1]: spec for spec in self.subcommands}
        if not args or args[0] not in names:
            raise UsageError(f"usage: {self.name} {'|'.join(names)} ... (help {self.name} for details)")
        return names[args[0]], args[1:]

    def parse(self, args: list[str]) -> Call:
        """Split ``args`` into options and arguments and check them; UsageError saying what is wrong.

        Before the first ``--``, a word naming one of this command's options (``--ttl 5`` or
        ``--ttl=5``) is that option; any other word, and everything after ``--``, is an argument.
        """
        by_name = {option.name: option for option in self.options}
        positional: list[str] = []
        options: dict[str, Any] = {}
        tokens = iter(args)
        for token in tokens:
            if token == END_OF_OPTIONS:
                positional += tokens
                break
            name, equals, given = token.partition("=")
            option = by_name.get(name)
            if option is None:
                positional.append(token)
                continue
            if option.metavar and not equals:
                given, equals = next(tokens, None), "="
            options[option.dest] = option.value(given if equals else None)
        self._check(positional)
        return Call(positional, options)

    def _check(self, args: list[str]) -> None:
        """UsageError unless ``args`` are the right number of UTF-8 arguments."""
        if not self.min_args <= len(args) <= self.max_args:
            raise self.usage_error(args)
        for arg, arg_name in zip(args, self.argument_names, strict=False):
            check_utf8(arg, f"the {arg_name}")

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


REVISION = Option("--rev", "R", whole_number(0))
TTL = Option("--ttl", "T", whole_number(1))
LEASE = Option("--lease", "ID", whole_number(0))
PREFIX = Option("--prefix", "P")
YES = Option("--yes")

DEFAULT_LOCK_TTL = 10  # seconds (API.md)
CONFIRM_ABOVE = 10  # pairs; delete --prefix asks (or wants --yes) before deleting more

LEASE_COMMANDS = (
    CommandSpec("lease grant <ttl>", "grant a lease of <ttl> seconds and print its id", 1, 1),
    CommandSpec(
        "lease keepalive <id>",
        "renew the lease at a third of its TTL until Ctrl+C",
        1,
        1,
        details=("exit status 1 when the lease is gone (it expired or was revoked)",),
    ),
    CommandSpec("lease revoke <id>", "revoke the lease, deleting its keys, and print them", 1, 1),
    CommandSpec("lease list", "print every live lease: id, TTL, time left, number of keys", 0, 0),
    CommandSpec("lease show <id>", "print the lease's TTL and time left, then its keys", 1, 1),
)

COMMANDS: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec(
            "get <key>",
            "print the value stored under <key>",
            1,
            1,
            (REVISION,),
            forms=(("get <key> --rev R", "the value as it stood at revision R"),),
        ),
        CommandSpec(
            "put <key> <value>",
            "store <value> under <key> (quote a value with spaces)",
            2,
            2,
            (TTL, LEASE),
            forms=(
                ("put --ttl T <key> <value>", "store it under a new lease of T seconds: it expires unless kept alive"),
                ("put --lease ID <key> <value>", "store it under lease ID (--lease 0: detach it from its lease)"),
            ),
        ),
        CommandSpec(
            "getall [prefix]",
            "print every pair, or those whose key starts with prefix",
            0,
            1,
            (REVISION,),
            details=("every page is read at the first page's revision, so the listing is one snapshot",),
            forms=(("getall [prefix] --rev R", "the pairs as they stood at revision R"),),
        ),
        CommandSpec(
            "delete <key>",
            "remove <key> and its value",
            0,
            1,
            (PREFIX, YES),
            forms=(("delete --prefix P [--yes]", "remove every pair whose key starts with P, say how many"),),
            details=(
                "in bounded atomic steps; a prefix is a string prefix (app matches apple too)",
                f"more than {CONFIRM_ABOVE} pairs, or --prefix '' (every key): the shell asks first,",
                "one-shot and scripts refuse without --yes",
            ),
        ),
        CommandSpec("watch [prefix]", "print each change as it happens, until Ctrl+C", 0, 1),
        CommandSpec("history <key>", "print the key's retained changes, newest first", 1, 1),
        CommandSpec(
            "txn [file]",
            "run the transaction given as JSON in file (- or none: stdin)",
            0,
            1,
            details=(
                '{"compare": [{"key": "a", "target": "revision", "op": "==", "value": 5}],',
                ' "success": [{"op": "put", "key": "a", "value": "1"}], "failure": [{"op": "get", "key": "a"}]}',
                "exit status 0 if every compare held, 1 if one failed (the failure ops ran), 2 on errors;",
                "in the shell, give a file (stdin is the shell's)",
            ),
        ),
        CommandSpec("lease", "leases", 0, 0, subcommands=LEASE_COMMANDS),
        CommandSpec(
            "lock [--ttl T] <name> [-- command ...]",
            "wait for and hold the lock <name>; run command, or hold until Ctrl+C",
            1,
            ANY_NUMBER,
            (TTL,),
            details=(
                f"the lock is the key locks/<name>, created only if absent, with a lease of T seconds (default "
                f"{DEFAULT_LOCK_TTL})",
                "kept alive while held; waiting watches the key; released at exit, and by expiry if kvcli dies",
                "exit status: the command's; 2 if the lock was lost while it ran, after stopping the command",
                "(SIGTERM to its process group, then SIGKILL)",
            ),
        ),
    )
}


def command_spec(name: str) -> CommandSpec:
    """The spec of command ``name``; UsageError listing the commands when there is none."""
    spec = COMMANDS.get(name)
    if spec is None:
        raise UsageError(f"unknown command {name!r}; commands are: {', '.join(COMMANDS)}")
    return spec


def command_table() -> str:
    """Every command's usage and summary, one or two lines each, for ``help`` and ``--help``."""
    lines = []
    for usage, summary in (row for spec in COMMANDS.values() for row in spec.rows):
        if len(usage) <= USAGE_COLUMN:
            lines.append(f"  {usage:<{USAGE_COLUMN}} {summary}")
        else:  # a long usage gets a line of its own, so the summaries stay in one column
            lines += [f"  {usage}", f"  {'':<{USAGE_COLUMN}} {summary}"]
    return "\n".join(lines)


def _double_quoted(text: str) -> str:
    """``text`` in double quotes, as users write it, when that means the same in sh and in the shell."""
    if any(char in text for char in '"\\$`!'):
        return shlex.quote(text)  # single quotes: literal in both
    return f'"{text}"'
