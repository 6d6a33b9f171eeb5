"""The API docs (/api/v1/docs): Swagger UI 5 served by Splitlab itself, nothing from a CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from fastapi.testclient import TestClient

CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".svg": ("image/svg+xml",),
}


class References(HTMLParser):
    """Every ``<script src>`` and ``<link href>``, and whether a script is inline."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self._in_script = True
            if named.get("src"):
                self.urls.append(named["src"] or "")
        elif tag == "link" and named.get("href"):
            self.urls.append(named["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def docs_references(client: TestClient) -> References:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    references = References()
    references.feed(response.text)
    return references


def test_docs_load_every_file_from_splitlab_itself_without_a_token(app_client: TestClient) -> None:
    assert "authorization" not in app_client.headers  # no credentials: the docs are public
    references = docs_references(app_client)
    scripts = [url for url in references.urls if ".js" in url]
    assert len(scripts) >= 2, references.urls  # Swagger UI's bundle and the script starting it
    assert any("swagger-ui.css" in url for url in references.urls)
    for url in references.urls:
        # Same origin: a path, absolute or relative; never a scheme or a host ("//cdn...").
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("", ""), url
        response = app_client.get(urljoin("/api/v1/docs", url))
        assert response.status_code == 200, url
        suffix = re.search(r"\.\w+(?=$|\?)", url)
        assert suffix, url
        media_type = response.headers["content-type"].split(";")[0]
        assert media_type in CONTENT_TYPES[suffix.group()], (url, media_type)
        assert response.content, url


def test_docs_run_swagger_ui_5_from_a_script_file(app_client: TestClient) -> None:
    """Swagger UI 4 cannot render an OpenAPI 3.1 document; no inline script (for a CSP)."""
    references = docs_references(app_client)
    assert references.inline_scripts == 0
    bundle = next(url for url in references.urls if "swagger-ui-bundle.js" in url)
    version = re.search(rb'PACKAGE_VERSION:"(\d+)\.', app_client.get(bundle).content)
    assert version, "no version in Swagger UI's bundle"
    assert int(version.group(1)) >= 5
    assert app_client.get("/api/v1/openapi.json").json()["openapi"].startswith("3.1")
    init = next(url for url in references.urls if "init" in url)
    assert "SwaggerUIBundle(" in app_client.get(init).text


def test_versioned_docs_files_are_cached_for_a_year(app_client: TestClient) -> None:
    references = docs_references(app_client)
    versioned = [url for url in references.urls if "?v=" in url]
    assert len(versioned) >= 3, references.urls
    for url in versioned:
        cache = app_client.get(url).headers.get("cache-control", "")
        assert "max-age=31536000" in cache, url
        assert "immutable" in cache, url
    # The dashboard's own files (no version) keep revalidating.
    assert "cache-control" not in app_client.get("/static/style.css").headers
