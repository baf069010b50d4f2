"""HTTP/1.1 over a raw socket, for tests that send what no HTTP client library would."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

TIMEOUT = 5.0  # seconds for an answer to arrive


class NoAnswer(AssertionError):
    """The server closed the connection, or went quiet, without a complete answer."""


@dataclass
class RawAnswer:
    """One response as it came off the wire."""

    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes
    seconds: float  # from the end of sending to the end of the answer

    def json(self) -> Any:
        return json.loads(self.body)


def connect(port: int, timeout: float = TIMEOUT) -> socket.socket:
    """A connection to a server on loopback."""
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def exchange(port: int, request: bytes, timeout: float = TIMEOUT) -> RawAnswer:
    """Send ``request`` on a new connection and read one answer.

    A server may answer and close before the request is all sent (a refusal): the send
    then fails, and the answer is read all the same, as HTTP clients do (urllib3, curl).
    """
    with connect(port, timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        return read_answer(sock, timeout)


def read_answer(sock: socket.socket, timeout: float = TIMEOUT) -> RawAnswer:
    """Read one response (Content-Length or chunked framing); NoAnswer if none comes."""
    started = time.monotonic()
    sock.settimeout(timeout)
    buffer = _Buffer(sock)
    status_line = buffer.line()
    headers: dict[str, str] = {}
    while line := buffer.line():
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while size := int(buffer.line(), 16):
            body += buffer.take(size)
            buffer.line()
        buffer.line()
    else:
        body = buffer.take(int(headers.get("content-length", "0")))
    return RawAnswer(int(status_line.split()[1]), headers, body, time.monotonic() - started)


class _Buffer:
    """What a socket has sent so far, read as lines and sized blocks."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.data = b""

    def _more(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except (TimeoutError, ConnectionResetError) as exc:
            raise NoAnswer(f"no complete answer ({exc!r}); got {self.data[:200]!r}") from None
        if not chunk:
            raise NoAnswer(f"the server closed the connection; got {self.data[:200]!r}")
        self.data += chunk

    def line(self) -> str:
        while b"\r\n" not in self.data:
            self._more()
        line, self.data = self.data.split(b"\r\n", 1)
        return line.decode("latin-1")

    def take(self, size: int) -> bytes:
        while len(self.data) < size:
            self._more()
        block, self.data = self.data[:size], self.data[size:]
        return block
