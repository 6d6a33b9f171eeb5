"""The API docs (/api/v1/docs) in real Chromium against `splitlab serve`, every other host blocked:
Swagger UI must come from Splitlab itself (behind a firewall a CDN is a blank page)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.dashboard import test_browser
from tests.e2e.conftest import ADMIN, Server, start_server

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

#: The dashboard tests' Chromium: skipped without it locally, a failure under CI=true.
browser = test_browser.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("docs"), env={"SPLITLAB_ADMIN_TOKEN": ADMIN})
    yield server
    server.stop()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    """A page on which every request to a host other than the server's is aborted, and noted."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    own = urlparse(server.url).netloc
    foreign: list[str] = []

    def only_the_server(route: Any) -> None:
        url = urlparse(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc == own:
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_server)
    page.foreign_requests = foreign
    page.script_errors = []
    page.on("pageerror", lambda error: page.script_errors.append(str(error)))
    yield page
    context.close()


def test_swagger_ui_renders_every_operation_from_the_server_alone(
    page: Any, server: Server
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server.url}/api/v1/docs")
    assert page.foreign_requests == []  # loaded: its scripts and styles were requested
    page.wait_for_function("document.querySelectorAll('.opblock').length > 20", timeout=30_000)
    evaluate = page.locator(".opblock-post .opblock-summary-path[data-path='/api/v1/evaluate']")
    expect(evaluate).to_be_visible()
    expect(evaluate).to_have_text("/api/v1/evaluate")
    # Swagger UI 5 renders an OpenAPI 3.1 document (4.x shows an "unsupported version" error).
    expect(page.locator(".info .version-stamp")).to_contain_text("OAS 3.1")
    assert page.locator(".errors-wrapper").count() == 0
    assert page.foreign_requests == []
    assert page.script_errors == []


def test_authorize_sends_the_bearer_token_with_try_it_out(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    sent: list[str | None] = []
    page.on(
        "request",
        lambda request: (
            sent.append(request.headers.get("authorization"))
            if urlparse(request.url).path == "/api/v1/api-tokens/"
            else None
        ),
    )
    page.goto(f"{server.url}/api/v1/docs")
    page.locator(".auth-wrapper .authorize").click()
    dialog = page.locator(".modal-ux")
    expect(dialog).to_contain_text("HTTPBearer")
    dialog.locator("input").fill(ADMIN)
    dialog.get_by_role("button", name="Apply credentials").click()  # the dialog's "Authorize"
    dialog.get_by_role("button", name="Close", exact=True).click()

    operation = page.locator(".opblock-get", has=page.locator("[data-path='/api/v1/api-tokens/']"))
    operation.locator(".opblock-summary-control").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status")
    expect(status).to_have_text("200")
    assert sent == [f"Bearer {ADMIN}"]
    assert page.foreign_requests == []
    assert page.script_errors == []
