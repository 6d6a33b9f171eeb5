"""Demo data: a workspace with experiments and simulated traffic, so the dashboard means something.

Used by ``splitlab serve --demo`` on an empty workspace. Users are assigned by the real engine
(so the SDK payload agrees with the data) and their behaviour is simulated with a fixed seed:
one clear winner, one inconclusive test, one with a sample ratio mismatch, one with four variants.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from splitlab.assignment.config import build_config
from splitlab.assignment.service import decide
from splitlab.events import totals
from splitlab.experiments import service as experiments
from splitlab.experiments.schemas import ExperimentSettings, ExperimentSpec, VariantSpec
from splitlab.metrics import service as metrics
from splitlab.metrics.model import MetricKind, MetricRole
from splitlab.storage.base import utcnow
from splitlab.storage.models import Event, Experiment, Exposure, LifecycleEvent, Workspace

ACTOR = "demo"
DAYS = 14


@dataclass
class Behaviour:
    """Per variant: conversion probability and mean order value of converters."""

    conversion: dict[str, float]
    order_value: dict[str, float] = field(default_factory=dict)
    drop_share: dict[str, float] = field(default_factory=dict)


@dataclass
class Scenario:
    spec: ExperimentSpec
    users: int
    behaviour: Behaviour
    metrics: list[tuple[str, MetricKind, MetricRole, bool]]


def _variants(*rows: tuple[str, str, float]) -> list[VariantSpec]:
    return [
        VariantSpec(key=k, name=n, allocation=a, is_control=i == 0)
        for i, (k, n, a) in enumerate(rows)
    ]


SCENARIOS = [
    Scenario(
        ExperimentSpec(
            key="checkout-button-colour",
            name="Checkout button colour",
            hypothesis="A green checkout button increases purchases without more refunds",
            variants=_variants(("blue", "Blue (control)", 50), ("green", "Green", 50)),
            settings=ExperimentSettings(min_sample_size=1000),
        ),
        users=8000,
        behaviour=Behaviour({"blue": 0.100, "green": 0.128}, {"blue": 42.0, "green": 43.0}),
        metrics=[
            ("purchase", MetricKind.CONVERSION, MetricRole.PRIMARY, True),
            ("revenue", MetricKind.NUMERIC, MetricRole.SECONDARY, True),
            ("refund", MetricKind.CONVERSION, MetricRole.GUARDRAIL, False),
        ],
    ),
    Scenario(
        ExperimentSpec(
            key="pricing-page-copy",
            name="Pricing page copy",
            hypothesis="Plain-language plan names make more visitors pick a plan",
            variants=_variants(("current", "Current copy", 50), ("plain", "Plain language", 50)),
            # A small true effect, powered for a 10% lift: not significant yet, and the
            # recommendation says how much longer to run.
            settings=ExperimentSettings(minimum_detectable_effect=0.10),
        ),
        users=7000,
        behaviour=Behaviour({"current": 0.200, "plain": 0.206}, {"current": 20.0, "plain": 20.0}),
        metrics=[("plan_selected", MetricKind.CONVERSION, MetricRole.PRIMARY, True)],
    ),
    Scenario(
        ExperimentSpec(
            key="onboarding-checklist",
            name="Onboarding checklist",
            hypothesis="A checklist on first login increases activation",
            variants=_variants(("control", "No checklist", 50), ("checklist", "Checklist", 50)),
        ),
        users=5000,
        behaviour=Behaviour({"control": 0.30, "checklist": 0.34}, drop_share={"checklist": 0.12}),
        metrics=[("activated", MetricKind.CONVERSION, MetricRole.PRIMARY, True)],
    ),
    Scenario(
        ExperimentSpec(
            key="search-ranking",
            name="Search ranking",
            hypothesis="Semantic ranking makes more searches end in a click",
            variants=_variants(
                ("bm25", "BM25 (control)", 25),
                ("semantic", "Semantic", 25),
                ("hybrid", "Hybrid", 25),
                ("recency", "Recency boost", 25),
            ),
            settings=ExperimentSettings(min_sample_size=500),
        ),
        users=8000,
        behaviour=Behaviour(
            {"bm25": 0.40, "semantic": 0.47, "hybrid": 0.45, "recency": 0.39},
            {"bm25": 3.0, "semantic": 3.4, "hybrid": 3.3, "recency": 3.0},
        ),
        metrics=[
            ("search_click", MetricKind.CONVERSION, MetricRole.PRIMARY, True),
            ("clicks", MetricKind.COUNT, MetricRole.SECONDARY, True),
        ],
    ),
]


def _simulate(
    session: Session,
    workspace: Workspace,
    experiment: Experiment,
    scenario: Scenario,
    rng: random.Random,
) -> None:
    config = build_config(experiment)
    start = utcnow() - timedelta(days=DAYS)
    experiment.start_date = start
    # The history tells the same story as the data: drafted the day before, started 14 days ago.
    experiment.created_at = experiment.updated_at = start - timedelta(days=1)
    session.execute(
        update(LifecycleEvent)
        .where(LifecycleEvent.experiment_id == experiment.id, LifecycleEvent.action == "created")
        .values(created_at=start - timedelta(days=1))
    )
    session.execute(
        update(LifecycleEvent)
        .where(LifecycleEvent.experiment_id == experiment.id, LifecycleEvent.action == "started")
        .values(created_at=start, changes={"start_date": start.isoformat()})
    )
    exposures: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    by_key = {v.key: v.id for v in experiment.variants}
    behaviour = scenario.behaviour
    for i in range(scenario.users):
        user_id = f"{experiment.key[:3]}-user-{i}"
        decision = decide(config, user_id, {"id": user_id})
        if decision.index < 0:
            continue
        variant = config.variant_keys[decision.index]
        if rng.random() < behaviour.drop_share.get(variant, 0.0):
            continue  # lost exposures: what a broken logging path looks like (an SRM)
        # More users early on, as real launches go.
        exposed_at = start + timedelta(days=DAYS * rng.random() ** 1.3)
        exposures.append(
            {
                "workspace_id": workspace.id,
                "experiment_id": experiment.id,
                "variant_id": by_key[variant],
                "user_id": user_id,
                "bucket_version": 0,
                "is_override": False,
                "context": {},
                "exposed_at": exposed_at,
            }
        )
        engaged = rng.random()  # a user trait: also drives pre-exposure behaviour (CUPED)
        if engaged < 0.3:
            before = exposed_at - timedelta(days=rng.uniform(1, 13))
            events.append(
                _event(workspace, experiment, user_id, scenario.metrics[0][0], before, rng, 1.0)
            )
        rate = behaviour.conversion[variant] * (1.6 if engaged < 0.3 else 0.75)
        if rng.random() < rate:
            when = exposed_at + timedelta(hours=rng.uniform(0.1, 48))
            if when > utcnow():
                when = utcnow()
            name = scenario.metrics[0][0]
            value = rng.gauss(behaviour.order_value.get(variant, 1.0), 8.0)
            events.append(_event(workspace, experiment, user_id, name, when, rng, max(value, 1.0)))
            for metric, kind, _, _ in scenario.metrics[1:]:
                if kind is MetricKind.NUMERIC and metric == "revenue":
                    events.append(
                        _event(workspace, experiment, user_id, metric, when, rng, max(value, 1.0))
                    )
                elif kind is MetricKind.COUNT:
                    for _ in range(
                        max(1, int(rng.expovariate(1 / behaviour.order_value.get(variant, 1.0))))
                    ):
                        events.append(
                            _event(workspace, experiment, user_id, metric, when, rng, 1.0)
                        )
                elif metric == "refund" and rng.random() < 0.04:
                    events.append(_event(workspace, experiment, user_id, metric, when, rng, 1.0))
    for start_row in range(0, len(exposures), 2000):
        session.execute(insert(Exposure), exposures[start_row : start_row + 2000])
    for start_row in range(0, len(events), 2000):
        session.execute(insert(Event), events[start_row : start_row + 2000])
    # Loaded in bulk, so the per-user totals analysis reads are computed once at the end.
    totals.rebuild(session, experiment.id)


def _event(
    workspace: Workspace,
    experiment: Experiment,
    user_id: str,
    event_type: str,
    when: Any,
    rng: random.Random,
    value: float,
) -> dict[str, Any]:
    return {
        "workspace_id": workspace.id,
        "experiment_id": experiment.id,
        "event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "user_id": user_id,
        "event_type": event_type,
        "value": round(value, 2),
        "properties": {"source": "demo"},
        "timestamp": when,
        "received_at": when,
    }


def populate(session: Session, workspace: Workspace) -> bool:
    """Fill an empty workspace with the demo experiments; False (and nothing done) otherwise."""
    if session.scalar(select(func.count()).where(Experiment.workspace_id == workspace.id)):
        return False
    rng = random.Random(20261123)
    for scenario in SCENARIOS:
        experiment = experiments.create_experiment(session, workspace, scenario.spec, actor=ACTOR)
        for name, kind, role, higher in scenario.metrics:
            metrics.define_metric(
                session, experiment, name=name, kind=kind, role=role, higher_is_better=higher
            )
        experiment = experiments.start_experiment(session, workspace, experiment.id, actor=ACTOR)
        _simulate(session, workspace, experiment, scenario, rng)
    experiments.create_experiment(
        session,
        workspace,
        ExperimentSpec(
            key="free-shipping-banner",
            name="Free shipping banner",
            hypothesis="Announcing free shipping above $50 raises order value",
        ),
        actor=ACTOR,
    )
    session.flush()
    return True
