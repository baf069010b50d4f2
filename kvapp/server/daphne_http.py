"""daphne's HTTP/1.1 connections: a body over the limit is not read, and every refusal is answered.

daphne hands a request to the application only once Twisted's ``HTTPChannel`` has read its
whole body, and then queues all of it for the application at once. So a PUT announcing
500 MB was answered 413 only after all of it had arrived (and the process grew by the
body), one announcing 10^30 bytes was never answered, and a chunked upload was buffered
however long it ran. Twisted also closes the connection without a word when the request
line or a header line is over its line limit, and answers a bare 400 to headers over its
total or count limits.

kvstore's channel, put on daphne's ``HTTPFactory`` at start-up (``kvproject/asgi.py``, as
``daphne_websocket`` adapts daphne's websocket protocol), keeps Twisted's parser and changes this:

- A Content-Length over KV_MAX_BODY_BYTES: the request is handed over at once as if it
  had no body, and the application answers 413 from the header, as under uvicorn (after
  the same host and token checks, with the same JSON). Nothing of the body is kept: what
  arrives is dropped, and the connection closes after the answer. Like nginx's
  ``client_max_body_size``, and unlike reading the body to keep the connection: a client
  that sends 500 MB anyway costs bandwidth, never memory.
- A chunked body is passed on until it is one byte over the limit, then handed over cut
  off there (the application sees it is too large) and the rest dropped the same way.
- A request line over the line limit is a 414; a header line over it, headers over the
  total, or more fields than ``maxHeaders``, a 431; what Twisted cannot parse, a 400. Each
  is kvstore's JSON error (``kvapp.server.http_rules``), written before any request exists.
- Closing with bytes still coming lingers, as nginx's ``lingering_close`` does: the answer
  is sent, the sending side shut, and what the client still sends is read and dropped
  for up to ``LINGER_SECONDS``. Closing at once would make the kernel answer those bytes
  with a reset, which can destroy the answer before the client reads it.
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.internet.interfaces import IDelayedCall
from twisted.web import http

from kvapp.conf import kv_settings
from kvapp.errors import HeadersTooLarge, RequestLineTooLong
from kvapp.server.http_rules import MAX_HEADER_BYTES, MAX_HEADER_FIELDS, MAX_REQUEST_LINE_BYTES, error_bytes
from kvapp.store.errors import InvalidRequest, KVError

LINGER_SECONDS = 5.0  # a refused client's time to stop sending and read the answer (nginx's lingering_timeout)


class KVHTTPChannel(http.HTTPChannel):
    """Twisted's HTTP/1.1 channel with kvstore's body limit, refusals that are answered, and a lingering close."""

    MAX_LENGTH = MAX_REQUEST_LINE_BYTES  # per line
    totalHeadersSize = MAX_HEADER_BYTES
    maxHeaders = MAX_HEADER_FIELDS

    _dropping = False  # what the client sends from now on is not a request: read, never parsed or kept
    _linger: IDelayedCall | None = None

    # --- the head ----------------------------------------------------------------------------

    def lineLengthExceeded(self, line: bytes) -> None:
        """Called by LineReceiver for a line over MAX_LENGTH, ended or not (Twisted closes silently)."""
        self._refuse(self._head_too_large())

    def lineReceived(self, line: bytes) -> None:
        """Called for the request line and each header line, before Twisted's own checks."""
        if self._receivedHeaderSize + len(line) > self.totalHeadersSize:
            self._refuse(self._head_too_large())
            return
        super().lineReceived(line)

    def headerReceived(self, line: bytes) -> bool:
        """Called for each complete header field; False ends the request."""
        if self._receivedHeaderCount >= self.maxHeaders:
            self._refuse(HeadersTooLarge(f"the request has more than {self.maxHeaders} header fields"))
            return False
        return super().headerReceived(line)

    def _head_too_large(self) -> KVError:
        """The refusal for a head over a limit: Twisted creates the request when its line is complete."""
        if not self.requests:
            return RequestLineTooLong(f"the request line is over {self.MAX_LENGTH} bytes")
        return HeadersTooLarge(f"the request's headers are over {self.totalHeadersSize} bytes")

    def _respondToBadRequestAndDisconnect(self) -> None:
        """Called by Twisted for a request it cannot parse (it wrote a bare 400 and closed)."""
        self._refuse(InvalidRequest("the request is not valid HTTP/1.1"))

    def _refuse(self, exc: KVError) -> None:
        """Answer ``exc`` now, before any request is handed over, and close."""
        if self._dropping:
            return  # answered already
        self.transport.write(error_bytes(exc))
        self._drop_the_rest()
        self.loseConnection()

    # --- the body ----------------------------------------------------------------------------

    def allHeadersReceived(self) -> None:
        """Called once the head is parsed: decide how much of the body to read."""
        limit = kv_settings().max_body_bytes
        refused = self.length is not None and self.length > limit
        if refused:
            # Handed over as a request without a body (lineReceived does it when length is
            # 0); the header Expect: 100-continue must not invite the body either.
            self.length = 0
            self._transferDecoder = None
            self.requests[-1].requestHeaders.removeHeader(b"expect")
        super().allHeadersReceived()
        if refused:
            self._drop_the_rest()
        elif self.length is None:  # chunked: no length to judge by, so count
            self._cap_chunked_body(limit)

    def _cap_chunked_body(self, limit: int) -> None:
        """Pass the chunked body on up to ``limit`` + 1 bytes, then hand the request over as it is."""
        decoder = self._transferDecoder
        deliver = decoder.dataCallback
        received = 0

        def capped(data: bytes) -> None:
            nonlocal received
            if self._dropping:
                return  # the rest of the chunk the cut fell in
            deliver(data[: limit + 1 - received])
            received += len(data)
            if received > limit:
                decoder.finishCallback = _ignore  # the end of the body, if it still comes, ends nothing
                self._drop_the_rest()
                self.allContentReceived()

        decoder.dataCallback = capped

    def rawDataReceived(self, data: bytes) -> None:
        """Called with body bytes, and with the next request's while one is handled."""
        if not self._dropping:
            super().rawDataReceived(data)

    def _drop_the_rest(self) -> None:
        """From now on the client's bytes are not read as requests, and the connection closes after the answer."""
        self._dropping = True
        self.persistent = False
        if self.requests:
            self.requests[-1].responseHeaders.setRawHeaders(b"connection", [b"close"])
        self.setRawMode()  # rawDataReceived, which drops them
        self.clearLineBuffer()

    # --- closing -----------------------------------------------------------------------------

    def loseConnection(self) -> None:
        """Called to close after an answer; lingers while the client may still be sending."""
        half_close = getattr(self.transport, "loseWriteConnection", None)
        if not self._dropping or self._linger is not None or half_close is None:  # TLS cannot half-close
            super().loseConnection()
            return
        half_close()  # the answer, then FIN; reading goes on, into rawDataReceived
        self._linger = self.callLater(LINGER_SECONDS, self.transport.loseConnection)

    def connectionLost(self, reason: Any) -> None:
        """Called when the connection is gone, often the client closing while the channel lingers."""
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        super().connectionLost(reason)


def _ignore(data: bytes) -> None:
    """Stands in for a transfer decoder's callback once its body is no longer wanted."""


def _kv_channel_protocol(factory: Any) -> Any:
    """What twisted's ``HTTPFactory.protocol`` builds per connection, with kvstore's channel inside."""
    return http._GenericHTTPChannelProtocol(KVHTTPChannel())


def install_daphne_http() -> None:
    """Called once at start-up: daphne's HTTP connections get kvstore's channel.

    Only daphne's own factory changes, so under uvicorn, which serves without it (daphne is
    loaded there too, as an installed app), nothing does.
    """
    http_protocol = sys.modules.get("daphne.http_protocol")
    if http_protocol is not None:
        http_protocol.HTTPFactory.protocol = _kv_channel_protocol
