"""A stand-in for kvstore's watch socket, for CLI tests of frames and close codes a real server
cannot be made to send on cue."""

from __future__ import annotations

import json
import threading
from urllib.parse import parse_qs, urlsplit

from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

Script = tuple[list[str], int]  # the text frames one watch socket gets, then its close code


def put_frames(*revisions: int) -> list[str]:
    """A put event frame for each revision."""
    return [json.dumps({"type": "put", "key": f"k{rev}", "value": "v", "revision": rev}) for rev in revisions]


def progress_frame(revision: int) -> str:
    """The frame a quiet watch gets: every event for its prefix up to ``revision`` has been sent."""
    return json.dumps({"type": "progress", "revision": revision})


class FakeWatchServer:
    """The n-th watch socket gets ``scripts[n]`` (the last one repeats); listings say ``revision``.

    Records the ``after`` each socket asked for (absent: -1), so a test sees where a client resumed,
    and each socket's whole query.
    """

    def __init__(self, scripts: list[Script], revision: int = 0) -> None:
        self.scripts = scripts
        self.revision = revision
        self.afters: list[int] = []
        self.queries: list[dict[str, list[str]]] = []
        self._server: Server | None = None

    @property
    def connections(self) -> int:
        """Watch sockets accepted so far."""
        return len(self.afters)

    def __enter__(self) -> FakeWatchServer:
        """Serve from a thread until the ``with`` block ends."""
        self._server = serve(self._watch, "127.0.0.1", 0, process_request=self._api)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the listening socket and any open watch."""
        assert self._server is not None
        self._server.shutdown()

    @property
    def url(self) -> str:
        """Base HTTP URL to give KVClient."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.socket.getsockname()[1]}"

    def _api(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer the listing ``client.revision()`` asks for; let the watch handshake through."""
        if not request.path.startswith("/api/"):
            return None
        response = connection.respond(200, json.dumps({"items": [], "next": None, "revision": self.revision}))
        response.headers["Content-Type"] = "application/json"
        return response

    def _watch(self, socket: ServerConnection) -> None:
        """One watch (one handler thread at a time: the client never opens two): frames, then the close."""
        assert socket.request is not None
        query = parse_qs(urlsplit(socket.request.path).query)
        self.queries.append(query)
        self.afters.append(int(query.get("after", ["-1"])[0]))
        frames, code = self.scripts[min(len(self.afters), len(self.scripts)) - 1]
        for frame in frames:
            socket.send(frame)
        socket.close(code)
