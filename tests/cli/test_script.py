"""Commands piped into kvcli: only results and errors come out, and the exit status is the worst one."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

from kvapp.testing.server import PROJECT_ROOT, ServerProcess
from kvcli.cli import main
from kvcli.commands import Commands
from kvcli.environment import Environment
from kvcli.status import ExitStatus
from tests.cli.inprocess import run_cli

RUN_TIMEOUT = 30  # seconds per CLI process


def test_a_pipe_gets_no_banner_and_no_prompts(server: ServerProcess) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kvcli", "--url", server.url],
        input="put piped/a 1\nget piped/a\n",
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert re.fullmatch(r'stored piped/a = "1" \(rev \d+\)\n1\n', result.stdout), result.stdout


@pytest.mark.parametrize(
    ("script", "status"),
    [
        ("put worst/k v\nget worst/k\n", ExitStatus.OK),
        ("get worst/missing\nput worst/k v\n", ExitStatus.NOT_FOUND),
        ("get worst/missing\nfrob\nget worst/k\n", ExitStatus.ERROR),
        ("frob\nget worst/missing\n", ExitStatus.ERROR),  # a later, milder failure does not lower it
        ("put worst/k 'unclosed\n", ExitStatus.ERROR),
        ("put worst/k a b\n", ExitStatus.ERROR),
    ],
)
def test_the_exit_status_is_the_worst_of_the_commands(server: ServerProcess, script: str, status: ExitStatus) -> None:
    assert run_cli("--url", server.url, stdin=script).status == status


def test_results_go_to_stdout_and_errors_to_stderr(server: ServerProcess) -> None:
    result = run_cli("--url", server.url, stdin="put split/k v\nget split/missing\n\nget split/k\n")
    assert re.fullmatch(r'stored split/k = "v" \(rev \d+\)\nv\n', result.out), result.out
    assert result.err == "error: key 'split/missing' not found\n"


def test_quit_ends_the_script(server: ServerProcess) -> None:
    result = run_cli("--url", server.url, stdin="get quit/missing\nquit\nfrob\n")
    assert (result.status, result.out, result.err) == (
        ExitStatus.NOT_FOUND,
        "",
        "error: key 'quit/missing' not found\n",
    )


class _InterruptedInput(io.StringIO):
    """A stdin giving its text's first line, then Ctrl+C while kvcli waits for the next, then the rest."""

    reads = 0

    def readline(self, size: int | None = -1) -> str:
        self.reads += 1
        if self.reads == 2:
            raise KeyboardInterrupt
        return super().readline(size)


def test_ctrl_c_while_reading_ends_the_script_with_130() -> None:
    env = Environment(_InterruptedInput("help watch\nfrob\n"), io.StringIO(), io.StringIO(), {}, stdin_isatty=False)
    assert main(["--url", "http://127.0.0.1:9"], env) == ExitStatus.INTERRUPTED
    assert env.stdout.getvalue() == "watch [prefix]: print each change as it happens, until Ctrl+C\n"
    assert env.stderr.getvalue() == "error: interrupted\n"


def test_a_command_stopped_by_ctrl_c_ends_the_script(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: Commands, key: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Commands, "cmd_get", interrupted)
    result = run_cli("--url", "http://127.0.0.1:9", stdin="get a\nfrob\n")
    assert (result.status, result.err) == (ExitStatus.INTERRUPTED, "error: interrupted\n")
