"""Fixtures of the browser tests: one headless Chromium per module, a fresh context per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from kvapp.testing.server import ServerProcess
from tests.support.browser import CHROMIUM, launch_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium from the system; its absence fails the tests (scripts/system-deps.sh installs it)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-deps.sh")
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the tests that only need their own key prefix."""
    with ServerProcess(tmp_path_factory.mktemp("page") / "store.pickle") as process:
        yield process


class PageErrors:
    """Uncaught script errors and CSP refusals seen by a page; both mean the page is broken."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.seen.append(message.text)

    def error(self, error: Exception) -> None:
        self.seen.append(str(error))


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (own sessionStorage) whose page must end without script errors."""
    context = browser.new_context()
    opened = context.new_page()
    errors = PageErrors()
    opened.on("console", errors.console)
    opened.on("pageerror", errors.error)
    yield opened
    context.close()
    assert errors.seen == []
