"""A real browser for tests: Debian's ``chromium``, headless, driven by Playwright.

Use it from any test module (``tests/`` is on ``sys.path`` under pytest)::

    import pytest
    from browser_support import chromium_page, image_states

    pytestmark = pytest.mark.browser


    def test_page_shows_its_pictures(tmp_path):
        with chromium_page() as page:
            page.goto(some_path.as_uri())  # a file:// URL, or a server the test started on 127.0.0.1
            assert all(img["complete"] and img["naturalWidth"] > 0 for img in image_states(page))

Project rules it enforces:

* The browser is always Debian's ``chromium`` (``/usr/bin/chromium``), never one Playwright downloads: it is
  launched with ``executable_path``, and nothing here runs ``playwright install``. When ``chromium`` is missing
  and the tests run as root, it is installed once per session with ``apt-get`` (bounded by
  ``APT_TIMEOUT_S``); where that cannot be done, or the ``playwright`` package is not installed (it is pinned in
  the ``dev`` extra), the test is skipped with a message naming what is missing.
* Headless, with ``--no-sandbox --disable-gpu --disable-background-networking``.
* No request leaves the machine: ``http(s)``/``ws(s)`` requests to anything but the loopback (127.0.0.1,
  localhost, [::1]) are aborted. An aborted request fires the page's ``requestfailed`` event, so a test that must
  prove its page is self-contained listens for it.

A launch that fails once the browser and the package are both there is a real failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking")
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
APT_TIMEOUT_S = 600  # for the whole install attempt (apt-get update included), once per session
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_VIEWPORT = {"width": 1280, "height": 900}


def find_chromium() -> str | None:
    """Path of Debian's chromium, or None when it is not installed."""
    found = shutil.which("chromium")
    if found:
        return found
    return str(DEBIAN_CHROMIUM) if DEBIAN_CHROMIUM.is_file() else None


@cache  # one attempt per test session, whatever it gave
def _install_chromium() -> str:
    """Try ``apt-get install chromium`` (root only); returns why it failed, or '' when it worked."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not root, so apt-get install chromium was not tried"
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    deadline = time.monotonic() + APT_TIMEOUT_S

    def run(*args: str) -> str:
        """Run one apt-get step within what is left of the time budget; '' when it worked, else why not."""
        left = deadline - time.monotonic()
        command = " ".join(("apt-get", *args))
        if left <= 0:
            return f"{command} not tried: the {APT_TIMEOUT_S} s budget is spent"
        try:
            done = subprocess.run(
                ["apt-get", *args], env=env, capture_output=True, text=True, timeout=left, check=False
            )
        except subprocess.TimeoutExpired:
            return f"{command} timed out ({APT_TIMEOUT_S} s budget)"
        if done.returncode == 0:
            return ""
        tail = (done.stderr or done.stdout).strip().splitlines()
        return f"{command} failed: {tail[-1] if tail else f'exit code {done.returncode}'}"

    # A fresh machine's package lists may be empty or stale: on failure, update them and try once more.
    why = run("install", "-y", "-q", "chromium")
    if why:
        why = run("update", "-q") or run("install", "-y", "-q", "chromium")
    if not why and find_chromium() is None:
        why = "apt-get install chromium succeeded but no chromium was found"
    return why


def chromium_executable() -> str:
    """Debian's chromium, installed with apt-get first if missing and possible; skips the test otherwise."""
    found = find_chromium()
    if found:
        return found
    why = _install_chromium()
    found = find_chromium()
    if not found:
        pytest.skip(
            f"browser test needs Debian's chromium, which is missing ({why or 'not found after install'})"
        )
    return found


def _keep_on_machine(route: Route) -> None:
    """Let file:, data: and loopback requests through; abort everything else."""
    url = urlsplit(route.request.url)
    if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in LOOPBACK_HOSTS:
        route.abort("blockedbyclient")
    else:
        route.continue_()


@contextmanager
def chromium_page(viewport: dict[str, int] | None = None) -> Iterator[Page]:
    """A fresh Playwright ``Page`` in headless Debian chromium; the browser is closed on exit.

    Skips the calling test when chromium or the playwright package is missing (see the module docstring).
    """
    executable = chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser test needs the playwright Python package: pip install -e '.[dev]'")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=list(CHROMIUM_ARGS))
        try:
            context = browser.new_context(viewport=viewport or DEFAULT_VIEWPORT)
            context.route("**/*", _keep_on_machine)
            yield context.new_page()
        finally:
            browser.close()


def image_states(page: Page) -> list[dict[str, Any]]:
    """Every ``<img>`` on the page: src (first 64 chars), alt, complete, naturalWidth/Height, rendered
    width/height and whether it sits inside a ``<figure>``; an image that failed to load has naturalWidth 0."""
    return page.eval_on_selector_all(
        "img",
        """els => els.map(e => {
            const box = e.getBoundingClientRect();
            return {src: (e.getAttribute('src') || '').slice(0, 64), alt: e.alt, complete: e.complete,
                    naturalWidth: e.naturalWidth, naturalHeight: e.naturalHeight,
                    width: box.width, height: box.height, inFigure: e.closest('figure') !== null};
        })""",
    )
