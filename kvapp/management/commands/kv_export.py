"""``manage.py kv_export``: write the whole store as JSON lines (backup, or the first half of a move)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

from django.core.management.base import CommandParser

from kvapp.management.store_command import StoreCommand
from kvapp.store import transfer
from kvapp.store.base import Store


class Command(StoreCommand):
    """Export every pair with its revisions; ``kv_import`` loads the result into an empty store."""

    help = "Export the store as JSON lines (to --output or stdout), e.g. to back it up or move it to Redis."

    def add_arguments(self, parser: CommandParser) -> None:
        """Called by Django to build the parser."""
        super().add_arguments(parser)
        parser.add_argument("--output", "-o", help="file to write (default: stdout); replaced only when complete")

    async def handle_store(self, store: Store, options: dict[str, Any]) -> None:
        """Write the header, then every pair; to a file via a temporary name and a rename."""
        header = await transfer.export_header(store)
        target = Path(options["output"]) if options["output"] else None
        if target is None:
            count = await self._export(store, header, self.stdout, options)
        else:
            count = await self._export_to_file(store, header, target, options)
        self.stderr.write(f"exported {count} pairs from the {header.backend} store at revision {header.revision}")

    async def _export_to_file(self, store: Store, header: transfer.Header, target: Path, options: dict) -> int:
        """Write beside ``target`` and rename when complete: a backup that exists is a whole one."""
        partial = target.with_name(target.name + ".partial")
        try:
            with partial.open("w", encoding="utf-8", newline="\n") as handle:
                count = await self._export(store, header, handle, options)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
        return count

    async def _export(self, store: Store, header: transfer.Header, out: IO[str] | Any, options: dict) -> int:
        """Stream header and pair lines to ``out``; returns the number of pairs written."""
        out.write(transfer.encode_header(header))
        count = 0
        with self.progress(options, header.keys, "exporting") as bar:
            async for line in transfer.export_pairs(store):
                out.write(line)
                count += 1
                bar.update()
        return count
