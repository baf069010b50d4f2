"""The watch: websockets to the event feed (consumers, broadcast, channel layers, routing).

What other parts of kvapp may use is exported here; the modules inside are the watch's own.
"""

from __future__ import annotations

from kvapp.watch.watchers import watcher_count

__all__ = ["watcher_count"]
