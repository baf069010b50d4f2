"""Running kvcli in this process with its streams in memory, as httpie's tests do."""

from __future__ import annotations

import io
from dataclasses import dataclass

from kvcli.cli import main
from kvcli.environment import Environment
from kvcli.status import ExitStatus


@dataclass
class Result:
    """What one in-process CLI run left behind."""

    status: ExitStatus
    out: str
    err: str


def make_env(stdin: str = "", environ: dict[str, str] | None = None) -> Environment:
    """Streams in memory, no terminal, and only the given environment variables."""
    return Environment(io.StringIO(stdin), io.StringIO(), io.StringIO(), environ or {}, stdin_isatty=False)


def run_cli(*argv: str, stdin: str = "", environ: dict[str, str] | None = None) -> Result:
    """Run ``kvcli *argv`` with ``stdin`` as a pipe (not a terminal) and only ``environ`` set."""
    env = make_env(stdin, environ)
    status = main(list(argv), env)
    return Result(status, env.stdout.getvalue(), env.stderr.getvalue())
