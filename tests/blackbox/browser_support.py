"""Fixtures of the browser tests in `tests/blackbox/browser/`, which import them (a `conftest.py` there would
shadow the suite's, which other tests import by name): Playwright for Python driving Debian's `chromium`, with no
browser download.

The browser is found with `UMA_CEDAR_CHROMIUM`, then `chromium` on the PATH, then `/usr/bin/chromium`; when none
exists the tests skip and say why, unless `UMA_CEDAR_REQUIRE_BROWSER` is set (`.ci/run` sets it and installs
chromium, so CI never skips). Each test gets a fresh browser context and a `shoot(label)` that saves a full-page
screenshot under `target/browser-screenshots/` (git-ignored), one directory per test. Every wait is bounded.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "target" / "browser-screenshots"
ACTION_TIMEOUT_MS = 15_000  # one click, fill or navigation
LAUNCH_TIMEOUT_MS = 30_000


def chromium_path() -> str | None:
    configured = os.environ.get("UMA_CEDAR_CHROMIUM")
    if configured:
        return configured
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


# Per module: each test module imports its own copy of these fixtures, and two Playwright drivers cannot share a
# thread, so a session-wide browser would be started twice at once.
@pytest.fixture(scope="module")
def chromium():
    path = chromium_path()
    if path is None:
        if os.environ.get("UMA_CEDAR_REQUIRE_BROWSER"):
            pytest.fail("UMA_CEDAR_REQUIRE_BROWSER is set but there is no chromium binary")
        pytest.skip("no chromium binary (install Debian's `chromium`, or set UMA_CEDAR_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is in tests/blackbox/requirements.txt")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path,
            headless=True,
            timeout=LAUNCH_TIMEOUT_MS,
            # Containers often run as root without user namespaces.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


class Shooter:
    """Saves numbered screenshots of one test's pages."""

    def __init__(self, page, directory: Path):
        self.page = page
        self.directory = directory
        self.count = 0
        self.saved: list[Path] = []

    def __call__(self, label: str) -> Path:
        self.count += 1
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}.png"
        self.page.screenshot(path=str(path), full_page=True, timeout=ACTION_TIMEOUT_MS)
        self.saved.append(path)
        return path


@pytest.fixture
def page(chromium, request):
    context = chromium.new_context()
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(ACTION_TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def shoot(page, request):
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    directory = SCREENSHOTS / name
    shutil.rmtree(directory, ignore_errors=True)
    return Shooter(page, directory)
