"""The interactive shell on a real terminal (pexpect): prompt, quoting, watch and Ctrl+C, history."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest
import requests

from kvapp.testing.ports import free_port
from kvapp.testing.server import PROJECT_ROOT, ServerProcess

PROMPT = "kvstore> "
EXPECT_TIMEOUT = 15  # seconds; first import of requests/websockets on a busy box

Spawn = Callable[..., pexpect.spawn]


@pytest.fixture
def spawn_shell(tmp_path: Path) -> Iterator[Spawn]:
    """Start ``python -m kvcli --url URL`` on a pseudo-terminal; closed at the end of the test."""
    shells: list[pexpect.spawn] = []
    history = tmp_path / "history"

    def spawn(url: str, *options: str) -> pexpect.spawn:
        env = {**os.environ, "TERM": "dumb", "KV_HISTORY_FILE": str(history)}
        shell = pexpect.spawn(
            sys.executable,
            ["-m", "kvcli", "--url", url, *options],
            cwd=str(PROJECT_ROOT),
            env=env,
            encoding="utf-8",
            timeout=EXPECT_TIMEOUT,
        )
        shells.append(shell)
        shell.expect_exact("Welcome to the KV store shell. Type help or ? to list commands.")
        shell.expect_exact(PROMPT)
        return shell

    spawn.history = history  # type: ignore[attr-defined]
    yield spawn
    for shell in shells:
        shell.close(force=True)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own (not the module's shared one): these tests stop, kill or restart it."""
    with ServerProcess(tmp_path / "store.pickle") as process:
        yield process


def run(shell: pexpect.spawn, line: str) -> str:
    """Send one command line and return what it printed before the next prompt."""
    shell.sendline(line)
    shell.expect_exact(PROMPT)
    return shell.before.replace("\r\n", "\n").split("\n", 1)[1]  # drop the terminal's echo of the line


def test_put_and_get_with_quoted_values(server: ServerProcess, spawn_shell: Spawn) -> None:
    shell = spawn_shell(server.url)
    assert run(shell, "put 'my key' \"a value with spaces\"") == 'stored "my key" = "a value with spaces" (rev 1)\n'
    assert run(shell, "get 'my key'") == "a value with spaces\n"
    assert run(shell, "get 'my key") == "error: cannot parse the arguments: no closing quotation\n"
    assert run(shell, "put onlykey") == "error: usage: put <key> <value>\n"
    assert run(shell, "delete 'my key'") == 'deleted "my key" (rev 2)\n'
    assert run(shell, "get 'my key'") == "error: key 'my key' not found\n"
    shell.sendeof()
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == 0


def test_watch_shows_writes_from_another_shell_until_ctrl_c(server: ServerProcess, spawn_shell: Spawn) -> None:
    watcher, writer = spawn_shell(server.url), spawn_shell(server.url)
    watcher.sendline("watch app/")
    watcher.expect_exact("watching prefix 'app/' after rev 0 (Ctrl+C to stop)")
    run(writer, "put app/x v")
    run(writer, "put other/y w")
    run(writer, "delete app/x")
    watcher.expect_exact('put app/x = "v" (rev 1)')
    watcher.expect_exact("delete app/x (rev 3)")
    assert "other/y" not in watcher.before
    watcher.sendintr()
    watcher.expect_exact("watch stopped")
    watcher.expect_exact(PROMPT)
    assert run(watcher, "get other/y") == "w\n"  # the shell is still usable after Ctrl+C


def test_ctrl_c_at_the_prompt_keeps_the_shell(server: ServerProcess, spawn_shell: Spawn) -> None:
    shell = spawn_shell(server.url)
    shell.send("half typed")
    # Wait for readline's echo: a SIGINT landing while readline is still busy with the typed
    # characters (not waiting in select) is only noticed at the next key, a CPython quirk.
    shell.expect_exact("half typed")
    shell.sendintr()
    shell.expect_exact(PROMPT)
    assert run(shell, "getall") == "(no keys)\n"


def test_unreachable_server_prints_one_line_and_keeps_the_prompt(spawn_shell: Spawn) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    shell = spawn_shell(url)
    for command in ("get a", "watch"):
        output = run(shell, command)
        assert output == f"error: cannot reach the server at {url} (Connection refused)\n"
    shell.sendline("quit")
    shell.expect(pexpect.EOF)


def test_history_is_saved_to_kv_history_file(server: ServerProcess, spawn_shell: Spawn) -> None:
    shell = spawn_shell(server.url)
    run(shell, "put h 1")
    shell.sendline("quit")
    shell.expect(pexpect.EOF)
    assert spawn_shell.history.read_text().splitlines()[-2:] == ["put h 1", "quit"]  # type: ignore[attr-defined]
    again = spawn_shell(server.url)
    again.send("\x1b[A")  # arrow up recalls the previous session's last line, "quit"
    again.sendline("")
    again.expect(pexpect.EOF)  # so the recalled line ran and ended the shell


def test_token_option_works_in_the_shell(tmp_path: Path, spawn_shell: Spawn) -> None:
    with ServerProcess(tmp_path / "store.pickle", env={"KV_TOKEN": "s3cret"}) as server:
        without = spawn_shell(server.url)
        assert "token" in run(without, "get a")
        shell = spawn_shell(server.url, "--token", "s3cret")
        assert run(shell, "put a 1") == 'stored a = "1" (rev 1)\n'
        assert requests.get(f"{server.url}/api/v1/kv/a", headers={"Authorization": "Bearer s3cret"}).ok


def test_a_big_delete_by_prefix_asks_first(server: ServerProcess, spawn_shell: Spawn) -> None:
    for i in range(12):
        requests.put(f"{server.url}/api/v1/kv/big%2F{i:02d}", json={"value": "v"}, timeout=5).raise_for_status()
    shell = spawn_shell(server.url)
    shell.sendline("delete --prefix big/")
    shell.expect_exact("delete 12 pairs under big/? [y/N] ")
    shell.sendline("n")
    shell.expect_exact("nothing deleted")
    shell.expect_exact(PROMPT)
    shell.sendline("delete --prefix big/")
    shell.expect_exact("[y/N] ")
    shell.sendline("y")
    shell.expect(r"deleted 12 pairs under big/ \(rev \d+\)")
    shell.expect_exact(PROMPT)
    assert run(shell, "getall big/") == "(no keys with prefix 'big/')\n"


def test_a_locked_command_has_the_terminal_and_gets_ctrl_c(server: ServerProcess, spawn_shell: Spawn) -> None:
    shell = spawn_shell(server.url)
    shell.sendline("lock term -- sh -c 'read answer; echo got $answer'")
    shell.sendline("typed")  # read by the command, which has the terminal while it runs
    shell.expect_exact("got typed")
    shell.expect_exact(PROMPT)
    shell.sendline("lock term -- sh -c 'echo started; exec sleep 30'")
    shell.expect_exact("started\r\n")
    time.sleep(0.2)  # kvcli hands the terminal over right after the start
    shell.sendintr()  # reaches sleep, the foreground group, which ends: the lock is released
    shell.expect_exact(PROMPT)
    assert run(shell, "getall locks/") == "(no keys with prefix 'locks/')\n"
