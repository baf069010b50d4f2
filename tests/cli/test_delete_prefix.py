"""``delete --prefix P``: bounded atomic steps until none is left, a count, and a question before a big one."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from kvapp.testing.server import ServerProcess
from kvcli.client import KVClient
from kvcli.commands import Commands, Mode
from kvcli.environment import Environment
from kvcli.status import ExitStatus
from kvcli.usage import CONFIRM_ABOVE
from tests.cli.api import count, put_pair
from tests.cli.inprocess import Result, run_cli


def fill(server: ServerProcess, prefix: str, how_many: int) -> None:
    """``how_many`` pairs under ``prefix``, written through the API directly."""
    for i in range(how_many):
        put_pair(server.url, f"{prefix}{i:03d}", "v")


def in_mode(server: ServerProcess, mode: Mode, args: list[str], stdin: str = "", page_size: int = 1000) -> Result:
    """Run ``delete`` as the shell (``Mode.SHELL``: a person who answers from ``stdin``) or a script would."""
    env = Environment(io.StringIO(stdin), io.StringIO(), io.StringIO(), {}, stdin_isatty=mode is Mode.SHELL)
    status = Commands(KVClient(server.url, page_size=page_size), env, mode).run("delete", args)
    return Result(status, env.stdout.getvalue(), env.stderr.getvalue())


def test_a_few_pairs_go_without_asking_and_the_count_is_printed(server: ServerProcess, ns: str) -> None:
    fill(server, f"{ns}few/", CONFIRM_ABOVE)
    fill(server, f"{ns}fewer", 1)  # a string prefix: "few/" does not match "fewer"
    result = run_cli("--url", server.url, "delete", "--prefix", f"{ns}few/")
    assert (result.status, result.err) == (ExitStatus.OK, "")
    assert result.out.startswith(f"deleted {CONFIRM_ABOVE} pairs under {ns}few/ (rev ")
    assert (count(server.url, f"{ns}few/"), count(server.url, f"{ns}fewer")) == (0, 1)


def test_nothing_under_the_prefix_deletes_nothing_and_says_so(server: ServerProcess, ns: str) -> None:
    result = run_cli("--url", server.url, "delete", "--prefix", ns)
    assert (result.status, result.out, result.err) == (ExitStatus.OK, f"deleted 0 pairs under {ns}\n", "")


def test_one_shot_refuses_more_than_a_handful_without_yes(server: ServerProcess, ns: str) -> None:
    fill(server, ns, CONFIRM_ABOVE + 1)
    result = run_cli("--url", server.url, "delete", "--prefix", ns)
    assert (result.status, result.out) == (ExitStatus.ERROR, "")
    assert result.err == f"error: this would delete {CONFIRM_ABOVE + 1} pairs under {ns}; add --yes to go ahead\n"
    assert count(server.url, ns) == CONFIRM_ABOVE + 1
    piped = run_cli("--url", server.url, stdin=f"delete --prefix {ns}\ny\n")  # a script's "y" is not an answer
    assert piped.status == ExitStatus.ERROR
    assert count(server.url, ns) == CONFIRM_ABOVE + 1


def test_yes_deletes_everything_in_bounded_steps(
    server: ServerProcess, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(server, ns, 23)
    steps: list[dict[str, Any]] = []
    original = KVClient.delete_prefix

    def recorded(self: KVClient, prefix: str) -> dict[str, Any]:
        steps.append(answer := original(self, prefix))
        return answer

    monkeypatch.setattr(KVClient, "delete_prefix", recorded)
    result = run_cli("--url", server.url, "--page-size", "10", "delete", "--prefix", ns, "--yes")
    assert result.status == ExitStatus.OK, result.err
    assert [(step["deleted"], step["more"]) for step in steps] == [(10, True), (10, True), (3, False)]
    assert result.out == f"deleted 23 pairs under {ns} (rev {steps[-1]['revision']})\n"
    assert count(server.url, ns) == 0


def test_the_shell_asks_before_a_big_delete(server: ServerProcess, ns: str) -> None:
    fill(server, ns, CONFIRM_ABOVE + 2)
    declined = in_mode(server, Mode.SHELL, ["--prefix", ns], stdin="n\n")
    assert declined.out == f"delete {CONFIRM_ABOVE + 2} pairs under {ns}? [y/N] "
    assert (declined.status, declined.err) == (ExitStatus.OK, "nothing deleted\n")
    assert in_mode(server, Mode.SHELL, ["--prefix", ns], stdin="").err == "nothing deleted\n"  # Ctrl+D: no
    assert count(server.url, ns) == CONFIRM_ABOVE + 2
    accepted = in_mode(server, Mode.SHELL, ["--prefix", ns], stdin="y\n", page_size=5)
    assert accepted.out.startswith(f"delete {CONFIRM_ABOVE + 2} pairs under {ns}? [y/N] deleted {CONFIRM_ABOVE + 2} ")
    assert count(server.url, ns) == 0


def test_yes_in_the_shell_skips_the_question(server: ServerProcess, ns: str) -> None:
    fill(server, ns, CONFIRM_ABOVE + 1)
    result = in_mode(server, Mode.SHELL, ["--prefix", ns, "--yes"])
    assert result.out.startswith(f"deleted {CONFIRM_ABOVE + 1} pairs under {ns} (rev ")


def test_an_empty_prefix_always_needs_confirmation(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "store.pickle") as server:
        fill(server, "only/", 1)
        refused = run_cli("--url", server.url, "delete", "--prefix", "")
        assert (refused.status, refused.err) == (
            ExitStatus.ERROR,
            "error: this would delete every key (1); add --yes to go ahead\n",
        )
        asked = in_mode(server, Mode.SHELL, ["--prefix", ""], stdin="no\n")
        assert asked.out == "delete every key (1)? [y/N] "
        assert count(server.url, "") == 1
        done = run_cli("--url", server.url, "delete", "--prefix=", "--yes")  # the API's all=true
        assert (done.status, done.out) == (ExitStatus.OK, "deleted 1 pair (every key) (rev 2)\n")
        assert count(server.url, "") == 0
