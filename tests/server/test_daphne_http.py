"""kvapp.server.daphne_http's channel, driven byte by byte over Twisted's in-memory transport.

The same behaviour through real daphne and runserver processes is tests/e2e/test_body_limits.py
and tests/e2e/test_request_heads.py; these pin down what the channel keeps and when it hands over.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from daphne import http_protocol
from twisted.internet.testing import StringTransport
from twisted.web import http

from kvapp.server.daphne_http import KVHTTPChannel, _kv_channel_protocol, install_daphne_http

LIMIT = 2048  # KV_MAX_BODY_BYTES in these tests


class HandedOver(http.Request):
    """Records the requests the channel hands over, instead of running an application."""

    seen: list[HandedOver] = []

    def process(self) -> None:
        """Called by Twisted once the channel hands the request over."""
        HandedOver.seen.append(self)


@pytest.fixture
def channel(settings) -> Iterator[tuple[KVHTTPChannel, StringTransport]]:
    settings.KV_MAX_BODY_BYTES = LIMIT
    HandedOver.seen = []
    opened = KVHTTPChannel()
    opened.requestFactory = HandedOver
    transport = StringTransport()
    opened.makeConnection(transport)
    yield opened, transport
    opened.connectionLost(None)


def test_a_declared_length_over_the_limit_is_handed_over_at_once_without_its_body(channel) -> None:
    opened, transport = channel
    opened.dataReceived(b"PUT /k HTTP/1.1\r\nHost: h\r\nContent-Length: 500000000\r\n\r\n" + b"x" * 100_000)
    (request,) = HandedOver.seen
    assert request.content.getvalue() == b""
    assert request.requestHeaders.getRawHeaders(b"content-length") == [b"500000000"]  # the application's 413
    assert opened._dataBuffer == []  # nothing of the body kept
    opened.dataReceived(b"x" * 100_000)
    assert opened._dataBuffer == [] and len(HandedOver.seen) == 1  # nor read as a next request
    request.setResponseCode(413)
    request.finish()
    assert b"Connection: close" in transport.value()
    assert transport.disconnecting  # StringTransport cannot half-close: a plain close


def test_no_100_continue_invites_a_body_that_will_be_refused(channel) -> None:
    opened, transport = channel
    opened.dataReceived(b"PUT /k HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
    assert b"100 Continue" not in transport.value()
    assert len(HandedOver.seen) == 1


def test_a_body_within_the_limit_is_read_as_before(channel) -> None:
    opened, _ = channel
    opened.dataReceived(b"PUT /k HTTP/1.1\r\nHost: h\r\nContent-Length: 2048\r\n\r\n" + b"y" * 2048)
    (request,) = HandedOver.seen
    assert request.content.read() == b"y" * 2048
    assert opened.persistent


def test_a_chunked_body_is_handed_over_cut_off_one_byte_past_the_limit(channel) -> None:
    opened, _ = channel
    opened.dataReceived(b"PUT /k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(3):
        opened.dataReceived(b"400\r\n" + b"z" * 1024 + b"\r\n")
    (request,) = HandedOver.seen
    assert len(request.content.read()) == LIMIT + 1
    opened.dataReceived(b"400\r\n" + b"z" * 1024 + b"\r\n0\r\n\r\n")  # the rest, and its end, change nothing
    assert len(HandedOver.seen) == 1 and opened._dataBuffer == []
    assert not opened.persistent


def test_a_chunked_body_within_the_limit_keeps_the_connection(channel) -> None:
    opened, _ = channel
    opened.dataReceived(b"PUT /k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + b"z" * 2048)
    opened.dataReceived(b"\r\n0\r\n\r\n")
    (request,) = HandedOver.seen
    assert request.content.read() == b"z" * 2048
    assert opened.persistent


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /" + b"a" * 20_000, b"414"),  # a request line that never ends
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 20_000, b"431"),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(501)) + b"\r\n", b"431"),
        (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", b"400"),
    ],
    ids=["request line", "header line", "header count", "unparsable"],
)
def test_a_refused_head_is_answered_once_and_the_rest_dropped(channel, head: bytes, status: bytes) -> None:
    opened, transport = channel
    opened.dataReceived(head)
    opened.dataReceived(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")  # more, even a whole request: not read
    answer = transport.value()
    assert answer.startswith(b"HTTP/1.1 " + status + b" ")
    assert answer.count(b"HTTP/1.1 ") == 1
    assert answer.endswith(b"}")  # kvstore's JSON error
    assert HandedOver.seen == []


def test_only_daphnes_factory_builds_kvstores_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_protocol.HTTPFactory, "protocol", http_protocol.HTTPFactory.protocol)
    install_daphne_http()
    install_daphne_http()
    assert http_protocol.HTTPFactory.protocol is _kv_channel_protocol
    assert http.HTTPFactory.protocol is not _kv_channel_protocol  # Twisted's own factory is untouched
    built = http_protocol.HTTPFactory(server=None).buildProtocol(None)
    assert type(built._channel) is KVHTTPChannel
    assert built._channel.requestFactory is http_protocol.WebRequest
