"""Bad requests to the experiment, token and user routes of all three dialects, and what each must
answer: a 4xx in the one error shape, and not a single row changed.

Shared by the ASGI test (SQLite and PostgreSQL) and the end-to-end test (a real ``splitlab serve``).
Paths may name the seeded objects: ``{running_id}``, ``{done_id}``, ``{legacy_id}``, ``{token_id}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from splitlab.storage.base import Base
from splitlab.storage.engine import Database

HUGE = "99999999999999999999999"  # beyond every backend's integers
SUPERSCRIPT_TWO = "%C2%B2"  # "²": str.isdigit() says yes, int() says no


@dataclass(frozen=True)
class Raw:
    """A body sent as this exact text: not JSON at all, or what only Python calls JSON (NaN)."""

    text: str


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@dataclass(frozen=True)
class Bad:
    name: str
    method: str
    path: str
    status: int
    body: Any = None

    def send(self, client: httpx.Client, ids: dict[str, int]) -> httpx.Response:
        path = self.path.format(**ids)
        if isinstance(self.body, Raw):
            headers = {"Content-Type": "application/json"}
            return client.request(self.method, path, content=self.body.text, headers=headers)
        if self.body is None:
            return client.request(self.method, path)
        return client.request(self.method, path, json=self.body)


def _variants(*pairs: tuple[str, Any], field: str = "allocation") -> list[dict[str, Any]]:
    return [{"key": key, field: allocation} for key, allocation in pairs]


E = "/api/experiments"
V1 = "/api/v1/experiments"
T = "/api/v1/api-tokens"
U = "/api/v1/users"

SEED_000 = [
    Bad(
        "allocations sum to 90",
        "POST",
        f"{E}/",
        422,
        {"key": "a", "name": "A", "variants": _variants(("c", 50), ("t", 40))},
    ),
    Bad(
        "one variant",
        "POST",
        f"{E}/",
        422,
        {"key": "a", "name": "A", "variants": _variants(("c", 100))},
    ),
    Bad(
        "duplicate variant keys",
        "POST",
        f"{E}/",
        422,
        {"key": "a", "name": "A", "variants": _variants(("c", 50), ("c", 50))},
    ),
    Bad(
        "two controls",
        "POST",
        f"{E}/",
        422,
        {
            "key": "a",
            "name": "A",
            "variants": [
                {"key": "c", "allocation": 50, "is_control": True},
                {"key": "t", "allocation": 50, "is_control": True},
            ],
        },
    ),
    Bad(
        "allocation is a string",
        "POST",
        f"{E}/",
        422,
        {"key": "a", "name": "A", "variants": _variants(("c", "fifty"), ("t", 50))},
    ),
    Bad(
        "seed 001's allocation_pct",
        "POST",
        f"{E}/",
        422,
        {
            "key": "a",
            "name": "A",
            "variants": _variants(("c", 90), ("t", 10), field="allocation_pct"),
        },
    ),
    Bad(
        "variant key with a space",
        "POST",
        f"{E}/",
        422,
        {"key": "a", "name": "A", "variants": _variants(("c d", 50), ("t", 50))},
    ),
    Bad("variants not a list", "POST", f"{E}/", 422, {"key": "a", "name": "A", "variants": {}}),
    Bad("name is a number", "POST", f"{E}/", 422, {"key": "a", "name": 5}),
    Bad("name missing", "POST", f"{E}/", 422, {"key": "a"}),
    # Seed 000 answers malformed input with 422, undecodable JSON included (invalid_json).
    Bad("body is an array", "POST", f"{E}/", 422, [1, 2]),
    Bad("body is not JSON", "POST", f"{E}/", 422, Raw("{bad")),
    Bad(
        "NaN allocation",
        "POST",
        f"{E}/",
        422,
        Raw(
            '{"key": "a", "name": "A", "variants": [{"key": "a", "allocation": NaN},'
            ' {"key": "b", "allocation": 50}]}'
        ),
    ),
    Bad(
        "Infinity in targeting",
        "POST",
        f"{E}/",
        422,
        Raw('{"key": "a", "name": "A", "targeting": {"percentage": Infinity}}'),
    ),
    Bad(
        "variants nested 900 deep",
        "POST",
        f"{E}/",
        422,
        Raw(f'{{"key": "a", "name": "A", "variants": {_deep(900)}}}'),
    ),
    Bad("duplicate key", "POST", f"{E}/", 409, {"key": "draft-exp", "name": "Other"}),
    Bad("duplicate name", "POST", f"{E}/", 409, {"key": "other", "name": "Draft exp"}),
    Bad("reserved key", "POST", f"{E}/", 422, {"key": "stats", "name": "Stats"}),
    Bad("client sets the id", "POST", f"{E}/", 422, {"key": "a", "name": "A", "id": 99}),
    Bad(
        "naive start date",
        "POST",
        f"{E}/",
        422,
        {"key": "a", "name": "A", "start_date": "2099-01-01T00:00:00"},
    ),
    Bad(
        "date without time or zone",
        "POST",
        f"{E}/",
        422,
        {"key": "a", "name": "A", "start_date": "2099-01-01"},
    ),
    Bad(
        "end before start",
        "POST",
        f"{E}/",
        422,
        {
            "key": "a",
            "name": "A",
            "start_date": "2099-02-01T00:00:00Z",
            "end_date": "2099-01-01T00:00:00Z",
        },
    ),
    Bad("page_size above 100", "GET", f"{E}/?page_size=1000", 422),
    Bad("page 0", "GET", f"{E}/?page=0", 422),
    Bad("page beyond every integer", "GET", f"{E}/?page={HUGE}", 422),
    Bad("page is a superscript digit", "GET", f"{E}/?page={SUPERSCRIPT_TWO}", 422),
    Bad("unknown status filter", "GET", f"{E}/?status=foo", 422),
    Bad("unknown workspace", "GET", f"{E}/?workspace=nope", 404),
    Bad("unknown key", "GET", f"{E}/nope", 404),
    Bad("id beyond every integer", "GET", f"{E}/{HUGE}", 404),
    Bad("superscript id", "GET", f"{E}/{SUPERSCRIPT_TWO}", 404),
    Bad("start a completed experiment", "POST", f"{E}/done-exp/start", 409),
    Bad("pause a draft", "POST", f"{E}/draft-exp/pause", 409),
    Bad("conclude a draft", "POST", f"{E}/draft-exp/conclude", 409, {}),
    Bad(
        "conclude with an unknown winner",
        "POST",
        f"{E}/running-exp/conclude",
        422,
        {"winning_variant": "nope"},
    ),
    Bad("conclude with an array", "POST", f"{E}/running-exp/conclude", 422, [1]),
    Bad("cancel a completed experiment", "DELETE", f"{E}/done-exp", 409),
    Bad(
        "change variants while running",
        "PUT",
        f"{E}/running-exp",
        409,
        {"variants": _variants(("control", 40), ("treatment", 60))},
    ),
    Bad("change the key while running", "PUT", f"{E}/running-exp", 409, {"key": "new-key"}),
    Bad("null name", "PUT", f"{E}/draft-exp", 422, {"name": None}),
    Bad("rename onto another's name", "PUT", f"{E}/draft-exp", 409, {"name": "Running exp"}),
    Bad("edit the status by PUT", "PUT", f"{E}/draft-exp", 422, {"status": "completed"}),
    Bad(
        "naive end date on update",
        "PUT",
        f"{E}/draft-exp",
        422,
        {"end_date": "2099-01-01T00:00:00"},
    ),
    Bad(
        "end before start on update",
        "PUT",
        f"{E}/running-exp",
        422,
        {"end_date": "2000-01-01T00:00:00Z"},
    ),
    Bad("confidence level 2", "PUT", f"{E}/draft-exp", 422, {"config": {"confidence_level": 2}}),
    Bad(
        "targeting percentage 500", "PUT", f"{E}/draft-exp", 422, {"targeting": {"percentage": 500}}
    ),
    Bad("update an unknown experiment", "PUT", f"{E}/nope", 404, {"name": "x"}),
]

SEED_003 = [
    Bad("empty workspaceId", "GET", f"{E}?workspaceId=", 400),
    Bad("unknown status word", "GET", f"{E}?workspaceId=workspace_123&status=done", 400),
    Bad("page 0", "GET", f"{E}?workspaceId=workspace_123&page=0", 400),
    Bad("page beyond every integer", "GET", f"{E}?workspaceId=workspace_123&page={HUGE}", 400),
    Bad("superscript page", "GET", f"{E}?workspaceId=workspace_123&page={SUPERSCRIPT_TWO}", 400),
    Bad("limit above 100", "GET", f"{E}?workspaceId=workspace_123&limit=100000", 400),
    Bad("unknown sortBy", "GET", f"{E}?workspaceId=workspace_123&sortBy=password", 400),
    Bad("unknown sortOrder", "GET", f"{E}?workspaceId=workspace_123&sortOrder=up", 400),
    Bad("create without a name", "POST", E, 400, {"workspaceId": "workspace_123"}),
    Bad("name is a number", "POST", E, 400, {"workspaceId": "workspace_123", "name": 5}),
    Bad("workspaceId is a number", "POST", E, 400, {"workspaceId": 123, "name": "n"}),
    Bad("workspaceId with a slash", "POST", E, 400, {"workspaceId": "a b/c", "name": "n"}),
    Bad(
        "unknown status",
        "POST",
        E,
        400,
        {"workspaceId": "workspace_123", "name": "n", "status": "done"},
    ),
    Bad(
        "created completed",
        "POST",
        E,
        400,
        {"workspaceId": "workspace_123", "name": "n", "status": "completed"},
    ),
    Bad(
        "client sets createdAt",
        "POST",
        E,
        400,
        {"workspaceId": "workspace_123", "name": "n", "createdAt": "2020-01-01T00:00:00Z"},
    ),
    Bad(
        "-Infinity in metrics",
        "POST",
        E,
        400,
        Raw('{"workspaceId": "workspace_123", "name": "n", "metrics": {"x": -Infinity}}'),
    ),
    Bad(
        "naive startDate",
        "POST",
        E,
        400,
        {"workspaceId": "workspace_123", "name": "n", "startDate": "2099-01-01T00:00:00"},
    ),
    Bad(
        "endDate before startDate",
        "POST",
        E,
        400,
        {
            "workspaceId": "workspace_new",
            "name": "n",
            "startDate": "2025-08-20T00:00:00Z",
            "endDate": "2025-08-10T00:00:00Z",
        },
    ),
    Bad("duplicate name", "POST", E, 409, {"workspaceId": "workspace_123", "name": "Legacy exp"}),
    Bad("patch without id", "PATCH", E, 400, {"status": "active"}),
    Bad("patch without status", "PATCH", E, 400, {"id": "{legacy_id}"}),
    Bad("patch with an unknown status", "PATCH", E, 400, {"id": "{legacy_id}", "status": "done"}),
    Bad("id true is not experiment 1", "PATCH", E, 400, {"id": True, "status": "active"}),
    Bad("fractional id", "PATCH", E, 400, {"id": 1.5, "status": "active"}),
    Bad(
        "preserveDates not a boolean",
        "PATCH",
        E,
        400,
        {"id": "{legacy_id}", "status": "active", "preserveDates": "maybe"},
    ),
    Bad("patch an array", "PATCH", E, 400, []),
    Bad(
        "reactivate a completed experiment",
        "PATCH",
        E,
        409,
        {"id": "{done_id}", "status": "active"},
    ),
    Bad("the seed's placeholder id", "PATCH", E, 404, {"id": "experiment_789", "status": "active"}),
    Bad("id beyond every integer", "PATCH", E, 404, {"id": int(HUGE), "status": "active"}),
    Bad("superscript id", "PATCH", E, 404, {"id": "²", "status": "active"}),
]

SEED_001 = [
    Bad(
        "allocation_pct sum to 120",
        "POST",
        f"{V1}/",
        422,
        {
            "key": "a",
            "name": "A",
            "variants": _variants(("a", 60), ("b", 60), field="allocation_pct"),
        },
    ),
    Bad(
        "seed 000's allocation",
        "POST",
        f"{V1}/",
        422,
        {"key": "a", "name": "A", "variants": _variants(("a", 90), ("b", 10))},
    ),
    Bad(
        "variant key with a space",
        "POST",
        f"{V1}/",
        422,
        {
            "key": "a",
            "name": "A",
            "variants": _variants(("a b", 50), ("b", 50), field="allocation_pct"),
        },
    ),
    Bad("unknown status word", "POST", f"{V1}/", 422, {"key": "a", "name": "A", "status": "FOO"}),
    Bad(
        "created completed", "POST", f"{V1}/", 422, {"key": "a", "name": "A", "status": "COMPLETED"}
    ),
    Bad(
        "NaN in variant config",
        "POST",
        f"{V1}/",
        422,
        Raw(
            '{"key": "a", "name": "A", "variants": [{"key": "a", "config": {"x": NaN}}, {"key": "b"}]}'
        ),
    ),
    Bad(
        "naive end date",
        "POST",
        f"{V1}/",
        422,
        {"key": "a", "name": "A", "end_date": "2099-01-01T00:00:00"},
    ),
    Bad(
        "rename and an illegal status together",
        "PUT",
        f"{V1}/{{running_id}}",
        409,
        {"name": "Must not stick", "status": "DRAFT"},
    ),
    Bad(
        "rename and an unknown status together",
        "PUT",
        f"{V1}/{{running_id}}",
        422,
        {"name": "Must not stick", "status": "FOO"},
    ),
    Bad("limit above 1000", "GET", f"{V1}/?limit=100000", 422),
    Bad("negative skip", "GET", f"{V1}/?skip=-1", 422),
    Bad("skip beyond every integer", "GET", f"{V1}/?skip={HUGE}", 422),
    Bad("id beyond every integer", "GET", f"{V1}/{HUGE}", 404),
    Bad("unknown id", "GET", f"{V1}/424242", 404),
    Bad("delete an unknown id", "DELETE", f"{V1}/424242", 404),
]

TOKENS = [
    Bad("unknown scope", "POST", f"{T}/", 422, {"name": "x", "scope": "root"}),
    Bad("no name", "POST", f"{T}/", 422, {"scope": "admin"}),
    Bad("naive expiry", "POST", f"{T}/", 422, {"name": "x", "expires_at": "2099-01-01T00:00:00"}),
    Bad(
        "expiry in the past",
        "POST",
        f"{T}/",
        422,
        {"name": "x", "expires_at": "2000-01-01T00:00:00Z"},
    ),
    Bad(
        "two expiries",
        "POST",
        f"{T}/",
        422,
        {"name": "x", "expires_at": "2099-01-01T00:00:00Z", "expires_in_days": 3},
    ),
    Bad("zero days", "POST", f"{T}/", 422, {"name": "x", "expires_in_days": 0}),
    Bad("unknown workspace", "POST", f"{T}/", 404, {"name": "x", "workspace": "nope"}),
    Bad("client picks the secret", "POST", f"{T}/", 422, {"name": "x", "token": "mine"}),
    Bad("change the scope", "PUT", f"{T}/{{token_id}}", 422, {"scope": "readonly"}),
    Bad("null name", "PUT", f"{T}/{{token_id}}", 422, {"name": None}),
    Bad("null is_active", "PUT", f"{T}/{{token_id}}", 422, {"is_active": None}),
    Bad("is_active not a boolean", "PUT", f"{T}/{{token_id}}", 422, {"is_active": "nah"}),
    Bad("id not an integer", "GET", f"{T}/abc", 422),
    Bad("id beyond every integer", "GET", f"{T}/{HUGE}", 404),
    Bad("delete an unknown token", "DELETE", f"{T}/424242", 404),
    Bad("skip beyond every integer", "GET", f"{T}/?skip={HUGE}", 422),
]

USERS = [
    Bad("duplicate user_id", "POST", f"{U}/", 409, {"user_id": "u-1"}),
    Bad("no user_id", "POST", f"{U}/", 422, {"email": "a@example.com"}),
    Bad("user_id is a number", "POST", f"{U}/", 422, {"user_id": 123}),
    Bad("bad email", "POST", f"{U}/", 422, {"user_id": "u-2", "email": "nope"}),
    Bad("properties not an object", "POST", f"{U}/", 422, {"user_id": "u-2", "properties": [1]}),
    Bad(
        "NaN in properties",
        "POST",
        f"{U}/",
        422,
        Raw('{"user_id": "u-2", "properties": {"age": NaN}}'),
    ),
    Bad(
        "properties nested 40 deep",
        "POST",
        f"{U}/",
        422,
        Raw(f'{{"user_id": "u-2", "properties": {{"a": {_deep(40)}}}}}'),
    ),
    Bad(
        "properties nested 900 deep",
        "PUT",
        f"{U}/u-1",
        422,
        Raw(f'{{"properties": {{"a": {_deep(900)}}}}}'),
    ),
    Bad("client sets the id", "POST", f"{U}/", 422, {"user_id": "u-2", "id": 9}),
    Bad("change the user_id", "PUT", f"{U}/u-1", 422, {"user_id": "other"}),
    Bad("update an unknown user", "PUT", f"{U}/nobody", 404, {"name": "x"}),
    Bad("unknown user", "GET", f"{U}/nobody", 404),
    Bad("skip beyond every integer", "GET", f"{U}/?skip={HUGE}", 422),
]

CASES = [
    *[("seed 000", c) for c in SEED_000],
    *[("seed 003", c) for c in SEED_003],
    *[("seed 001", c) for c in SEED_001],
    *[("tokens", c) for c in TOKENS],
    *[("users", c) for c in USERS],
]
CASE_IDS = [f"{group}: {case.name}" for group, case in CASES]


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 300, response.text
    body: dict[str, Any] = response.json()
    return body


def seed(client: httpx.Client) -> dict[str, int]:
    """A draft, a running and a completed experiment, a seed-003 one, a user; their ids."""
    variants = [{"key": "control", "allocation": 50}, {"key": "treatment", "allocation": 50}]
    for key, name in (("draft-exp", "Draft exp"), ("running-exp", "Running exp")):
        _ok(client.post(f"{E}/", json={"key": key, "name": name, "variants": variants}))
    _ok(client.post(f"{E}/", json={"key": "done-exp", "name": "Done exp"}))
    running = _ok(client.post(f"{E}/running-exp/start"))
    _ok(client.post(f"{E}/done-exp/start"))
    done = _ok(client.post(f"{E}/done-exp/conclude", json={"winning_variant": "treatment"}))
    legacy = _ok(client.post(E, json={"name": "Legacy exp", "workspaceId": "workspace_123"}))
    _ok(client.post(f"{U}/", json={"user_id": "u-1", "name": "User one"}))
    tokens = client.get(f"{T}/")
    assert tokens.status_code == 200, tokens.text
    return {
        "running_id": running["id"],
        "done_id": done["id"],
        "legacy_id": int(legacy["id"]),
        "token_id": tokens.json()[0]["id"],
    }


def resolve(case: Bad, ids: dict[str, int]) -> Bad:
    """The case with ``{name}`` placeholders in its body replaced by the seeded ids."""
    if not isinstance(case.body, dict):
        return case
    text = json.dumps(case.body)
    for name, value in ids.items():
        text = text.replace(f'"{{{name}}}"', json.dumps(str(value)))
    return Bad(case.name, case.method, case.path, case.status, json.loads(text))


#: Columns that a rejected request may still touch: using a token records when it was used.
VOLATILE = {("api_tokens", "last_used_at")}


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but the volatile columns), to prove nothing was written."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    with db.session_scope() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if (table.name, c.name) not in VOLATILE]
            rows = session.execute(select(*columns).order_by(*table.primary_key.columns))
            state[table.name] = [tuple(row) for row in rows]
    return state


def check(response: httpx.Response, case: Bad) -> None:
    assert response.status_code == case.status, (case.name, response.status_code, response.text)
    body = response.json()
    assert isinstance(body.get("error"), str), body
    assert isinstance(body.get("code"), str), body
    assert set(body) <= {"error", "code", "details"}, body
