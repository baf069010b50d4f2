"""``manage.py kv_import``: load a ``kv_export`` file into an empty store (restore, or the end of a move)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from kvapp.conf import kv_settings
from kvapp.management.store_command import StoreCommand
from kvapp.store import transfer
from kvapp.store.base import Pair, Store
from kvapp.store.validation import Limits


class Command(StoreCommand):
    """Load every pair with its own revisions; all or nothing, and only into an empty store."""

    help = "Import a kv_export file (or stdin) into an empty store, keeping every pair's revisions."

    def add_arguments(self, parser: CommandParser) -> None:
        """Called by Django to build the parser."""
        super().add_arguments(parser)
        parser.add_argument("source", nargs="?", default="-", help="the export file (default: stdin)")
        parser.add_argument(
            "--bump-revision",
            type=int,
            default=0,
            metavar="N",
            help="start the store N revisions above the file's, so no client mistakes the restored "
            "store's revisions for ones it saw before (a watcher resuming from before is told compacted)",
        )

    async def handle_store(self, store: Store, options: dict[str, Any]) -> None:
        """Read the header, then restore the pairs while counting them on the progress bar."""
        source = options["source"]
        opened = contextlib.nullcontext(sys.stdin.buffer) if source == "-" else Path(source).open("rb")  # noqa: SIM115 - closed by the with below
        with opened as handle:
            header = transfer.read_header(handle.readline())
            with self.progress(options, header.keys, "importing") as bar:
                lease_ttls: dict[int, int] = {}
                lines = transfer.read_pairs(handle, _limits(), lease_ttls, kv_settings().lease_max_ttl)
                pairs = _counted(lines, bar)
                bump = options["bump_revision"]
                count = await transfer.restore(store, header, pairs, bump=bump, lease_ttls=lease_ttls)
        stats = await store.stats()
        self.stderr.write(f"imported {count} pairs into the {stats.backend} store, now at revision {stats.revision}")


def _limits() -> Limits:
    """The server's key and value limits: an import may not load what the API would refuse."""
    settings = kv_settings()
    return Limits(settings.max_key_bytes, settings.max_value_bytes)


def _counted(pairs: Iterator[Pair], bar: Any) -> Iterator[Pair]:
    """Pass pairs through, ticking the progress bar."""
    for pair in pairs:
        bar.update()
        yield pair
