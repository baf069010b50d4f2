"""A paced writer in a process of its own: ``python -m bench.writer URL PER_SECOND``.

PUTs on a fixed schedule from several clients until stdin closes, then prints how many
were written and over how many seconds. A process of its own, so the benchmark's other
client (decoding pages of 10,000 pairs) does not slow it down through the GIL.
"""

from __future__ import annotations

import sys
import threading
import time

import requests

CLIENTS = 32  # enough that the pace holds with a few ms per PUT
VALUE = "0123456789abcdef"
TIMEOUT = 30.0  # seconds for one PUT


def main() -> None:
    url, per_second = sys.argv[1], float(sys.argv[2])
    stop = threading.Event()
    written = [0] * CLIENTS
    started = time.perf_counter()

    def client(number: int) -> None:
        session, interval, n = requests.Session(), CLIENTS / per_second, 0
        while not stop.is_set():
            delay = started + n * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            answer = session.put(f"{url}/api/v1/kv/bench/writer/{number}-{n}", json={"value": VALUE}, timeout=TIMEOUT)
            answer.raise_for_status()
            written[number] += 1
            n += 1

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    sys.stdin.read()  # until the benchmark closes it
    stop.set()
    for thread in threads:
        thread.join()
    print(f"{sum(written)} {time.perf_counter() - started:.3f}", flush=True)


if __name__ == "__main__":
    main()
