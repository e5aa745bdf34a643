"""Headless Chromium (Debian's) driven by Playwright: the fixtures both page suites use."""

import contextlib
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Background networking off: the machine has no network, and Chromium would keep trying.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    # No skip: a missing browser is a broken test setup, and it should say so.
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: install chromium"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        # a plain launch runs on a fresh, throwaway profile
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def context(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    yield context
    context.close()


@contextlib.contextmanager
def live_page(context, h, url):
    """`url` open as the operator once its page stream is live; closing it checks that it
    raised no JavaScript error meanwhile."""
    h.login(context)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    expect(page.locator("#live")).to_have_class("live is-live", timeout=10_000)
    yield page
    page.close()
    assert errors == [], errors
