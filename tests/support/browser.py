"""The headless Chromium the page tests and the README screenshot use (Debian's, from system-deps)."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
