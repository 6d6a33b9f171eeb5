"""Prometheus labels carry each route's full template, and the analytics summary counts the
tokens that can act in the workspace (issue 17)."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_request_metrics_label_routes_by_their_full_template(client: TestClient) -> None:
    client.get("/api/v1/experiments/")
    client.get("/api/v1/experiments/12345")
    client.get("/api/experiments/")
    lines = [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("splitlab_http_requests_total{")
    ]
    routes = {line.split('route="', 1)[1].split('"', 1)[0] for line in lines}
    assert {
        "/api/v1/experiments/",
        "/api/v1/experiments/{experiment_id}",
        "/api/experiments/",
    } <= routes
    assert not {r for r in routes if r.startswith("/experiments")}


def test_the_summary_counts_unbound_tokens_too(client: TestClient) -> None:
    before = client.get("/api/v1/analytics/summary").json()["counts"]["api_tokens"]
    assert before >= 1  # the admin token making the call acts in every workspace
    assert client.post("/api/v1/api-tokens/", json={"name": "another"}).status_code == 201
    after = client.get("/api/v1/analytics/summary").json()["counts"]["api_tokens"]
    assert after == before + 1


def test_experiment_counts_are_shown_to_unbound_readers_only(app_client: TestClient) -> None:
    """The public scrape, an sdk key and a workspace-bound token never see business figures
    that span every workspace; an unbound reader does."""
    from tests.auth.conftest import bearer
    from tests.conftest import ADMIN_SECRET

    admin = bearer(ADMIN_SECRET)

    def scrape(headers: dict[str, str]) -> str:
        response = app_client.get("/metrics", headers=headers)
        assert response.status_code == 200
        return response.text

    def token(**body: str) -> str:
        made = app_client.post("/api/v1/api-tokens/", json={"name": "t", **body}, headers=admin)
        assert made.status_code == 201, made.text
        return str(made.json()["token"])

    assert "splitlab_experiments{" in scrape(admin)
    assert "splitlab_experiments{" in scrape(bearer(token(scope="readonly")))
    for headers in (
        {},
        bearer(token(scope="sdk")),
        bearer(token(scope="admin", workspace="default")),
        bearer("slk_" + "x" * 43),
    ):
        text = scrape(headers)
        assert "splitlab_experiments{" not in text
        assert "splitlab_http_requests_total" in text


def test_metrics_answer_without_the_database(client: TestClient) -> None:
    """The experiment counts read the database; when it fails, the in-memory metrics (what an
    operator needs most then) are served all the same, never a 500."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.registry import Collector

    class Broken(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            raise ConnectionError("database unreachable")

    broken = CollectorRegistry()
    broken.register(Broken())
    client.app.state.metrics.business = broken  # type: ignore[attr-defined]
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "splitlab_http_requests_total" in response.text
    assert "splitlab_experiments{" not in response.text


def test_public_metrics_answer_when_a_token_cannot_be_looked_up(client: TestClient) -> None:
    """With the database down, a token not in the cache fails to resolve: the public scrape
    still answers (it was a 503 for any scrape that carried a token)."""
    from sqlalchemy.exc import OperationalError

    async def unreachable(_: object) -> object:
        raise OperationalError("SELECT 1", None, ConnectionError("database unreachable"))

    client.app.state.plane.principal = unreachable  # type: ignore[attr-defined]
    response = client.get("/metrics", headers={"Authorization": "Bearer slk_" + "y" * 43})
    assert response.status_code == 200
    assert "splitlab_http_requests_total" in response.text
