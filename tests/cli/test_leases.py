"""Keys that expire: ``put --ttl``/``--lease`` and ``lease grant|keepalive|revoke|list|show``."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

from kvapp.testing.server import ServerProcess
from kvcli.status import ExitStatus
from tests.cli.api import grant, lease_alive, pair, revoke
from tests.cli.inprocess import Result, run_cli
from tests.cli.processes import WAIT_TIMEOUT, kvcli_process, wait_for


def assert_one_error_line(result: Result, status: int, *fragments: str) -> None:
    """``status``, nothing on stdout, one ``error:`` line holding ``fragments``."""
    assert (result.status, result.out) == (status, ""), result
    assert len(result.err.splitlines()) == 1, result.err
    for fragment in fragments:
        assert fragment in result.err, result.err


def test_put_with_a_ttl_shows_the_new_lease_and_the_key_is_under_it(server: ServerProcess, ns: str) -> None:
    result = run_cli("--url", server.url, "put", "--ttl", "60", f"{ns}svc", "10.0.0.1:80")
    assert result.status == ExitStatus.OK, result.err
    stored = pair(server.url, f"{ns}svc")
    assert stored is not None
    assert result.out == f'stored {ns}svc = "10.0.0.1:80" (rev {stored["revision"]}, lease {stored["lease"]})\n'


def test_put_with_a_lease_attaches_the_key_and_lease_0_detaches_it(server: ServerProcess, ns: str) -> None:
    lease = grant(server.url, 60)
    attached = run_cli("--url", server.url, "put", f"{ns}k", "v", "--lease", str(lease))
    assert attached.out.endswith(f", lease {lease})\n"), attached
    detached = run_cli("--url", server.url, "put", "--lease=0", f"{ns}k", "v")
    assert re.fullmatch(rf'stored {ns}k = "v" \(rev \d+\)\n', detached.out), detached
    assert "lease" not in (pair(server.url, f"{ns}k") or {})


def test_an_unknown_lease_is_not_found_exit_1_like_a_missing_key(server: ServerProcess, ns: str) -> None:
    message = "lease 999999 not found (it expired, was revoked, or never existed)"
    for argv in (
        ["put", "--lease", "999999", f"{ns}k", "v"],
        ["lease", "show", "999999"],
        ["lease", "revoke", "999999"],
        ["lease", "keepalive", "999999"],
    ):
        result = run_cli("--url", server.url, *argv)
        assert result.status == ExitStatus.NOT_FOUND, argv
        assert result.err.splitlines()[-1] == f"error: {message}", argv
        assert result.out == "", argv
    assert pair(server.url, f"{ns}k") is None


def test_grant_prints_the_id_alone_and_show_and_list_describe_it(server: ServerProcess, ns: str) -> None:
    granted = run_cli("--url", server.url, "lease", "grant", "120")
    assert (granted.status, granted.err) == (ExitStatus.OK, "")
    lease = int(granted.out)
    for key in (f"{ns}b", f"{ns}a"):
        run_cli("--url", server.url, "put", "--lease", str(lease), key, "v")
    shown = run_cli("--url", server.url, "lease", "show", str(lease))
    assert shown.status == ExitStatus.OK
    first, *keys = shown.out.splitlines()
    assert re.fullmatch(rf"lease {lease}: ttl 120s, 1[12]\d\.\ds left, 2 keys", first), first
    assert keys == [f"{ns}a", f"{ns}b"]
    listed = run_cli("--url", server.url, "--page-size", "1", "lease", "list")  # one lease a page
    assert listed.status == ExitStatus.OK
    assert re.search(rf"^lease {lease}: ttl 120s, 1[12]\d\.\ds left, 2 keys$", listed.out, re.MULTILINE), listed.out


def test_revoke_prints_the_deleted_keys_and_they_are_gone(server: ServerProcess, ns: str) -> None:
    lease = grant(server.url, 60)
    for key in (f"{ns}x", f"{ns}y"):
        run_cli("--url", server.url, "put", "--lease", str(lease), key, "v")
    revoked = run_cli("--url", server.url, "lease", "revoke", str(lease))
    assert revoked.status == ExitStatus.OK, revoked.err
    first, *keys = revoked.out.splitlines()
    assert re.fullmatch(rf"revoked lease {lease}: deleted 2 keys \(rev \d+\)", first), first
    assert keys == [f"{ns}x", f"{ns}y"]
    assert pair(server.url, f"{ns}x") is None
    assert run_cli("--url", server.url, "lease", "revoke", str(lease)).status == ExitStatus.NOT_FOUND


def test_too_many_leases_is_exit_2_with_the_servers_sentence(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "store.pickle", env={"KV_MAX_LEASES": "1"}) as small:
        assert run_cli("--url", small.url, "lease", "grant", "60").status == ExitStatus.OK
        assert_one_error_line(run_cli("--url", small.url, "lease", "grant", "60"), ExitStatus.ERROR, "answered 429")
        assert_one_error_line(run_cli("--url", small.url, "put", "--ttl", "5", "k", "v"), ExitStatus.ERROR, "429")


def test_an_empty_lease_list_says_so_on_stderr(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "store.pickle") as empty:
        result = run_cli("--url", empty.url, "lease", "list")
    assert (result.status, result.out, result.err) == (ExitStatus.OK, "", "(no leases)\n")


def test_keepalive_keeps_a_short_lease_alive_quietly_until_ctrl_c(server: ServerProcess, ns: str) -> None:
    lease = grant(server.url, 2)
    run_cli("--url", server.url, "put", "--lease", str(lease), f"{ns}svc", "up")
    with kvcli_process(server.url, "lease", "keepalive", str(lease)) as keeper:
        time.sleep(4.5)  # over twice the TTL: without renewals it would have expired
        assert lease_alive(server.url, lease)
        assert pair(server.url, f"{ns}svc") is not None
        keeper.send_signal(signal.SIGINT)
        out, err = keeper.communicate(timeout=WAIT_TIMEOUT)
    assert keeper.returncode == 0, err
    lines = out.splitlines()
    # Renewed every 2/3 s, but at most one line every few seconds.
    assert 1 <= len(lines) <= 2, lines
    assert re.fullmatch(rf"\d\d:\d\d:\d\d lease {lease} renewed: ttl 2s, next in 0\.7s", lines[0]), lines
    assert err.splitlines() == [
        f"keeping lease {lease} alive (Ctrl+C to stop)",
        "",
        f"keepalive stopped; lease {lease} runs out unless renewed",
    ]


def test_keepalive_ends_with_one_line_and_exit_1_when_the_lease_is_revoked(server: ServerProcess) -> None:
    lease = grant(server.url, 3)
    with kvcli_process(server.url, "lease", "keepalive", str(lease)) as keeper:
        wait_for(lambda: keeper.stdout and keeper.stdout.readline(), "the first renewal line")
        revoke(server.url, lease)
        keeper.wait(timeout=WAIT_TIMEOUT)
        err = keeper.stderr.read() if keeper.stderr else ""
    assert keeper.returncode == 1
    assert err.splitlines()[1:] == [f"error: lease {lease} not found (it expired, was revoked, or never existed)"]
