"""Headless Chromium (Debian's package) driven by Playwright, recording every request the page makes."""

import contextlib
import shutil
from collections.abc import Iterator
from urllib.parse import urlparse

from playwright.sync_api import Page, sync_playwright

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextlib.contextmanager
def chromium_page() -> Iterator[tuple[Page, list[str]]]:
    """A fresh page and the list of URLs it requested (filled as it loads)."""
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("Debian's chromium is not installed: run `make test` (it installs chromium as root)")
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            yield page, requested
        finally:
            browser.close()


def outside_hosts(urls: list[str]) -> list[str]:
    """URLs that left 127.0.0.1 (data: and blob: URLs never leave the page)."""
    return [
        u for u in urls if urlparse(u).scheme in ("http", "https", "ws", "wss") and urlparse(u).hostname != "127.0.0.1"
    ]
