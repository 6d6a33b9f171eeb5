"""Local evaluation: assign users in process from the server's GrowthBook SDK payload.

The payload carries each running experiment's exact seed, hash version, weights, coverage,
namespace and targeting condition, and :func:`~splitlab.assignment.decision.decide_rule` is the
same function the server decides with — so a local answer equals the server's first assignment of
that user with the same attributes. Two things only the server knows: stored user properties (pass
the attributes you target on) and stickiness (a user the server assigned before a later coverage
or targeting change keeps that variant there). Local answers record no exposure: send them with
``track`` events, or assign through the server where exposures must be counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from splitlab.assignment.conditions import Predicate, compile_condition
from splitlab.assignment.decision import Reason, decide_rule
from splitlab.assignment.hashing import BucketPlan
from splitlab.client.errors import SplitlabError

if TYPE_CHECKING:
    from splitlab.client.aio import AsyncSplitlab
    from splitlab.client.sync import Splitlab


@dataclass(frozen=True, slots=True)
class LocalAssignment:
    experiment_key: str
    variant_key: str | None = None
    in_experiment: bool = False
    reason: str = Reason.NOT_RUNNING.value


@dataclass(frozen=True, slots=True)
class _Rule:
    key: str
    control: str
    hash_attribute: str
    variations: tuple[str, ...]
    plan: BucketPlan
    matches: Predicate | None

    @classmethod
    def of(cls, feature_key: str, feature: Mapping[str, Any]) -> _Rule:
        (rule,) = [r for r in feature["rules"] if "variations" in r]
        namespace = rule.get("namespace")
        condition = rule.get("condition")
        plan = BucketPlan(
            seed=str(rule.get("seed") or rule.get("key") or feature_key),
            hash_version=int(rule.get("hashVersion", 1)),
            weights=tuple(float(w) for w in rule["weights"]),
            coverage=float(rule.get("coverage", 1.0)),
            namespace=(str(namespace[0]), float(namespace[1]), float(namespace[2]))
            if namespace
            else None,
        )
        return cls(
            key=feature_key,
            control=str(feature["defaultValue"]),
            hash_attribute=str(rule.get("hashAttribute", "id")),
            variations=tuple(str(v) for v in rule["variations"]),
            plan=plan,
            matches=compile_condition(condition) if condition is not None else None,
        )

    def evaluate(self, user_id: str, attributes: Mapping[str, Any]) -> LocalAssignment:
        attrs = {**attributes, self.hash_attribute: user_id}
        decision = decide_rule(self.plan, self.matches, user_id, attrs)
        if decision.in_experiment:
            return LocalAssignment(self.key, self.variations[decision.index], True, "assigned")
        return LocalAssignment(self.key, self.control, False, decision.reason.value)


class FeatureSet:
    """A parsed SDK payload: one rule per running experiment, evaluated without I/O."""

    def __init__(self, payload: Mapping[str, Any]) -> None:
        try:
            self._rules = {
                key: _Rule.of(key, feature) for key, feature in payload["features"].items()
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise SplitlabError(f"not a Splitlab SDK payload: {exc!r}") from exc

    @property
    def experiments(self) -> list[str]:
        return sorted(self._rules)

    def assign(
        self, experiment_key: str, user_id: str, attributes: Mapping[str, Any] | None = None
    ) -> LocalAssignment:
        """The user's variant; ``variant_key`` is None for an experiment that is not running."""
        rule = self._rules.get(experiment_key)
        if rule is None:
            return LocalAssignment(experiment_key)
        return rule.evaluate(user_id, attributes or {})

    def evaluate(
        self, user_id: str, attributes: Mapping[str, Any] | None = None
    ) -> dict[str, LocalAssignment]:
        """Every running experiment for one user."""
        attrs = attributes or {}
        return {key: rule.evaluate(user_id, attrs) for key, rule in self._rules.items()}


class LocalEvaluator:
    """A :class:`FeatureSet` kept fresh: fetched on start, refetched every ``refresh_interval``
    seconds by a background thread. A failed refresh keeps the last good payload."""

    def __init__(self, client: Splitlab, *, refresh_interval: float = 30.0) -> None:
        self._client = client
        self.refresh_interval = refresh_interval
        self.last_error: Exception | None = None
        self.refreshed_at = 0.0
        self._features = FeatureSet(client.sdk_payload())
        self.refreshed_at = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="splitlab-sdk", daemon=True)
        self._thread.start()

    @property
    def features(self) -> FeatureSet:
        return self._features

    def refresh(self) -> None:
        """Fetch the payload now."""
        self._features = FeatureSet(self._client.sdk_payload())
        self.refreshed_at = time.monotonic()

    def assign(
        self, experiment_key: str, user_id: str, attributes: Mapping[str, Any] | None = None
    ) -> LocalAssignment:
        return self._features.assign(experiment_key, user_id, attributes)

    def evaluate(
        self, user_id: str, attributes: Mapping[str, Any] | None = None
    ) -> dict[str, LocalAssignment]:
        return self._features.evaluate(user_id, attributes)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> LocalEvaluator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_interval):
            try:
                self.refresh()
                self.last_error = None
            except Exception as exc:  # keep serving the last good payload, say why
                self.last_error = exc


class AsyncLocalEvaluator:
    """The asyncio twin of :class:`LocalEvaluator`: ``await client.local_evaluator()`` returns
    one started (or ``async with`` an unstarted one)."""

    def __init__(self, client: AsyncSplitlab, *, refresh_interval: float = 30.0) -> None:
        self._client = client
        self.refresh_interval = refresh_interval
        self.last_error: Exception | None = None
        self.refreshed_at = 0.0
        self._features: FeatureSet | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def features(self) -> FeatureSet:
        if self._features is None:
            raise SplitlabError("call `await evaluator.start()` first")
        return self._features

    async def start(self) -> AsyncLocalEvaluator:
        """Fetch the payload and start refreshing it (once; later calls do nothing)."""
        if self._task is None:
            await self.refresh()
            self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    async def refresh(self) -> None:
        self._features = FeatureSet(await self._client.sdk_payload())
        self.refreshed_at = time.monotonic()

    def assign(
        self, experiment_key: str, user_id: str, attributes: Mapping[str, Any] | None = None
    ) -> LocalAssignment:
        return self.features.assign(experiment_key, user_id, attributes)

    def evaluate(
        self, user_id: str, attributes: Mapping[str, Any] | None = None
    ) -> dict[str, LocalAssignment]:
        return self.features.evaluate(user_id, attributes)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def __aenter__(self) -> AsyncLocalEvaluator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_interval)
            try:
                await self.refresh()
                self.last_error = None
            except Exception as exc:  # keep serving the last good payload, say why
                self.last_error = exc
