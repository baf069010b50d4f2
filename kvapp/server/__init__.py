"""The ASGI composition and the workarounds of Django's and daphne's per-request cost and quirks."""
