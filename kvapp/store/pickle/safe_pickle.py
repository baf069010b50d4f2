"""A pickle loader that builds only built-in containers and scalars.

``pickle.load`` on a tampered file can import and call anything. Refusing every global
(except a few harmless builtins older pickle protocols name) closes that door: a file can
describe data, never code.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

# Protocol <= 3 spells sets and bytearrays as calls to these; nothing else is ever allowed.
_ALLOWED_GLOBALS = {
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("__builtin__", "set"),
    ("__builtin__", "frozenset"),
}


class ForbiddenPickle(pickle.UnpicklingError):
    """The pickle asked to import something; it is not kvstore data."""


class _RestrictedUnpickler(pickle.Unpickler):
    """Refuses every global lookup outside the allow-list and every persistent id."""

    def find_class(self, module: str, name: str) -> Any:
        """Called for every GLOBAL/STACK_GLOBAL opcode in the stream."""
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise ForbiddenPickle(f"pickle refers to {module}.{name}; only plain data is allowed")

    def persistent_load(self, pid: Any) -> Any:
        """Called for PERSID opcodes, which plain data never uses."""
        raise ForbiddenPickle("pickle uses persistent ids; only plain data is allowed")


def loads(data: bytes) -> Any:
    """Unpickle ``data`` allowing only built-in containers and scalars."""
    return _RestrictedUnpickler(io.BytesIO(data)).load()


def load(handle: io.BufferedIOBase) -> Any:
    """Unpickle from an open binary file with the same restrictions as :func:`loads`."""
    return _RestrictedUnpickler(handle).load()
