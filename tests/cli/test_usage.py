"""Usage errors say how to fix the call: quoting a value with spaces, and which option is unknown."""

from __future__ import annotations

import pytest

from kvcli.cli import build_parser
from kvcli.environment import Environment
from kvcli.status import ExitStatus
from tests.cli.inprocess import run_cli

NOWHERE = "http://127.0.0.1:9"  # refuses connections: a request made by mistake fails differently


def usage_error(*argv: str, stdin: str = "") -> str:
    """The one error line of a call that must fail with exit 2 and print nothing on stdout."""
    result = run_cli("--url", NOWHERE, *argv, stdin=stdin)
    assert (result.status, result.out) == (ExitStatus.ERROR, ""), result
    assert len(result.err.splitlines()) == 1, result.err
    return result.err.rstrip("\n")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["put", "k", "hello", "big", "world"],
            'error: usage: put <key> <value> (quote a value with spaces: put k "hello big world")',
        ),
        (["get", "my", "key"], 'error: usage: get <key> (quote a key with spaces: get "my key")'),
        (["delete", "my", "key"], 'error: usage: delete <key> (quote a key with spaces: delete "my key")'),
        (["getall", "a", "b"], 'error: usage: getall [prefix] (quote a prefix with spaces: getall "a b")'),
        (
            ["put", "my key", "a", "b"],
            "error: usage: put <key> <value> (quote a value with spaces: put 'my key' \"a b\")",
        ),
        (  # double quotes would not keep these literal in sh: single quotes do
            ["put", "k", 'say "hi"', "$HOME"],
            "error: usage: put <key> <value> (quote a value with spaces: put k 'say \"hi\" $HOME')",
        ),
        (["put", "k"], "error: usage: put <key> <value>"),  # too few: nothing to quote
        (["get"], "error: usage: get <key>"),
    ],
)
def test_too_many_arguments_show_the_call_quoted(argv: list[str], line: str) -> None:
    assert usage_error(*argv) == line


def test_the_shell_shows_the_same_quoting_hint() -> None:
    result = run_cli("--url", NOWHERE, stdin="put k hello big world\n")
    assert result.err == 'error: usage: put <key> <value> (quote a value with spaces: put k "hello big world")\n'


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--bogus", "get", "a"], "--bogus"),
        (["get", "a", "--bogus"], "--bogus"),
        (["put", "--bogus", "k", "v"], "--bogus"),
        (["get", "--bogus=1", "a"], "--bogus"),
        (["-x", "get", "a"], "-x"),
        (["--ur", "http://127.0.0.1:1", "get", "a"], "--ur"),  # no abbreviations: --url is not --ur
        (["get", "a", "--ur", "http://127.0.0.1:1"], "--ur"),
    ],
)
def test_an_unknown_option_is_named(argv: list[str], named: str) -> None:
    line = usage_error(*argv)
    assert line.startswith(f"error: unknown option {named} (options: --help, --url, --token, --page-size")


def test_an_unknown_option_after_the_command_says_how_to_pass_it_as_data() -> None:
    assert usage_error("put", "k", "--bogus").endswith("; put -- before a key or value that starts with -)")


def test_an_unknown_options_value_is_not_repeated() -> None:
    for argv in (["--tokn=s3cret", "get", "a"], ["get", "a", "--tokn=s3cret"]):
        assert "s3cret" not in usage_error(*argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["put", "-dash", "val"],
        ["put", "k", "-1"],
        ["put", "k", "-"],
        ["put", "k", "---"],
        ["put", "--", "--key", "--value"],
        ["put", "--", "k", "--url"],
    ],
)
def test_an_argument_that_only_looks_like_an_option_is_the_commands(argv: list[str]) -> None:
    parser = build_parser(Environment(environ={}))
    assert parser.parse_command_line(argv).command == argv
