"""Issue #15.1 with a real server: a damaged journal length stops the start instead of dropping writes."""

from __future__ import annotations

from pathlib import Path

import requests

from kvapp.server.refusal import EXIT_CANNOT_START
from kvapp.testing.server import ServerProcess
from tests.store.test_journal_integrity import record_starts
from tests.support.server import healthz, run_until_refused

WRITES = 100  # acknowledged PUTs, each its own journal record (one writer, one at a time)
DAMAGED_RECORD = 3  # the fourth record


def test_a_flipped_length_bit_after_a_kill_9_refuses_the_start_naming_the_file_and_offset(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "store.pickle") as server:
        session = requests.Session()
        for number in range(WRITES):
            response = session.put(f"{server.url}/api/v1/kv/k{number:03}", json={"value": str(number)}, timeout=10)
            assert response.status_code == 200
        server.kill()
    journal = tmp_path / "store.pickle.journal"
    data = bytearray(journal.read_bytes())
    starts = record_starts(bytes(data))
    assert len(starts) == WRITES
    offset = starts[DAMAGED_RECORD]
    data[offset + 2] ^= 0x01  # length += 64 KiB: past the end of the file, as a record cut short by a crash
    journal.write_bytes(bytes(data))

    refused = run_until_refused(server.data)
    assert refused.returncode == EXIT_CANNOT_START
    (line,) = [line for line in refused.stderr.splitlines() if "cannot start" in line]
    assert line.startswith(f"kvstore: cannot start: journal {journal} is damaged at byte {offset} ")
    assert "Traceback" not in refused.stderr
    assert journal.read_bytes() == bytes(data), "the damaged journal is left as it was"
    assert not list(tmp_path.glob("*.broken")), "nothing was taken for a torn tail"

    data[offset + 2] ^= 0x01  # repaired: every acknowledged write is still there
    journal.write_bytes(bytes(data))
    with ServerProcess(server.data) as restarted:
        assert healthz(restarted.url)["keys"] == WRITES
        assert requests.get(f"{restarted.url}/api/v1/kv/k099", timeout=10).json()["value"] == "99"
