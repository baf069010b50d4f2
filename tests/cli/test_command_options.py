"""A command's own options (``get --rev R``): parsed alike in one-shot and in the shell."""

from __future__ import annotations

import pytest

from kvcli.cli import build_parser
from kvcli.environment import Environment
from kvcli.errors import UsageError
from kvcli.status import ExitStatus
from kvcli.usage import COMMANDS, command_table
from tests.cli.inprocess import run_cli

NOWHERE = "http://127.0.0.1:9"  # refuses connections: a request made by mistake fails differently


def usage_error(*argv: str, stdin: str = "") -> str:
    """The one error line of a call that must fail with exit 2 before any request."""
    result = run_cli("--url", NOWHERE, *argv, stdin=stdin)
    assert (result.status, result.out) == (ExitStatus.ERROR, ""), result
    assert len(result.err.splitlines()) == 1, result.err
    assert "cannot reach" not in result.err, result.err
    return result.err.rstrip("\n")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--rev", "5", "k"], (["k"], {"rev": 5})),
        (["k", "--rev=5"], (["k"], {"rev": 5})),
        (["--", "--rev"], (["--rev"], {})),  # after --, option names are data
        (["--", "--"], (["--"], {})),  # only the first -- ends the options
        (["--rev", "1", "--rev", "2", "k"], (["k"], {"rev": 2})),  # the last one wins
    ],
)
def test_options_are_taken_anywhere_before_the_double_dash(args: list[str], expected: tuple) -> None:
    call = COMMANDS["get"].parse(args)
    assert (call.args, call.options) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["k", "--rev"], "--rev needs a value: --rev R"),
        (["--rev", "soon", "k"], "--rev must be a whole number from 0, not 'soon'"),
        (["--rev", "-1", "k"], "--rev must be a whole number from 0, not '-1'"),
        (["--rev", "1.5", "k"], "--rev must be a whole number from 0, not '1.5'"),
    ],
)
def test_a_bad_option_value_is_a_usage_error_naming_it(args: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=f"^{message}$"):
        COMMANDS["get"].parse(args)
    assert usage_error("get", *args) == f"error: {message}"


def test_one_shot_leaves_a_commands_own_options_to_it() -> None:
    parser = build_parser(Environment(environ={}))
    options = parser.parse_command_line(["get", "--rev", "5", "k", "--url", "http://h:1"])
    assert options.command == ["get", "--rev=5", "k"]
    assert options.url == "http://h:1"
    # Joined to its value, so the command reads what this parser saw, even --url.
    assert parser.parse_command_line(["get", "--rev", "--url"]).command == ["get", "--rev=--url"]


def test_an_option_of_another_command_is_unknown_and_the_message_lists_this_ones() -> None:
    line = usage_error("getall", "--rev", "1", "--ttl", "5")
    assert line.startswith("error: unknown option --ttl (options: --help, --url, --token, --page-size, --rev;")
    assert usage_error("put", "--rev", "1", "k", "v").startswith("error: unknown option --rev (options: --help,")


def test_the_shell_parses_options_as_one_shot_does() -> None:
    result = run_cli("--url", NOWHERE, stdin="get --rev x k\ngetall --rev\n")
    assert result.err.splitlines() == [
        "error: --rev must be a whole number from 0, not 'x'",
        "error: --rev needs a value: --rev R",
    ]


def test_help_shows_a_commands_other_forms() -> None:
    for name, fragment in [("get", "get <key> --rev R: the value as it stood at revision R"), ("getall", "--rev R")]:
        one_shot = run_cli("help", name)
        assert (one_shot.status, one_shot.err) == (ExitStatus.OK, ""), name
        assert fragment in one_shot.out, (name, one_shot.out)
        assert fragment in run_cli("--url", NOWHERE, stdin=f"help {name}\n").out, name  # the shell's help too


def test_the_command_table_lists_every_form_in_one_column() -> None:
    table = command_table()
    for usage in ("get <key> --rev R", "getall [prefix] --rev R", "watch [prefix]"):
        assert f"  {usage} " in table
    assert command_table() in run_cli("help").out
