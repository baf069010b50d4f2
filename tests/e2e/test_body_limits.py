"""A body over KV_MAX_BODY_BYTES is refused from its header, not after it arrived (issue #15.3).

Against each real server, over raw sockets: a PUT announcing 500 MB is answered 413 while
the client has sent a megabyte of it, four of them at once leave the server's memory where
it was, an announced 10^30 bytes is answered at once, and a chunked upload with no length
is cut off at the limit instead of being read to its end. Normal PUTs work afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from kvapp.testing.server import ServerProcess
from tests.support.raw_http import RawAnswer, connect, exchange, read_answer

KINDS = ["daphne", "runserver", "uvicorn"]
LIMIT = 1024 * 1024  # KV_MAX_BODY_BYTES for these servers (the smallest the value limit allows)
MIB = 1024 * 1024
ANNOUNCED = 500_000_000  # bytes a client says it will send
SENT_FIRST = MIB  # what it does send before it waits for the answer
PARALLEL_UPLOADS = 4
ANSWER_SECONDS = 2.0  # an answer from the header comes at once; the whole body would take far longer
RSS_GROWTH_MB = 5.0  # what refusing the uploads may cost the server
CHUNKED_TOTAL = 64 * MIB  # what the chunked client would send without ever ending its body


@pytest.fixture(scope="module", params=KINDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp(request.param) / "store.pickle"
    with ServerProcess(data, kind=request.param, env={"KV_MAX_BODY_BYTES": str(LIMIT)}) as process:
        put_normally(process, "warm-up")  # so the first measurement does not count start-up's allocations
        yield process


def put_normally(server: ServerProcess, key: str, session: requests.Session | None = None) -> None:
    response = (session or requests).put(f"{server.url}/api/v1/kv/{key}", json={"value": "v"}, timeout=10)
    assert response.status_code == 200, response.text


def put_head(length: bytes, key: str = "big") -> bytes:
    return b"PUT /api/v1/kv/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %s\r\n\r\n" % (key.encode(), length)


def assert_413(answer: RawAnswer) -> None:
    assert answer.status == 413, answer
    assert f"over {LIMIT} bytes" in answer.json()["error"]


def upload_announcing_500_mb(server: ServerProcess) -> RawAnswer:
    """Announce 500 MB, send the first megabyte, then wait for the answer."""
    with connect(server.port) as sock:
        sock.sendall(put_head(b"%d" % ANNOUNCED) + b"x" * SENT_FIRST)
        return read_answer(sock, timeout=ANSWER_SECONDS)


def test_a_declared_length_over_the_limit_is_answered_413_before_the_body(server: ServerProcess) -> None:
    before = server.rss_mb()
    with ThreadPoolExecutor(PARALLEL_UPLOADS) as pool:
        answers = list(pool.map(lambda _: upload_announcing_500_mb(server), range(PARALLEL_UPLOADS)))
    for answer in answers:
        assert_413(answer)
        assert answer.seconds < ANSWER_SECONDS
    assert server.rss_mb() - before < RSS_GROWTH_MB
    assert requests.get(f"{server.url}/api/v1/kv/big", timeout=10).status_code == 404


@pytest.mark.parametrize("length", [b"1" + b"0" * 30, b"%d" % (2**64 - 1)])
def test_a_length_beyond_any_memory_is_answered_at_once(server: ServerProcess, length: bytes) -> None:
    answer = exchange(server.port, put_head(length) + b'{"value": "v"}', timeout=ANSWER_SECONDS)
    if server.kind == "uvicorn" and len(length) > 20:
        # httptools refuses a length that does not fit 64 bits as malformed before kvstore sees it.
        assert answer.status == 400
        assert "Content-Length" in answer.json()["error"]
    else:
        assert_413(answer)


def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(server: ServerProcess) -> None:
    before = server.rss_mb()
    chunk = b"x" * 65536
    with connect(server.port) as sock:
        sock.sendall(b"PUT /api/v1/kv/chunked HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        sending = threading.Event()

        def send_without_end() -> None:  # never the last chunk: only the limit can end this body
            sending.set()
            try:
                for _ in range(CHUNKED_TOTAL // len(chunk)):
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                pass  # the server closed after its answer

        sender = threading.Thread(target=send_without_end)
        sender.start()
        sending.wait()
        answer = read_answer(sock, timeout=10)
        sender.join()
    assert_413(answer)
    assert server.rss_mb() - before < 4 * LIMIT / MIB + RSS_GROWTH_MB  # the cut body, in a few copies at most
    assert requests.get(f"{server.url}/api/v1/kv/chunked", timeout=10).status_code == 404


def test_a_body_at_the_limit_is_read_and_one_over_is_refused(server: ServerProcess) -> None:
    at_limit = b'{"value": "' + b"v" * (LIMIT - 13) + b'"}'
    assert len(at_limit) == LIMIT
    assert exchange(server.port, put_head(b"%d" % LIMIT, "edge") + at_limit).status == 200
    assert_413(exchange(server.port, put_head(b"%d" % (LIMIT + 1), "edge") + at_limit + b" "))


def test_normal_puts_work_after_refusals_on_the_same_connection_or_a_new_one(server: ServerProcess) -> None:
    body = b'{"value": "' + b"v" * LIMIT + b'"}'  # whole, but over the limit
    with connect(server.port) as sock:
        sock.sendall(put_head(b"%d" % len(body)) + body)
        refused = read_answer(sock)
        assert_413(refused)
        if refused.headers.get("connection") != "close":  # kept open: the next request goes on it
            sock.sendall(put_head(b"14", "after") + b'{"value": "v"}')
            assert read_answer(sock).status == 200
    with requests.Session() as session:  # and on a new connection, kept alive across requests
        put_normally(server, "after", session)
        put_normally(server, "after", session)
        assert session.get(f"{server.url}/api/v1/kv/after", timeout=10).json()["revision"] >= 2
