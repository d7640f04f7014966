"""Headless Chromium for the browser tests: the system browser (Debian ``chromium``) driven by Playwright.

Playwright is only the driver here (``executable_path=``): no browser is downloaded. A test skips, with the
reason, only when no Chromium executable can be found.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """``$EMBRACE_CHROMIUM``, else the first Chromium on PATH."""
    explicit = os.environ.get("EMBRACE_CHROMIUM")
    if explicit:
        return explicit if os.path.exists(explicit) else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright ``Browser``); skips the test when Chromium is not installed."""
    path = find_chromium()
    if path is None:
        pytest.skip("Chromium not found: install Debian's `chromium` (apt-get install -y chromium; scripts/test.sh "
                    "does it when run as root) or set EMBRACE_CHROMIUM to a Chromium/Chrome executable")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: Chromium refuses to start as root (CI containers) with its sandbox on
        browser = playwright.chromium.launch(executable_path=path, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()
