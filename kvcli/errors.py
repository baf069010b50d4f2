"""One named exception per way a CLI command can fail.

The client and the watch loop translate low-level errors (requests, websockets, JSON) into
these, so ``kvcli.status`` can map each to an exit code and a one-line message in one place.
"""

from __future__ import annotations


class CLIError(Exception):
    """Base class: ``str(exc)`` is the one human sentence shown to the user."""


class MissingDependency(CLIError):
    """The Python running kvcli cannot import a package it needs (requests, websockets)."""

    def __init__(self, module: str, python: str) -> None:
        super().__init__(
            f"{python} cannot import {module!r}, which kvcli needs; install it with "
            '"make .venv/.runtime" in the kvstore directory, then run ".venv/bin/kvcli ..."'
        )
        self.module = module


class UsageError(CLIError):
    """The command line is wrong: unknown command, wrong arguments, unclosed quote, bad URL."""


class BadInput(CLIError):
    """What a command reads besides its arguments (a transaction file, stdin) is unreadable or malformed."""


class KeyNotFound(CLIError):
    """The server has no pair under the requested key."""

    def __init__(self, key: str, revision: int | None = None) -> None:
        super().__init__(f"key {key!r} not found" + ("" if revision is None else f" at rev {revision}"))
        self.key = key


class LeaseNotFound(CLIError):
    """The server has no such lease: never granted, expired or revoked (a 404 naming the lease)."""

    def __init__(self, lease: object) -> None:
        super().__init__(f"lease {lease} not found (it expired, was revoked, or never existed)")
        self.lease = lease


class ServerUnreachable(CLIError):
    """No connection to the server could be made (refused, DNS, network down)."""


class ServerTimeout(CLIError):
    """The server accepted the connection but did not answer in time."""


class AuthRequired(CLIError):
    """The server wants a (different) token: HTTP 401 or websocket close 4401."""


class UnknownPath(CLIError):
    """A 404 that is not the server's "key not found": the path is not served, so ``--url`` is likely wrong."""


class ServerError(CLIError):
    """The server answered with an error status (4xx other than 401, 404 and 410, or 5xx)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status; 5xx is worth retrying, 4xx is not


class HistoryCompacted(CLIError):
    """A read at revision R needs events the server no longer keeps (HTTP 410)."""

    def __init__(self, revision: object, oldest: object) -> None:
        super().__init__(f"rev {revision} is older than the server's history (oldest kept is rev {oldest})")
        self.revision = revision
        self.oldest = oldest


class ListingCompacted(HistoryCompacted):
    """A listing's snapshot fell out of the server's history while its pages were being read."""

    def __init__(self, revision: object, oldest: object) -> None:
        CLIError.__init__(
            self,
            f"the listing at rev {revision} can no longer be read: the server's history now starts at rev "
            f"{oldest}, as many writes came in while it was paged through; run it again (fewer pages: a larger "
            "--page-size), or raise KV_HISTORY on the server",
        )
        self.revision = revision
        self.oldest = oldest


class LockLost(CLIError):
    """The lock stopped being ours while it was held: its lease is gone or its key was changed."""


class CommandFailed(CLIError):
    """The command ``lock`` was to run could not be started."""


class BadResponse(CLIError):
    """The server answered with something that is not the kvstore JSON it promises."""


class WatchCompacted(CLIError):
    """The events the watch needs to resume from are no longer retained by the server."""


class WatchRefused(CLIError):
    """The server closed the watch socket for a reason that retrying will not fix."""
