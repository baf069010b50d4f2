"""kvcli's copy of the server's wire constants, kept apart from the server's code."""

from __future__ import annotations

import subprocess
import sys

from kvapp.testing.server import PROJECT_ROOT
from kvcli.protocol import CloseCode


def test_the_close_codes_are_the_contracts() -> None:
    assert {code.name: int(code) for code in CloseCode} == {
        "BAD_REQUEST": 4400,
        "UNAUTHORIZED": 4401,
        "NOT_FOUND": 4404,
        "TOO_SLOW": 4408,
        "COMPACTED": 4410,
        "TOO_MANY": 4429,
        "UNAVAILABLE": 4503,
    }


def test_kvcli_never_imports_the_server() -> None:
    check = "import sys, kvcli.cli, kvcli.watch; print(sorted(m for m in sys.modules if m.startswith('kvapp')))"
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout == "[]\n"
