"""The layout's rules, checked on every module's imports: dependencies point one way.

server -> http and watch -> backend -> store; the store imports nothing of kvapp, Django or
Channels; the CLI talks to the server over the wire and imports none of it; the project
package is only an entry point. Every import counts, also one inside a function.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kvapp.testing.server import PROJECT_ROOT

PACKAGES = ("kvapp", "kvcli", "kvproject", "bench", "tests", "scripts")
STORE_MAY_USE = {"sortedcontainers", "redis", "orjson"}  # the engine's own dependencies
SERVER_FRAMEWORKS = {"django", "channels", "daphne", "asgiref"}
PROJECT_ENTRY_POINTS = {"kvproject.settings", "kvproject.asgi"}  # what tests and tools may name
PROJECT_TESTS = {"tests.test_settings"}  # kvproject's own tests, which may name any of its modules


@dataclass(frozen=True)
class Import:
    """One import statement's target, and where it is."""

    module: str  # the importing module
    target: str  # the imported module (for ``from a import b``, also ``a.b``)
    line: int


def module_name(path: Path) -> str:
    """``kvapp/store/base.py`` -> ``kvapp.store.base``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, is_package: bool = False) -> Iterator[Import]:
    """Every module ``source`` imports, relative imports resolved."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node.module, node.level, is_package)
            yield Import(module, base, node.lineno)
            for alias in node.names:  # ``from kvapp.watch import consumer`` names a module too
                if _is_module(f"{base}.{alias.name}"):
                    yield Import(module, f"{base}.{alias.name}", node.lineno)


def _resolve(module: str, target: str | None, level: int, is_package: bool) -> str:
    """The absolute name of a (possibly relative) ``from`` import."""
    if level == 0:
        return target or ""
    parts = module.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[: len(anchor) - (level - 1)]
    return ".".join([*anchor, target] if target else anchor)


def within(name: str, package: str) -> bool:
    """Whether module ``name`` is ``package`` or inside it."""
    return name == package or name.startswith(package + ".")


def is_stdlib(name: str) -> bool:
    """Whether ``name`` belongs to the standard library (``__future__`` included)."""
    return name.split(".")[0] in sys.stdlib_module_names


def violation(imported: Import) -> str | None:
    """Why this import breaks the layout, or None."""
    source, target = imported.module, imported.target
    top = target.split(".")[0]
    if within(source, "kvapp.store") and not (
        is_stdlib(target) or within(target, "kvapp.store") or top in STORE_MAY_USE
    ):
        return "the store imports only the standard library, itself and its own dependencies"
    if within(source, "kvcli") and (top in {"kvapp", "kvproject"} | SERVER_FRAMEWORKS):
        return "the CLI talks to the server over HTTP and websockets; it imports none of it"
    if within(source, "kvapp.http") and (within(target, "kvapp.server") or _watch_internal(target)):
        return "views use the watch's public face (kvapp.watch) and never the server composition"
    if within(source, "kvapp.watch") and (within(target, "kvapp.http") or within(target, "kvapp.server")):
        return "the watch knows nothing of the HTTP views or the server composition"
    if within(source, "kvapp.backend") and top == "kvapp" and not _backend_may_use(target):
        return "the backend registry knows only the settings and the store"
    if within(target, "kvapp.testing") and within(source, "kvapp") and not within(source, "kvapp.testing"):
        return "the server never imports its test tools"
    outsider = not within(source, "kvproject") and source not in PROJECT_TESTS
    if within(target, "kvproject") and outsider and (within(source, "kvapp") or target not in PROJECT_ENTRY_POINTS):
        return "kvproject is an entry point (settings, asgi); nothing builds on its modules"
    if within(source, "bench") and within(target, "tests"):
        return "the benchmark shares kvapp.testing with the tests, not the tests themselves"
    return None


def _watch_internal(target: str) -> bool:
    """A module inside kvapp.watch, rather than the package's exported names."""
    return within(target, "kvapp.watch") and target != "kvapp.watch"


def _backend_may_use(target: str) -> bool:
    return within(target, "kvapp.store") or within(target, "kvapp.conf") or target == "kvapp"


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module or package file in the project (not a name inside one)."""
    path = PROJECT_ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def project_imports() -> list[Import]:
    """Every import in every project module."""
    found: list[Import] = []
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            name = module_name(path)
            found.extend(imports_of(name, path.read_text(), path.name == "__init__.py"))
    return found


def test_no_module_imports_against_the_layout() -> None:
    broken = [
        f"{imported.module}:{imported.line} imports {imported.target}: {reason}"
        for imported in project_imports()
        if (reason := violation(imported)) is not None
    ]
    assert broken == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("kvapp.store.base", "from kvapp.conf import kv_settings"),
        ("kvapp.store.pickle.store", "def f():\n    from kvapp.watch.broadcast import publish_events"),
        ("kvapp.store.redis.store", "import django"),
        ("kvapp.store.pickle.journal", "from channels.layers import get_channel_layer"),
        ("kvapp.store.pickle.journal", "from kvapp import errors"),
        ("kvcli.client", "from kvapp.watch.protocol import CloseCode"),
        ("kvcli.watch", "import channels"),
        ("kvapp.http.ops", "from kvapp.watch.watchers import watcher_count"),
        ("kvapp.http.api", "from kvapp.watch import consumer"),
        ("kvapp.http.api", "from kvapp.server.fastpath import FastPathHandler"),
        ("kvapp.watch.consumer", "from kvapp.http.guard import check_token"),
        ("kvapp.watch.consumer", "from ..http import guard"),
        ("kvapp.backend", "from kvapp.watch.broadcast import publish_events"),
        ("kvapp.server.startup", "from kvproject.env import cannot_start"),
        ("tests.http.test_api", "from kvproject.env import env_int"),
        ("kvapp.http.api", "from kvapp.testing.server import ServerProcess"),
        ("bench.servers", "from tests.support.ports import free_port"),
    ],
)
def test_a_forbidden_import_is_caught(module: str, source: str) -> None:
    """The checker itself: each of these arrows, added to the code, would fail the test above."""
    assert any(violation(imported) for imported in imports_of(module, source))


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("kvapp.store.pickle.store", "import asyncio\nfrom kvapp.store.pickle import journal"),
        ("kvapp.store.redis.store", "from redis.asyncio import Redis\nimport orjson"),
        ("kvapp.http.ops", "from kvapp.watch import watcher_count"),
        ("kvapp.server.fastpath", "from kvapp.http.responses import encoded_header"),
        ("kvapp.watch.consumer", "from kvapp.auth import check_token\nfrom kvapp.backend import get_store"),
        ("tests.e2e.test_watch", "from kvproject.settings import BASE_DIR"),
        ("bench.servers", "from kvapp.testing.server import ServerProcess"),
    ],
)
def test_an_allowed_import_passes(module: str, source: str) -> None:
    assert not any(violation(imported) for imported in imports_of(module, source))
