"""The shared shape of commands that open a store directly: which one, errors, progress."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from kvapp.backend import open_store
from kvapp.store import PICKLE
from kvapp.store.base import Store
from kvapp.store.errors import KVError


class StoreCommand(BaseCommand):
    """A command run against one store, chosen like the server chooses it (or by options).

    The event loop here serves only this command, so the file reads and writes the
    subclasses do between store calls hold up nothing else.
    """

    def add_arguments(self, parser: CommandParser) -> None:
        """Called by Django to build the parser: store selection and progress options."""
        parser.add_argument(
            "--backend",
            help=f'"{PICKLE}" or redis://HOST:PORT/DB (default: KV_BACKEND, else the pickle file)',
        )
        parser.add_argument("--data", help="the pickle file (default: KV_DATA)")
        parser.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="show a progress bar on stderr (default: when stderr is a terminal)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Called by Django: open the store, run the command, report failures in one line."""
        try:
            asyncio.run(self._run(open_store(options["backend"], options["data"]), options))
        except (KVError, OSError) as exc:
            raise CommandError(str(exc)) from None

    async def _run(self, store: Store, options: dict[str, Any]) -> None:
        """Run ``handle_store`` and always release the store (lock file, connections)."""
        try:
            await self.handle_store(store, options)
        finally:
            await store.aclose()

    async def handle_store(self, store: Store, options: dict[str, Any]) -> None:
        """The command's work on the opened store."""
        raise NotImplementedError

    def progress(self, options: dict[str, Any], total: int, verb: str) -> tqdm:
        """A progress bar over ``total`` pairs on stderr, shown per ``--progress`` or a terminal."""
        disable = None if options["progress"] is None else not options["progress"]
        return tqdm(total=total, unit=" pairs", desc=verb, file=sys.stderr, disable=disable, unit_scale=True)
