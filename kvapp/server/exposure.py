"""A loud warning when the server listens beyond loopback without a token.

daphne, uvicorn and runserver all bind to 127.0.0.1 unless told otherwise, so an open
store is only reachable from other machines when someone asked for it. The ASGI
application never learns the address it is served on, so the command line that started the
process is read instead: daphne ``-b/--bind`` and ``-e tcp:PORT:interface=HOST``, uvicorn
``--host``, runserver's ``ADDR:PORT``. Exposure is warned about, not refused: a firewall or
a private network may make it fine, and only the operator knows.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Sequence

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}
_RUNSERVER_ALL_INTERFACES = "0"  # runserver treats "0:8000" as 0.0.0.0:8000

_VALUE_FLAGS = {"-b", "--bind", "--host"}
_UNESCAPED_COLON = re.compile(r"(?<!\\):")  # Twisted endpoint strings escape colons in values


def bound_hosts(argv: Sequence[str]) -> list[str]:
    """The host addresses a server command line asks to listen on (empty: the server's default)."""
    hosts: list[str] = []
    args = list(argv)
    for position, arg in enumerate(args):
        following = args[position + 1] if position + 1 < len(args) else ""
        if arg in _VALUE_FLAGS:
            hosts.append(following)
        elif arg.startswith(("--bind=", "--host=")):
            hosts.append(arg.split("=", 1)[1])
        elif arg in {"-e", "--endpoint"}:
            hosts.extend(_endpoint_hosts(following))
        elif arg.startswith("--endpoint="):
            hosts.extend(_endpoint_hosts(arg.split("=", 1)[1]))
        elif arg == "runserver":
            hosts.extend(_runserver_hosts(args[position + 1 :]))
    return hosts


def _endpoint_hosts(endpoint: str) -> list[str]:
    """The interface of a Twisted endpoint string; ``tcp:8000`` alone means every interface."""
    kind, *fields = _UNESCAPED_COLON.split(endpoint)
    if kind not in {"tcp", "tcp6", "ssl"}:
        return []  # unix sockets and file descriptors are not network listeners
    for field in fields:
        if field.startswith("interface="):
            return [field.split("=", 1)[1].replace("\\:", ":")]
    return ["0.0.0.0"]


def _runserver_hosts(rest: Sequence[str]) -> list[str]:
    """runserver's optional ``ADDR:PORT`` or ``PORT`` argument (a bare port keeps the loopback default)."""
    for arg in rest:
        if arg.startswith("-"):
            continue
        if ":" not in arg:
            return []
        host = arg.rsplit(":", 1)[0].strip("[]")
        return ["0.0.0.0" if host == _RUNSERVER_ALL_INTERFACES else host]
    return []


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost; any other address or name may be reachable from outside."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name that is not localhost: it resolves to who knows what


def exposure_warning(argv: Sequence[str], token: str) -> str | None:
    """The warning to print for this command line and token, or None when there is nothing to fear."""
    if token:
        return None
    exposed = [host for host in bound_hosts(argv) if not is_loopback(host)]
    if not exposed:
        return None
    return (
        f"kvstore: WARNING: listening on {', '.join(exposed)} with no KV_TOKEN set: anyone who can reach "
        "this port can read, change and delete every key. Set KV_TOKEN (and put TLS in front), "
        "or listen on 127.0.0.1 only."
    )


def warn_if_exposed(token: str) -> None:
    """Called once at start: print the warning to stderr if this server is exposed."""
    message = exposure_warning(sys.argv, token)
    if message is None:
        return
    print(message, file=sys.stderr, flush=True)
