"""What an HTTP client sees of an in-process ASGI response, for tests that call the app directly."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Answer:
    """Status, lower-cased headers and body of one response."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode()

    @property
    def content_type(self) -> str:
        """The Content-Type header."""
        return self.headers["content-type"]
