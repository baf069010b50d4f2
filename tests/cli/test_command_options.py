"""A command's own options (``--ttl``, ``--rev``, ``--prefix``, ``--yes``) and subcommands (``lease grant``)."""

from __future__ import annotations

import pytest

from kvcli.cli import build_parser
from kvcli.environment import Environment
from kvcli.errors import UsageError
from kvcli.status import ExitStatus
from kvcli.usage import COMMANDS, command_spec, command_table
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
        (["--ttl", "5", "k", "v"], (["k", "v"], {"ttl": 5})),
        (["k", "--ttl=5", "v"], (["k", "v"], {"ttl": 5})),
        (["k", "v", "--lease", "7"], (["k", "v"], {"lease": 7})),
        (["--", "--ttl", "5"], (["--ttl", "5"], {})),  # after --, option names are data
        (["k", "--", "--"], (["k", "--"], {})),  # only the first -- ends the options
        (["--ttl", "1", "--ttl", "2", "k", "v"], (["k", "v"], {"ttl": 2})),  # the last one wins
    ],
)
def test_options_are_taken_anywhere_before_the_double_dash(args: list[str], expected: tuple) -> None:
    call = COMMANDS["put"].parse(args)
    assert (call.args, call.options) == expected


def test_an_option_value_may_start_with_a_dash() -> None:
    assert COMMANDS["delete"].parse(["--prefix", "-x"]).options == {"prefix": "-x"}
    assert COMMANDS["delete"].parse(["--prefix="]).options == {"prefix": ""}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["k", "v", "--ttl"], "--ttl needs a value: --ttl T"),
        (["--ttl", "0", "k", "v"], "--ttl must be a whole number from 1, not '0'"),
        (["--ttl", "1.5", "k", "v"], "--ttl must be a whole number from 1, not '1.5'"),
        (["--lease", "-1", "k", "v"], "--lease must be a whole number from 0, not '-1'"),
    ],
)
def test_a_bad_option_value_is_a_usage_error_naming_it(args: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=f"^{message}$"):
        COMMANDS["put"].parse(args)
    assert usage_error("put", *args) == f"error: {message}"


def test_a_flag_takes_no_value() -> None:
    assert COMMANDS["delete"].parse(["--prefix", "p", "--yes"]).options == {"prefix": "p", "yes": True}
    assert usage_error("delete", "--prefix", "p", "--yes=1") == "error: --yes takes no value"


def test_one_shot_leaves_a_commands_own_options_to_it() -> None:
    parser = build_parser(Environment(environ={}))
    options = parser.parse_command_line(["put", "--ttl", "5", "k", "--url", "http://h:1", "v"])
    assert options.command == ["put", "--ttl=5", "k", "v"]
    assert options.url == "http://h:1"
    # Joined to its value, so the command reads what this parser saw, even --url as a prefix.
    assert parser.parse_command_line(["delete", "--prefix", "--url"]).command == ["delete", "--prefix=--url"]


def test_an_option_of_another_command_is_unknown_and_the_message_lists_this_ones() -> None:
    line = usage_error("get", "k", "--ttl", "5")
    assert line.startswith("error: unknown option --ttl (options: --help, --url, --token, --page-size, --rev;")
    assert usage_error("put", "--rev", "1", "k", "v").startswith("error: unknown option --rev")


def test_the_shell_parses_options_as_one_shot_does() -> None:
    result = run_cli("--url", NOWHERE, stdin="put --ttl 0 k v\nput k v --lease\n")
    assert result.err.splitlines() == [
        "error: --ttl must be a whole number from 1, not '0'",
        "error: --lease needs a value: --lease ID",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lease"], "error: usage: lease grant|keepalive|revoke|list|show ... (help lease for details)"),
        (["lease", "frob"], "error: usage: lease grant|keepalive|revoke|list|show ... (help lease for details)"),
        (["lease", "grant"], "error: usage: lease grant <ttl>"),
        (["lease", "list", "x"], "error: usage: lease list"),
        (["lease", "grant", "soon"], "error: the ttl must be a whole number from 1, not 'soon'"),
        (["lease", "show", "0"], "error: the lease id must be a whole number from 1, not '0'"),
        (["lock"], "error: usage: lock [--ttl T] <name> [-- command ...]"),
        (["lock", ""], "error: the lock name must not be empty"),
        (["txn", "a", "b"], 'error: usage: txn [file] (quote a file with spaces: txn "a b")'),
        (["history"], "error: usage: history <key>"),
        (["delete"], "error: usage: delete <key> | delete --prefix P [--yes]"),
        (["delete", "k", "--prefix", "p"], "error: usage: delete <key> | delete --prefix P [--yes]"),
        (["delete", "k", "--yes"], "error: --yes goes with --prefix: deleting one key asks nothing"),
        (
            ["put", "--ttl", "5", "--lease", "1", "k", "v"],
            "error: give --ttl (a new lease) or --lease (an existing one), not both",
        ),
    ],
)
def test_new_commands_refuse_a_wrong_call_before_any_request(argv: list[str], message: str) -> None:
    assert usage_error(*argv) == message


def test_help_explains_each_new_command() -> None:
    for name, fragment in [
        ("lock", "the lock is the key locks/<name>"),
        ("lease", "lease keepalive <id>: renew the lease at a third of its TTL until Ctrl+C"),
        ("txn", "exit status 0 if every compare held, 1 if one failed"),
        ("delete", "delete --prefix P [--yes]: remove every pair whose key starts with P"),
        ("history", "history <key>: print the key's retained changes, newest first"),
        ("put", "put --ttl T <key> <value>"),
        ("getall", "getall [prefix] --rev R"),
    ]:
        one_shot = run_cli("help", name)
        assert (one_shot.status, one_shot.err) == (ExitStatus.OK, ""), name
        assert fragment in one_shot.out, (name, one_shot.out)
        assert fragment in run_cli("--url", NOWHERE, stdin=f"help {name}\n").out, name  # the shell's help too


def test_the_command_table_lists_every_form_in_one_column() -> None:
    table = command_table()
    for usage in ("lease grant <ttl>", "lease show <id>", "txn [file]", "history <key>", "delete --prefix P [--yes]"):
        assert f"  {usage} " in table
    assert "lock [--ttl T] <name> [-- command ...]\n" in table  # too wide: its summary goes below
    assert command_table() in run_cli("help").out


def test_a_subcommand_is_found_by_its_last_word() -> None:
    spec, rest = command_spec("lease").resolve(["show", "7"])
    assert (spec.name, spec.method, rest) == ("lease show", "cmd_lease_show", ["7"])
