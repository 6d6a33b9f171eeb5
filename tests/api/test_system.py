"""Health, Prometheus metrics, OpenAPI and the one error shape."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from splitlab.app import create_app
from splitlab.config import Settings
from tests.factories import experiment_body


def test_health_reports_database_version_and_uptime(app_client: TestClient) -> None:
    response = app_client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["database"]["backend"] in ("sqlite", "postgresql")
    assert body["version"]
    assert body["uptime_seconds"] >= 0


def test_metrics_count_requests_by_route_and_status(client: TestClient) -> None:
    client.get("/api/experiments/nope")
    client.post("/api/experiments/", json=experiment_body())
    text = client.get("/metrics").text
    assert (
        'splitlab_http_requests_total{method="GET",route="/api/experiments/{key}",status="404"} 1.0'
        in text
    )
    assert 'route="/api/experiments/",status="201"' in text
    assert "splitlab_http_request_duration_seconds_bucket" in text
    assert 'splitlab_experiments{status="draft"} 1.0' in text


def test_unknown_route_is_404_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found", "code": "not_found"}


def test_wrong_method_is_405_in_the_error_shape(client: TestClient) -> None:
    response = client.patch("/api/experiments/some-key")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_swagger_ui_is_served(app_client: TestClient) -> None:
    response = app_client.get("/api/v1/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_openapi_documents_every_route_and_its_errors(app_client: TestClient) -> None:
    spec = app_client.get("/api/v1/openapi.json").json()
    public = {"/health", "/metrics"}
    documented = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            documented += 1
            if path in public:
                continue
            codes = set(operation["responses"])
            assert {"401", "403", "422"} <= codes or {"401", "403", "400"} <= codes, (
                f"{method.upper()} {path} does not document its errors: {sorted(codes)}"
            )
            for code in codes - {"200", "201", "204", "304"}:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert "error" in schema.get("properties", {}) or "$ref" in schema
    assert documented >= 20


def test_building_the_app_touches_no_database(tmp_path: Path) -> None:
    """create_app only wires things up: it works before migrations ran (the lifespan does I/O)."""
    database = tmp_path / "never-migrated.db"
    app = create_app(Settings(database_url=f"sqlite:///{database}"))
    assert app.title == "Splitlab"
    assert not database.exists() or database.stat().st_size == 0


def test_openapi_names_one_error_schema_and_no_two_models_alike(app_client: TestClient) -> None:
    """A generated client gets one Error class, not one per route and status, and the events
    batch answer keeps its own model (two classes were both called BatchRead)."""
    spec = app_client.get("/api/v1/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert set(schemas["Error"]["required"]) == {"error", "code"}
    inline = [
        f"{method.upper()} {path} {code}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        for code, answer in operation["responses"].items()
        if code >= "400"
        and answer.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
        != "#/components/schemas/Error"
    ]
    assert inline == []
    assert {"EventBatchRead", "AssignmentBatchRead", "ExposureBatchRead"} <= set(schemas)
    assert "BatchRead" not in schemas
