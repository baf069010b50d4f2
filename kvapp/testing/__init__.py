"""Tools for testing and benchmarking kvstore with real processes (like ``channels.testing``).

Shared by ``tests/`` and ``bench/`` so the two start servers the same way; nothing in the
server imports it.
"""
