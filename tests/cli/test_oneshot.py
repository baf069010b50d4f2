"""One-shot ``python -m kvcli <command>`` as a real process: exit codes and clean stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from kvapp.testing.ports import free_port
from kvapp.testing.server import PROJECT_ROOT, ServerProcess

TOKEN = "s3cret"
RUN_TIMEOUT = 30  # seconds per CLI process

# ``python -c`` this, with the CLI's arguments: run kvcli as ``-m`` would, in a Python where
# importing MODULE fails as it does when the package is not installed.
WITHOUT_MODULE = """
import runpy, sys
from importlib.abc import MetaPathFinder

class Uninstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == {module!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Uninstalled())
runpy.run_module("kvcli", run_name="__main__", alter_sys=True)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for this module (each test uses its own keys); starting one per test is slow."""
    with ServerProcess(tmp_path_factory.mktemp("kv") / "store.pickle", env={"KV_TOKEN": TOKEN}) as process:
        yield process


def kvcli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m kvcli *argv`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "kvcli", *argv],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env={**os.environ, **(env or {})},
        check=False,
    )


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    """Exit ``code``, nothing on stdout, exactly one ``error:`` line on stderr and no traceback."""
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert fragment in result.stderr


@pytest.mark.parametrize("module", ["websockets", "requests"])
def test_a_python_without_the_dependencies_gets_one_line_saying_how_to_install_them(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_MODULE.format(module=module), "put", "greeting", "hello world"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert_clean_failure(result, 2, f"'{module}'")
    assert "make .venv/.runtime" in result.stderr
    assert ".venv/bin/kvcli" in result.stderr


def test_put_and_get_a_value_with_spaces_exit_0(server: ServerProcess) -> None:
    put = kvcli("--url", server.url, "--token", TOKEN, "put", "one shot", "hello  big world")
    assert put.returncode == 0, put.stderr
    assert put.stdout.startswith('stored "one shot" = "hello  big world" (rev ')
    got = kvcli("get", "one shot", env={"KV_URL": server.url, "KV_TOKEN": TOKEN})
    assert (got.returncode, got.stdout, got.stderr) == (0, "hello  big world\n", "")


def test_get_missing_key_exits_1(server: ServerProcess) -> None:
    assert_clean_failure(kvcli("--url", server.url, "--token", TOKEN, "get", "no such key"), 1, "not found")


def test_unknown_command_and_bad_usage_exit_2(server: ServerProcess) -> None:
    assert_clean_failure(kvcli("--url", server.url, "fetch", "a"), 2, "unknown command 'fetch'")
    assert_clean_failure(kvcli("--url", server.url, "put", "a"), 2, "usage: put <key> <value>")


def test_unreachable_server_exits_2_with_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert_clean_failure(kvcli("--url", url, "get", "a"), 2, f"cannot reach the server at {url}")


def test_missing_token_exits_2_with_an_auth_error(server: ServerProcess) -> None:
    result = kvcli("--url", server.url, "get", "a", env={"KV_TOKEN": ""})
    assert_clean_failure(result, 2, "token")


def test_arguments_that_are_not_utf8_exit_2_before_any_request() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: a request would fail differently
    result = subprocess.run(
        [sys.executable, "-m", "kvcli", "--url", url, "put", b"caf\xe9", "x"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert_clean_failure(result, 2, "the key is not valid UTF-8 (first bad byte \\xe9)")


def test_the_shell_reads_lines_that_are_not_utf8_without_a_traceback() -> None:
    # In a UTF-8 locale other than C.UTF-8, Python reads stdin strictly; this makes it so here.
    result = subprocess.run(
        [sys.executable, "-m", "kvcli", "--url", f"http://127.0.0.1:{free_port()}"],
        cwd=PROJECT_ROOT,
        input=b"put k caf\xe9\nhelp get\n",
        capture_output=True,
        timeout=RUN_TIMEOUT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
        check=False,
    )
    assert (result.returncode, result.stderr) == (2, b"error: the value is not valid UTF-8 (first bad byte \\xe9)\n")
    assert b"get <key>: print the value" in result.stdout  # the shell kept going


def test_getall_into_a_closed_pipe_ends_quietly(server: ServerProcess) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for i in range(30):
        # 30 x 10 kB is more than a pipe buffer holds, so the CLI is still writing when head exits.
        value = {"value": "v" * 10_000}
        requests.put(
            f"{server.url}/api/v1/kv/pipe%2F{i:02d}", json=value, headers=headers, timeout=5
        ).raise_for_status()
    pipeline = subprocess.run(
        f"{sys.executable} -m kvcli --url {server.url} --token {TOKEN} --page-size 5 getall pipe/ | head -n 1",
        shell=True,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert pipeline.stdout.startswith("pipe/00 = ")
    assert pipeline.stderr == ""
