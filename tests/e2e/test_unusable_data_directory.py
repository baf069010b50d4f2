"""A data directory that cannot be used stops the start like a locked store: one line, exit status 2.

The tests run as root in CI, which chmod cannot stop, so the directory is made unusable
in ways root cannot bypass: a path through a regular file, a path that does not exist,
and (where mounts are allowed) a read-only file system mounted in the server's own mount
namespace, which disappears with it.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
from pathlib import Path

import pytest

from kvapp.server.refusal import EXIT_CANNOT_START
from kvapp.server.startup import unusable_data_file
from tests.support.server import run_until_refused

KINDS = ["daphne", "uvicorn", "runserver-autoreload"]


def assert_refused_in_one_line(result: subprocess.CompletedProcess[str], said: str) -> None:
    assert result.returncode == EXIT_CANNOT_START, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("kvstore: cannot start: ")]
    assert len(lines) == 1, result.stderr
    assert said in lines[0]


@pytest.mark.parametrize("kind", KINDS)
def test_a_data_path_through_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    (tmp_path / "not-a-dir").write_text("a file where the data directory should be")
    result = run_until_refused(tmp_path / "not-a-dir" / "store.pickle", kind)
    assert_refused_in_one_line(result, f"the data directory {tmp_path / 'not-a-dir'} is a file, not a directory")


@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_data_directory_is_refused_not_created(tmp_path: Path, kind: str) -> None:
    result = run_until_refused(tmp_path / "unmounted" / "kv" / "store.pickle", kind)
    assert_refused_in_one_line(result, f"the data directory {tmp_path / 'unmounted' / 'kv'} does not exist")
    assert not (tmp_path / "unmounted").exists()


def read_only_mount(directory: Path) -> list[str]:
    """A wrapper command running its arguments with a read-only tmpfs over ``directory``; a machine
    that cannot mount one fails the test, as the disk-full tests do, instead of skipping it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("no unshare(1) to mount a read-only file system in (util-linux)")
    wrapper = [unshare, "--mount", "sh", "-c", f'mount -t tmpfs -o ro tmpfs "{directory}" && exec "$@"', "sh"]
    tried = subprocess.run([*wrapper, "true"], capture_output=True, text=True)
    if tried.returncode != 0:
        pytest.fail(f"cannot mount a read-only tmpfs (needs root, as in CI): {tried.stderr.strip()}")
    return wrapper


@pytest.mark.parametrize("kind", KINDS)
def test_a_data_directory_on_a_read_only_file_system_is_refused(tmp_path: Path, kind: str) -> None:
    directory = tmp_path / "read-only"
    directory.mkdir()
    result = run_until_refused(directory / "store.pickle", kind, wrapper=read_only_mount(directory))
    assert_refused_in_one_line(result, f"the data directory {directory} is on a read-only file system")


def test_a_directory_this_user_may_not_write_is_named_with_the_fix(tmp_path: Path) -> None:
    denied = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "store.pickle.lock"))
    said = unusable_data_file(tmp_path / "store.pickle", denied)
    assert said == (
        f"no permission to use {tmp_path / 'store.pickle.lock'} (KV_DATA={tmp_path / 'store.pickle'}); "
        f"let this user write {tmp_path}"
    )


def test_any_other_failure_is_still_one_sentence(tmp_path: Path) -> None:
    failed = OSError(errno.EIO, "Input/output error", str(tmp_path / "store.pickle"))
    said = unusable_data_file(tmp_path / "store.pickle", failed)
    assert said == f"cannot use {tmp_path / 'store.pickle'}: Input/output error (KV_DATA={tmp_path / 'store.pickle'})"
