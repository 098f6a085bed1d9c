"""Fixtures of the web UI suite: one headless Chromium per module and a page per test
(the machinery is in `support.browser_kit`)."""

from __future__ import annotations

import pytest

from support.browser_kit import CHROMIUM, CHROMIUM_ARGS, require_playwright, shot


@pytest.fixture(scope="module")
def browser():
    sync_playwright = require_playwright()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.corral_errors = errors  # type: ignore[attr-defined]
    yield pg
    shot(pg, request.node.name, "final")
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
