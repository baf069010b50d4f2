"""Entry point: options, then either one command (one-shot) or the interactive shell."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, NoReturn

from kvcli.client import DEFAULT_PAGE_SIZE, KVClient
from kvcli.commands import Commands
from kvcli.environment import DEFAULT_URL, Environment
from kvcli.errors import UsageError
from kvcli.shell import KVScript, KVShell
from kvcli.status import ExitStatus, report
from kvcli.usage import COMMANDS, END_OF_OPTIONS, command_spec, command_table

_OPTION_NAME = re.compile(r"--[A-Za-z][A-Za-z0-9-]*")  # what an option looks like after the command

EPILOG = "commands:\n" + command_table()
EPILOG += "\n\nOptions may also follow the command; -- ends them, so a key or value may start with -."
EPILOG += "\nhelp <command> (help lease, help lock, ...) explains one command and its options."
EPILOG += "\nWithout a command: the interactive shell, or for piped input a script of commands, one a line."
EPILOG += "\nExit status: 0 ok, 1 not found (a key, a lease) or a txn compare failed, 2 error (a script: the"
EPILOG += "\nworst of its commands); lock with a command exits with the command's status."


class _ParserExit(Exception):
    """argparse finished by itself (``--help``): stop with this status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse writing to the injected streams and raising instead of calling ``sys.exit``."""

    def __init__(self, env: Environment, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.env = env

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            (self.env.stderr if file is sys.stderr else self.env.stdout).write(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.env.stderr.write(message)
        raise _ParserExit(status)

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def parse_command_line(self, argv: list[str]) -> argparse.Namespace:
        """The options before the command, then the same options among its arguments (one-shot)."""
        options, unknown = self.parse_known_args(argv)
        if unknown:  # only dashed words before the command land here; the rest is the command
            raise self._unknown_option(unknown[0])
        if options.command:
            name, *args = options.command
            spec = COMMANDS.get(name)
            trailing, args = self._split_options(args, spec.option_names if spec else {})
            self.parse_args(trailing, namespace=options)  # later wins, as before the command
            options.command = [name, *args]
        return options

    def _split_options(self, args: list[str], own: dict[str, bool]) -> tuple[list[str], list[str]]:
        """This parser's options among a command's arguments, and the arguments left for the command.

        The rule: before ``--``, a word of the form ``--name`` or ``--name=value`` is an option,
        and a name that is neither one of ours nor one of the command's ``own`` (a typo, an
        option from another tool) is a UsageError naming it, rather than a key or value nobody
        meant to store. The command's own options are left for it, joined to their value
        (``--prefix=-x``) so the command reads the value this parser saw. Any other word
        is the command's, so ``put -dash val`` and ``put k -1`` store what they say (kvcli has
        no one-letter options to mistake). ``--`` itself is left in: the command's parser drops
        it, for one-shot and shell commands alike, so ``put -- --key v`` stores ``--key``.
        """
        options: list[str] = []
        rest: list[str] = []
        tokens = iter(args)
        for token in tokens:
            if token == END_OF_OPTIONS:
                rest += [token, *tokens]
                break
            name, equals, _ = token.partition("=")
            action = self._option_string_actions.get(name)
            if action is None and name in own:
                value = next(tokens, None) if own[name] and not equals else None
                rest.append(token if value is None else f"{token}={value}")
                continue
            if action is None and _OPTION_NAME.fullmatch(name):
                raise self._unknown_option(token, own, "; put -- before a key or value that starts with -")
            if action is None:
                rest.append(token)
            elif action.nargs == 0 or equals:
                options.append(token)
            else:
                value = next(tokens, None)  # joined with "=", so a value may start with a dash
                options.append(token if value is None else f"{token}={value}")
        return options, rest

    def _unknown_option(self, token: str, own: dict[str, bool] | None = None, hint: str = "") -> UsageError:
        """The error for ``token``, naming the option but not its value (it may be a mistyped --token)."""
        known = [action.option_strings[-1] for action in self._actions if action.option_strings]
        return UsageError(
            f"unknown option {token.partition('=')[0]} (options: {', '.join([*known, *(own or {})])}{hint})"
        )


def build_parser(env: Environment) -> _Parser:
    """The option parser; defaults come from ``KV_URL`` and ``KV_TOKEN``."""
    parser = _Parser(
        env,
        prog="kvcli",
        allow_abbrev=False,  # after the command only exact names count, so before it too
        description="Command-line client for the kvstore service.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--url", default=env.default_url, help=f"server URL or host:port (env KV_URL, default {DEFAULT_URL})"
    )
    parser.add_argument("--token", default=env.default_token, help="bearer token (env KV_TOKEN)")
    parser.add_argument(
        "--page-size",
        type=int,
        default=DEFAULT_PAGE_SIZE,
        help="pairs (or leases, or changes) per request in getall, history, lease list and delete --prefix",
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        help="command and its arguments (the options may follow it); none for the shell",
    )
    return parser


def main(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """Run the CLI with ``argv`` (without the program name) and return the exit status.

    An ExitStatus, except after ``lock ... -- COMMAND``: then COMMAND's own status.
    """
    env = env or Environment.from_system()
    try:
        options = build_parser(env).parse_command_line(sys.argv[1:] if argv is None else argv)
        client = KVClient(options.url, options.token, options.page_size)
    except _ParserExit as done:
        return ExitStatus.OK if done.status == 0 else ExitStatus.ERROR
    except UsageError as exc:
        return report(exc, env.stderr)
    try:
        return _dispatch(options.command, Commands(client, env), env)
    finally:
        client.close()


def _dispatch(command: list[str], commands: Commands, env: Environment) -> int:
    """No command: the shell, or a script when stdin is not a terminal. ``help [command]``: help.

    Anything else: that command, once.
    """
    if not command:
        return (KVShell if env.stdin_isatty else KVScript)(commands, env).run()
    name, *args = command
    if name == "help":
        return _help(args, env)
    return commands.run(name, args)


def _help(args: list[str], env: Environment) -> ExitStatus:
    """``help``: the command list; ``help <command>``: that command's usage, as the shell shows it."""
    try:
        if len(args) > 1:
            raise UsageError("usage: help [command]")
        text = command_spec(args[0]).help if args else EPILOG
    except UsageError as exc:
        return report(exc, env.stderr)
    env.stdout.write(text + "\n")
    return ExitStatus.OK
