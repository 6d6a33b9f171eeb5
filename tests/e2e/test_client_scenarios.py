"""Seed 001's three testing scenarios, run through ``splitlab.client`` against a real server."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from splitlab.client import AsyncSplitlab, Conflict, NotFound, Splitlab, ValidationError
from tests.e2e.conftest import ADMIN, Server

pytestmark = pytest.mark.e2e

CHECKOUT_VARIANTS = [
    {
        "key": "control",
        "name": "Blue Button (Control)",
        "allocation": 50,
        "is_control": True,
        "config": {"button_color": "blue", "button_text": "Checkout Now"},
    },
    {
        "key": "treatment",
        "name": "Green Button (Treatment)",
        "allocation": 50,
        "is_control": False,
        "config": {"button_color": "green", "button_text": "Checkout Now"},
    },
]
TEST_USER = {
    "user_id": "test-user-123",
    "email": "testuser@example.com",
    "name": "Test User",
    "properties": {
        "age": 28,
        "location": "San Francisco",
        "plan": "premium",
        "signup_date": "2024-09-29",
    },
}


@pytest.fixture
def splitlab(admin_server: Server) -> Iterator[Splitlab]:
    with Splitlab(admin_server.url, ADMIN) as client:
        yield client


def test_scenario_1_complete_ab_flow(splitlab: Splitlab) -> None:
    experiment = splitlab.create_experiment(
        "checkout-button-test",
        "Checkout Button Color Test",
        CHECKOUT_VARIANTS,
        description="Testing if green checkout button increases conversions",
    )
    assert experiment.status == "draft"
    assert experiment.control.key == "control"
    assert splitlab.start_experiment(experiment.key).status == "running"

    user = splitlab.create_user(
        TEST_USER["user_id"],
        email=TEST_USER["email"],
        name=TEST_USER["name"],
        properties=TEST_USER["properties"],
    )
    assert user.properties["plan"] == "premium"

    assignment = splitlab.assign(experiment.id, user.user_id)
    assert assignment.in_experiment
    assert assignment.variant_key in {"control", "treatment"}
    expected_colour = "blue" if assignment.variant_key == "control" else "green"
    assert assignment.variant_config["button_color"] == expected_colour
    # sticky: asking again, by key or id, gives the same variant
    assert splitlab.get_assignment(experiment.key, user.user_id).variant_key == (
        assignment.variant_key
    )

    page_view = splitlab.track(
        user.user_id,
        "page_view",
        experiment=experiment.id,
        properties={"page": "/checkout", "device": "mobile", "session_id": "sess-456"},
    )
    click = splitlab.track(
        user.user_id,
        "button_click",
        experiment=experiment.id,
        properties={"button_id": "checkout-btn", "click_position": {"x": 150, "y": 300}},
    )
    conversion = splitlab.track(
        user.user_id,
        "conversion",
        experiment=experiment.id,
        properties={"page": "/checkout", "value": 99.99, "currency": "USD"},
    )
    assert conversion.value == pytest.approx(99.99)
    assert click.properties["click_position"] == {"x": 150, "y": 300}
    assert len({page_view.event_id, click.event_id, conversion.event_id}) == 3

    (report,) = splitlab.reports(experiment.key)
    assert report.variant_key == assignment.variant_key
    assert (report.exposures, report.events, report.conversions) == (1, 3, 1)
    assert report.value_sum == pytest.approx(99.99)

    summary = splitlab.summary()
    assert summary["counts"]["events"] >= 3
    history = [e.action for e in splitlab.experiment_history(experiment.key)]
    assert history[:2] == ["created", "started"]


def test_scenario_2_multi_variant_test(splitlab: Splitlab) -> None:
    experiment = splitlab.create_experiment(
        "pricing-page-3way",
        "Pricing page, three layouts",
        [
            {"key": "control", "allocation": 34, "is_control": True},
            {"key": "compact", "allocation": 33},
            {"key": "detailed", "allocation": 33},
        ],
        config={"min_sample_size": 50},
    )
    splitlab.define_metric(experiment.key, "conversion", "conversion")
    splitlab.define_metric(experiment.key, "revenue", "numeric", event_type="conversion")
    splitlab.start_experiment(experiment.key)

    plans = ("free", "pro", "enterprise")
    users = [f"mv-user-{i}" for i in range(600)]
    for i, user_id in enumerate(users[:30]):  # a few registered users with properties
        splitlab.create_user(user_id, properties={"plan": plans[i % 3], "country": "DE"})
    assignments = splitlab.assign_batch(experiment.key, users)
    assert {a.user_id for a in assignments} == set(users)
    by_variant = Counter(a.variant_key for a in assignments)
    assert set(by_variant) == {"control", "compact", "detailed"}

    events: list[dict[str, object]] = []
    conversions: Counter[str] = Counter()
    revenue: Counter[str] = Counter()
    for i, a in enumerate(assignments):
        events.append(
            {"user_id": a.user_id, "event_type": "page_view", "experiment_id": "pricing-page-3way"}
        )
        rate = {"control": 10, "compact": 7, "detailed": 5}[a.variant_key]
        if i % rate == 0:
            value = float(10 + i % 90)
            events.append(
                {
                    "user_id": a.user_id,
                    "event_type": "conversion",
                    "experiment_id": experiment.id,
                    "properties": {"value": value, "plan": plans[i % 3]},
                }
            )
            conversions[a.variant_key] += 1
            revenue[a.variant_key] += value
    outcome = splitlab.track_batch(events)
    assert (outcome.accepted, outcome.duplicates, outcome.rejected) == (len(events), 0, [])

    reports = {r.variant_key: r for r in splitlab.reports(experiment.key)}
    assert {k: r.exposures for k, r in reports.items()} == dict(by_variant)
    assert {k: r.conversions for k, r in reports.items()} == dict(conversions)
    for key, total in revenue.items():
        assert reports[key].value_sum == pytest.approx(total)

    results = splitlab.results(experiment.key)
    assert results.total_users == len(users)
    assert results.control_variant == "control"
    metric = next(m for m in results.metrics if m.name == "conversion")
    rates = {v.variant_key: v.mean for v in metric.variants}
    for key, count in by_variant.items():
        assert rates[key] == pytest.approx(conversions[key] / count)
    assert {c.variant_key for c in metric.comparisons} == {"compact", "detailed"}
    for c in metric.comparisons:
        assert c.p_value is not None
        assert c.p_value_adjusted is not None
        assert c.p_value_adjusted >= c.p_value


@pytest.fixture
def fresh(serve: Callable[..., Server]) -> Iterator[Splitlab]:
    """A client of a server of its own, so event listings hold only this test's events."""
    with Splitlab(serve(env={"SPLITLAB_ADMIN_TOKEN": ADMIN}).url, ADMIN) as client:
        yield client


def test_scenario_3_event_tracking_across_a_journey(fresh: Splitlab) -> None:
    splitlab = fresh
    experiment = splitlab.create_experiment("journey", "Journey tracking", ["control", "treatment"])
    splitlab.start_experiment(experiment.key)
    user = "journey-user"
    splitlab.assign(experiment.key, user, context={"page": "/home", "user_agent": "Mozilla/5.0"})

    start = datetime.now(UTC) - timedelta(hours=2)
    journey = [  # two sessions over several pages, rich nested properties
        ("page_view", {"page": "/home", "session_id": "s1", "referrer": "https://google.com"}),
        ("click", {"page": "/home", "session_id": "s1", "target": {"id": "cta", "x": 10, "y": 20}}),
        ("page_view", {"page": "/pricing", "session_id": "s1"}),
        ("page_view", {"page": "/home", "session_id": "s2", "device": "mobile"}),
        (
            "add_to_cart",
            {"page": "/product/7", "session_id": "s2", "items": [{"sku": "p-7", "qty": 2}]},
        ),
        ("conversion", {"page": "/checkout", "session_id": "s2", "value": 42.5, "currency": "EUR"}),
    ]
    with splitlab.batcher(max_batch=4, flush_interval=0.1) as batcher:
        sent = [
            batcher.track(
                user,
                event_type,
                experiment=experiment.key,
                properties=properties,
                timestamp=start + timedelta(minutes=10 * i),
            )
            for i, (event_type, properties) in enumerate(journey)
        ]
    assert batcher.stats.accepted == len(journey)
    assert batcher.pending == 0

    page = splitlab.events(limit=100, offset=0)
    assert page.total == len(journey)
    mine = sorted(page.events, key=lambda e: e.timestamp)
    assert [e.event_id for e in mine] == sent
    assert [e.event_type for e in mine] == [t for t, _ in journey]
    assert [e.properties for e in mine] == [p for _, p in journey]
    assert mine[0].timestamp == start
    assert page.by_type["page_view"] >= 3
    assert mine[-1].value == pytest.approx(42.5)

    # re-sending the whole journey (as a retrying client would) stores nothing twice
    again = splitlab.track_batch(
        [{"event_id": e.event_id, "user_id": user, "event_type": e.event_type} for e in mine]
    )
    assert (again.accepted, again.duplicates) == (0, len(journey))
    assert splitlab.events(limit=1, event_type="add_to_cart").total == 1


def test_errors_carry_the_servers_error_code_and_status(splitlab: Splitlab) -> None:
    splitlab.create_experiment("errors-demo", "Errors demo", ["a", "b"])
    with pytest.raises(Conflict) as conflict:
        splitlab.create_experiment("errors-demo", "Errors demo again", ["a", "b"])
    assert (conflict.value.status, conflict.value.code) == (409, "duplicate_experiment")
    with pytest.raises(NotFound) as missing:
        splitlab.results("no-such-experiment")
    assert missing.value.status == 404
    assert "not found" in missing.value.error.lower()
    with pytest.raises(ValidationError) as invalid:
        splitlab.create_experiment(
            "bad-split",
            "Bad split",
            [{"key": "a", "allocation": 70}, {"key": "b", "allocation": 20}],
        )
    assert invalid.value.status == 422
    assert invalid.value.details


def test_async_client_runs_the_ab_flow(admin_server: Server) -> None:
    async def flow() -> None:
        async with AsyncSplitlab(admin_server.url, ADMIN) as client:
            experiment = await client.create_experiment(
                "async-flow", "Async flow", CHECKOUT_VARIANTS
            )
            await client.define_metric(experiment.key, "conversion", "conversion")
            await client.start_experiment(experiment.key)
            users = [f"async-{i}" for i in range(200)]
            assignments = await client.assign_batch(experiment.key, users)
            evaluation = await client.evaluate(users[0])
            assert evaluation["async-flow"].variant_key == assignments[0].variant_key
            async with client.batcher(max_batch=64, flush_interval=0.05) as batcher:
                for a in assignments[::2]:
                    await batcher.track(a.user_id, "conversion", experiment=experiment.key)
            assert batcher.stats.accepted == 100
            async with await client.local_evaluator() as local:
                for a in assignments:
                    assert local.assign(experiment.key, a.user_id).variant_key == a.variant_key
            results = await client.results(experiment.key)
            assert results.total_users == 200
            metric = results.metrics[0]
            assert sum(v.users for v in metric.variants) == 200
            listed = [e.key async for e in client.iter_experiments(status="running")]
            assert "async-flow" in listed

    asyncio.run(flow())


def test_user_ids_with_slashes_and_unicode_round_trip(splitlab: Splitlab) -> None:
    splitlab.create_experiment("odd-ids", "Odd ids", ["control", "treatment"])
    splitlab.start_experiment("odd-ids")
    for user_id in ("team/alice", "a b?c#d", "é/😀"):
        splitlab.create_user(user_id, properties={"plan": "pro"})
        assert splitlab.get_user(user_id).user_id == user_id
        assert splitlab.update_user(user_id, name="N").name == "N"
        assigned = splitlab.assign("odd-ids", user_id)
        assert splitlab.get_assignment("odd-ids", user_id).variant_key == assigned.variant_key
