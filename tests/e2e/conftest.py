"""The page's browser fixtures, shared with tests/test_page_browser.py rather than copied."""

from __future__ import annotations

from tests.test_page_browser import browser, page, shared_server

__all__ = ["browser", "page", "shared_server"]
