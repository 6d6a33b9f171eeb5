"""Dashboard fixtures: sign-in through the real form, with any scope."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.conftest import ADMIN_SECRET


def issue_token(client: TestClient, scope: str) -> str:
    response = client.post(
        "/api/v1/api-tokens/",
        json={"name": f"{scope} person", "scope": scope},
        headers={"Authorization": f"Bearer {ADMIN_SECRET}"},
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def sign_in(client: TestClient, token: str, workspace: str = "") -> None:
    csrf = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"token": token, "workspace": workspace, "next": "/", "csrf": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)
