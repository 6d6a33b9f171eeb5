"""The dashboard in real Chromium (Debian's package, driven by Playwright) against `splitlab serve`.

Screenshots of the main pages at 1280 and 390 pixels are saved under tests/artifacts/screenshots.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.conftest import IN_CI
from tests.e2e.conftest import ADMIN, Server, start_server

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CHROMIUM = os.environ.get("SPLITLAB_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        message = f"browser tests need Chromium at {CHROMIUM} (Debian package 'chromium')"
        if IN_CI:
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("browser"), "--demo", env={"SPLITLAB_ADMIN_TOKEN": ADMIN}
    )
    yield server
    server.stop()


def api(server: Server, token: str = ADMIN) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    foreign: list[str] = []
    page.on(
        "request",
        lambda request: (
            foreign.append(request.url)
            if urlparse(request.url).netloc != urlparse(server.url).netloc
            else None
        ),
    )
    page.foreign_requests = foreign
    yield page
    context.close()


def sign_in(page: Any, server: Server, token: str = ADMIN) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/")


def assert_status(page: Any, status: str) -> None:
    """Wait for the page the form posted to: the old page is loaded too, so load state can't tell."""
    from playwright.sync_api import expect

    expect(page.locator(".status").first).to_have_text(re.compile(f"^{status}$", re.IGNORECASE))


def test_create_start_observe_and_conclude_an_experiment(page: Any, server: Server) -> None:
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, server)
    page.get_by_role("link", name="New experiment").first.click()
    page.get_by_label("Name", exact=True).fill("Browser checkout test")
    page.get_by_label("Hypothesis").fill("Green converts better")
    page.get_by_role("button", name="Create experiment").click()
    page.wait_for_url(f"{server.url}/experiments/browser-checkout-test")
    page.get_by_role("button", name="Start").click()
    assert_status(page, "running")

    with api(server) as http:
        users = [{"user_id": f"b{i}"} for i in range(1200)]
        assigned = http.post(
            "/api/experiments/browser-checkout-test/assignments/batch", json={"users": users}
        ).json()["assignments"]
        first = assigned[0]
        http.post(
            "/api/experiments/browser-checkout-test/metrics",
            json={
                "user_id": first["user_id"],
                "variant_key": first["variant_key"],
                "metric_name": "purchase",
                "value": 1,
                "metric_type": "conversion",
            },
        )
        events = [
            {
                "user_id": a["user_id"],
                "event_type": "purchase",
                "experiment_id": "browser-checkout-test",
            }
            for i, a in enumerate(assigned)
            if (a["variant_key"] == "treatment" and i % 4 == 0) or i % 9 == 0
        ]
        assert http.post("/api/v1/events/batch", json={"events": events}).status_code == 200

    page.reload()
    table = page.locator("table.results").first
    assert "treatment" in table.inner_text()
    # Desktop width: the wide layout of each chart is the one shown.
    assert page.locator(".chart-wide svg.forest circle").first.is_visible()
    assert not page.locator(".chart-compact svg.forest").first.is_visible()
    assert page.locator(".chart-wide svg.exposures polyline").count() == 2
    assert page.locator(".verdict .recommendation").inner_text()

    page.locator("summary", has_text="Conclude with a winner").click()
    page.get_by_label("Winning variant").select_option("treatment")
    page.get_by_label("Notes").fill("Clear uplift in the browser test")
    page.get_by_role("button", name="Conclude").click()
    assert_status(page, "completed")
    assert "Clear uplift in the browser test" in page.content()
    assert page.foreign_requests == []


def test_readonly_sees_no_mutating_controls(page: Any, server: Server) -> None:
    with api(server) as http:
        token = http.post(
            "/api/v1/api-tokens/", json={"name": "viewer", "scope": "readonly"}
        ).json()["token"]
    sign_in(page, server, token)
    assert page.get_by_role("link", name="New experiment").count() == 0
    page.goto(f"{server.url}/experiments/checkout-button-colour")
    for name in ("Start", "Pause", "Edit", "Cancel experiment", "Conclude"):
        assert page.get_by_role("button", name=name).count() == 0
        assert page.get_by_role("link", name=name).count() == 0
    assert page.locator("form[action$='/lifecycle']").count() == 0


def test_bad_form_input_shows_a_field_error(page: Any, server: Server) -> None:
    sign_in(page, server)
    page.goto(f"{server.url}/experiments/new")
    page.get_by_label("Name", exact=True).fill("Broken split")
    page.get_by_label("Variant 2 allocation percent").fill("30")
    page.get_by_role("button", name="Create experiment").click()
    error = page.locator("#variants-error")
    assert error.is_visible()
    assert "sum to 100" in error.inner_text()
    assert page.get_by_label("Name", exact=True).input_value() == "Broken split"


@pytest.mark.parametrize("width", [1280, 390])
def test_screenshots_of_the_main_pages(browser: Any, server: Server, width: int) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlparse(request.url).netloc))
    page.goto(f"{server.url}/login")
    page.screenshot(path=str(SHOTS / f"login-{width}.png"), full_page=True)
    sign_in(page, server, "admin_token_123")
    pages = {
        "experiments": "/",
        "winner": "/experiments/checkout-button-colour",
        "srm": "/experiments/onboarding-checklist",
        "multi-variant": "/experiments/search-ranking",
        "inconclusive": "/experiments/pricing-page-copy",
        "draft": "/experiments/free-shipping-banner",
        "new": "/experiments/new",
        "edit": "/experiments/checkout-button-colour/edit",
        "tokens": "/admin/tokens",
        "data": "/admin/data",
    }
    for name, path in pages.items():
        page.goto(f"{server.url}{path}")
        # Nothing wider than the viewport except inside scroll boxes (tables, charts, code).
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} scrolls sideways at {width}px"
        # Every chart shown fits its box: no SVG is cut off or scrolls.
        clipped = page.evaluate(
            """[...document.querySelectorAll('svg.chart')].filter(s => s.checkVisibility())
               .filter(s => s.getBoundingClientRect().right > s.parentElement
                   .getBoundingClientRect().right + 1).length"""
        )
        assert clipped == 0, f"{path}: a chart is wider than its box at {width}px"
        # Every visible form control has an accessible name (a <label> or aria-label).
        unlabelled = page.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(el => el.checkVisibility() && !el.labels.length
                   && !el.getAttribute('aria-label')).map(el => el.name)"""
        )
        assert unlabelled == [], f"{path}: unlabelled controls {unlabelled}"
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    # The list tells the four demo stories apart at a glance.
    page.goto(f"{server.url}/")
    row = {
        key: page.locator("tr", has=page.locator(f"code:text-is('{key}')"))
        for key in (
            "checkout-button-colour",
            "pricing-page-copy",
            "onboarding-checklist",
            "search-ranking",
        )
    }
    assert "green: +" in row["checkout-button-colour"].inner_text()
    assert ", significant" in row["checkout-button-colour"].inner_text()
    assert "not significant" in row["pricing-page-copy"].inner_text()
    assert "SRM alarm" in row["onboarding-checklist"].inner_text()
    assert "SRM alarm" not in row["search-ranking"].inner_text()
    page.goto(f"{server.url}/experiments/search-ranking")
    assert page.locator("table.results").first.locator("tbody tr").count() == 4
    assert page.locator(".banner.bad").count() == 0  # multi-variant: no SRM banner
    page.goto(f"{server.url}/experiments/onboarding-checklist")
    assert "Sample ratio mismatch" in page.locator(".banner.bad").inner_text()
    assert hosts == {urlparse(server.url).netloc}, hosts
    context.close()


def test_the_keyboard_alone_signs_in_and_concludes(page: Any, server: Server) -> None:
    """Tab and Enter reach every step: labelled fields, the disclosure, the confirm dialog."""
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{server.url}/login")
    # The token field takes focus on arrival (``autofocus``); Chromium may apply it just after
    # the load event, so wait for it rather than type into nothing (a CI run lost the first keys).
    page.wait_for_function("document.activeElement && document.activeElement.id === 'token'")
    page.keyboard.type("admin_token_123")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/")
    with api(server) as http:
        created = http.post("/api/experiments/", json={"key": "keyboard-test", "name": "Keyboard"})
        assert created.status_code == 201, created.text
        assert http.post("/api/experiments/keyboard-test/start").status_code == 200
    page.goto(f"{server.url}/experiments/keyboard-test")
    summary = page.locator("summary", has_text="Conclude with a winner")
    summary.focus()
    page.keyboard.press("Enter")
    assert page.get_by_label("Winning variant").is_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "winning_variant"
    page.keyboard.press("Tab")
    page.keyboard.type("No difference worth shipping")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Conclude"
    page.keyboard.press("Enter")
    assert_status(page, "completed")
    assert "No difference worth shipping" in page.content()


def test_the_copy_button_copies_the_snippet(browser: Any, server: Server) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    sign_in(page, server, "admin_token_123")
    page.goto(f"{server.url}/experiments/search-ranking")
    snippet = page.locator("pre.snippet").nth(1)  # the Python one
    snippet.get_by_role("button", name="Copy").click()
    page.wait_for_function("document.querySelectorAll('button.copy')[1].textContent === 'Copied'")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("import os")
    assert 'splitlab.assign("search-ranking", "user-123"' in copied
    assert "Copy" not in copied  # the button's label is not part of the code
    context.close()
