"""Render docs/screenshot.png (the web page of a fresh server holding a few dozen realistic
pairs) and docs/history.png (the history panel of a key changed twice).

Run from the project root: ``.venv/bin/python scripts/screenshot.py [page.png [history.png]]``.
It needs the system Chromium (scripts/system-deps.sh) and starts its own server on a free port.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import requests
from playwright.sync_api import Browser, expect, sync_playwright

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from kvapp.testing.server import ServerProcess  # noqa: E402 - needs the project on sys.path
from tests.support.browser import launch_chromium  # noqa: E402 - needs the project on sys.path

OUTPUT = PROJECT_ROOT / "docs" / "screenshot.png"
HISTORY_OUTPUT = PROJECT_ROOT / "docs" / "history.png"
VIEWPORT = {"width": 1280, "height": 900}  # CSS pixels
HISTORY_VIEWPORT = {"width": 1280, "height": 720}  # CSS pixels

MAINTENANCE = (
    "We are upgrading the database cluster on Sunday between 02:00 and 04:00 UTC. "
    "Checkout stays available; order history may be a few minutes behind while replicas catch up."
)
PAIRS = {
    "app/cache/redis_url": "redis://cache-1.internal:6379/0",
    "app/cache/ttl_seconds": "300",
    "app/db/host": "db-primary.internal",
    "app/db/name": "shop",
    "app/db/pool_size": "20",
    "app/db/port": "5432",
    "app/db/replica_hosts": "db-replica-1.internal,db-replica-2.internal",
    "app/db/user": "shop_app",
    "app/feature_flags/dark_mode": "true",
    "app/feature_flags/new_checkout": "false",
    "app/feature_flags/recommendations": "25%",
    "app/log_level": "info",
    "app/maintenance_message": MAINTENANCE,
    "app/workers": "8",
    "billing/currency": "EUR",
    "billing/invoice_prefix": "INV-2026-",
    "billing/stripe/webhook_url": "https://shop.example.com/hooks/stripe",
    "billing/tax/default_rate": "0.19",
    "deploy/current_version": "v4.12.3",
    "deploy/last_deployed_at": "2026-11-25T21:14:03Z",
    "deploy/previous_version": "v4.12.2",
    "deploy/region": "eu-central-1",
    "ingest/batch_size": "500",
    "ingest/queue": "events.ingest.v2",
    "mail/from_address": "Shop <no-reply@shop.example.com>",
    "mail/smtp_host": "smtp.example.com",
    "mail/smtp_port": "587",
    "search/index_name": "products-2026-11",
    "search/replicas": "2",
    "service/api/allowed_origins": json.dumps(["https://shop.example.com", "https://admin.example.com"]),
    "service/api/rate_limit": "600/min",
    "service/api/timeout_ms": "2500",
    "service/web/session_ttl": "14d",
    "tls/cert_expiry": "2027-02-01",
    "users/admin_emails": "ops@example.com,alice@example.com",
    "users/signup_open": "true",
}
UPDATES = {"deploy/current_version": "v4.12.4", "app/workers": "12", "app/feature_flags/new_checkout": "true"}
LEASED = {"deploy/lock": ("ci-runner-7 (pipeline 18231)", 600)}  # key: (value, ttl seconds)
UPSTREAM = "service/web/upstream"  # a multi-line value changed twice: its history has diffs
UPSTREAM_VERSIONS = [
    "upstream web {\n    server web-1.internal:8080;\n    server web-2.internal:8080;\n}",
    "upstream web {\n    least_conn;\n    server web-1.internal:8080;\n    server web-2.internal:8080;\n"
    "    server web-3.internal:8080;\n}",
    "upstream web {\n    least_conn;\n    server web-1.internal:8080 weight=2;\n    server web-2.internal:8080;\n"
    "    server web-3.internal:8080;\n    keepalive 32;\n}",
]
SELECTED = ["app/feature_flags/dark_mode", "app/feature_flags/recommendations"]  # ticked for a bulk action


def seed(server: ServerProcess) -> None:
    """Write the pairs, then change a few so revisions and created revisions differ."""
    with requests.Session() as session:

        def put(key: str, body: dict) -> None:
            session.put(f"{server.url}/api/v1/kv/{quote(key, safe='')}", json=body, timeout=5).raise_for_status()

        for key, value in [*PAIRS.items(), *list(UPDATES.items())[:2]]:
            put(key, {"value": value})
        for key, (value, ttl) in LEASED.items():
            put(key, {"value": value, "ttl": ttl})
        for value in UPSTREAM_VERSIONS:
            put(UPSTREAM, {"value": value})


def render(browser: Browser, server: ServerProcess, output: Path) -> None:
    """Open the page, tick two rows, show one live update arriving, and save a full-page PNG."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(server.url)
    expect(page.locator("#live")).to_have_text("live", timeout=10_000)
    page.locator('#rows tr[data-key="app/maintenance_message"] summary').click()
    for key in SELECTED:
        page.get_by_label(f"Select {key}", exact=True).check()
    key, value = list(UPDATES.items())[2]
    requests.put(f"{server.url}/api/v1/kv/{quote(key, safe='')}", json={"value": value}, timeout=5)
    expect(page.locator(f'#rows tr[data-key="{key}"] td').first).to_have_text(value)
    # A window as tall as the page: the action bar, which sticks to the window's foot while rows
    # are selected, is then drawn where it sits under the table, not over the rows.
    page.set_viewport_size({**VIEWPORT, "height": page.evaluate("document.documentElement.scrollHeight")})
    page.wait_for_timeout(300)  # ms: let the highlight show, not fade
    page.screenshot(path=str(output), full_page=True)
    page.close()


def render_history(browser: Browser, server: ServerProcess, output: Path) -> None:
    """Open the history panel of the key changed twice and save the window as a PNG."""
    page = browser.new_page(viewport=HISTORY_VIEWPORT)
    page.goto(f"{server.url}/?prefix=service/")
    expect(page.locator("#live")).to_have_text("live", timeout=10_000)
    page.locator(f'#rows tr[data-key="{UPSTREAM}"]').get_by_role("button", name="History").click()
    expect(page.locator("#history-items li")).to_have_count(len(UPSTREAM_VERSIONS))
    page.locator("#history-items li").first.locator("summary").click()  # the whole current value, too
    page.screenshot(path=str(output))
    page.close()


def main() -> None:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    history_output = Path(sys.argv[2]) if len(sys.argv) > 2 else HISTORY_OUTPUT
    output.parent.mkdir(parents=True, exist_ok=True)
    history_output.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as data_dir,
        ServerProcess(Path(data_dir) / "store.pickle") as server,
        sync_playwright() as playwright,
    ):
        seed(server)
        browser = launch_chromium(playwright)
        render(browser, server, output)
        render_history(browser, server, history_output)
        browser.close()
    print(f"wrote {output} and {history_output}")


if __name__ == "__main__":
    main()
