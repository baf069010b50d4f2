"""The installed CLI: ``make`` puts ``kvcli`` in the venv, and it runs from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kvapp.testing.server import ServerProcess
from tests.cli.inprocess import run_cli

KVCLI = Path(sys.executable).parent / "kvcli"  # the console script pip installs next to the venv's python
RUN_TIMEOUT = 30  # seconds per CLI process


def run_outside(command: list[str], cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``cwd`` with nothing pointing Python at the checkout."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    return subprocess.run(
        command,
        cwd=cwd,
        env={**env, "KV_URL": url},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def test_the_kvcli_script_works_from_any_directory(server: ServerProcess, tmp_path: Path) -> None:
    assert KVCLI.is_file(), f"{KVCLI} is missing: `make .venv/.runtime` installs it (pip install -e .)"
    stored = run_outside([str(KVCLI), "put", "installed/a", "1"], tmp_path, server.url)
    assert (stored.returncode, stored.stderr) == (0, "")
    got = run_outside([str(KVCLI), "get", "installed/a"], tmp_path, server.url)
    assert (got.returncode, got.stdout, got.stderr) == (0, "1\n", "")


def test_the_venvs_python_runs_kvcli_from_any_directory(server: ServerProcess, tmp_path: Path) -> None:
    got = run_outside([sys.executable, "-m", "kvcli", "get", "installed/missing"], tmp_path, server.url)
    assert (got.returncode, got.stderr) == (1, "error: key 'installed/missing' not found\n")


def test_usage_names_the_installed_command() -> None:
    assert run_cli("--help").out.startswith("usage: kvcli [-h] ")
