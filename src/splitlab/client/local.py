"""Local evaluation: assign users in process from the server's GrowthBook SDK payload.

The payload carries each running experiment's exact seed, hash version, weights, coverage,
namespace and targeting condition, and :func:`~splitlab.assignment.decision.decide_rule` is the
same function the server decides with — so a local answer equals the server's first assignment of
that user with the same attributes. Two things only the server knows: stored user properties (pass
the attributes you target on) and stickiness (a user the server assigned before a later coverage
or targeting change keeps that variant there). Paused and completed experiments serve everyone
their fallback variant (``in_experiment`` False). ``variant_config`` is the variant's config, from
the payload's ``<key>:config`` feature.

**Exposures.** :class:`LocalEvaluator` and :class:`AsyncLocalEvaluator` record what they show:
each ``assign``/``evaluate`` answer with ``in_experiment`` True queues one exposure (experiment,
variant, user, the attributes passed, the time, a random ``exposure_id``) on a background
batcher (:mod:`splitlab.client.batcher`), sent to ``POST /api/v1/exposures/batch`` by size and
time, and on ``flush()`` and ``close()``. The results then count locally assigned users exactly
as users assigned by the server. Each user is queued once per experiment and bucket version
(the rule's ``phase``) per evaluator, remembered in a bounded LRU of ``exposure_cache_size``
keys (16-byte digests, about 140 bytes each): a user evicted from it may be sent again, which
the server counts as a duplicate. Queueing never blocks an assignment: when the batcher's queue
is full (the server unreachable for long) the exposure is dropped (``exposure_stats.dropped``)
and queued again on the user's next evaluation. Pass ``record_exposures=False`` to record
nothing, or ``batcher=`` to share a batcher you flush and close yourself (the evaluator closes
only the one it made). A bare :class:`FeatureSet` does no I/O and records nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from splitlab.assignment.conditions import Predicate, compile_condition
from splitlab.assignment.decision import Reason, decide_rule
from splitlab.assignment.features import CONFIG_SUFFIX
from splitlab.assignment.hashing import BucketPlan
from splitlab.client import _calls
from splitlab.client.errors import SplitlabError

if TYPE_CHECKING:
    from splitlab.client.aio import AsyncSplitlab
    from splitlab.client.batcher import AsyncEventBatcher, EventBatcher
    from splitlab.client.sync import Splitlab

_log = logging.getLogger(__name__)

#: How many (experiment, bucket version, user) keys an evaluator remembers as already exposed.
EXPOSURE_CACHE_SIZE = 200_000


@dataclass(frozen=True, slots=True)
class LocalAssignment:
    experiment_key: str
    variant_key: str | None = None
    in_experiment: bool = False
    reason: str = Reason.NOT_RUNNING.value
    #: The variant's config (``{}`` when it has none, or the experiment is unknown).
    variant_config: dict[str, Any] = field(default_factory=dict)


def _config(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _configs(feature: Mapping[str, Any] | None) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """A ``<key>:config`` feature's fallback config and its rule's configs by variation."""
    if feature is None:
        return {}, ()
    rules = [r for r in feature.get("rules") or () if "variations" in r]
    variations = tuple(rules[0]["variations"]) if rules else ()
    return _config(feature.get("defaultValue")), variations


@dataclass(frozen=True, slots=True)
class _Rule:
    key: str
    control: str
    hash_attribute: str
    variations: tuple[str, ...]
    plan: BucketPlan
    matches: Predicate | None
    #: The bucket version (``phase``): a user is exposed once per experiment and phase.
    phase: str = ""
    control_config: dict[str, Any] = field(default_factory=dict)
    configs: tuple[Any, ...] = ()

    @classmethod
    def of(
        cls,
        feature_key: str,
        feature: Mapping[str, Any],
        config_feature: Mapping[str, Any] | None = None,
    ) -> _Rule:
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
        control_config, configs = _configs(config_feature)
        return cls(
            key=feature_key,
            control=str(feature["defaultValue"]),
            hash_attribute=str(rule.get("hashAttribute", "id")),
            variations=tuple(str(v) for v in rule["variations"]),
            plan=plan,
            matches=compile_condition(condition) if condition is not None else None,
            phase=str(rule["phase"]) if rule.get("phase") is not None else plan.seed,
            control_config=control_config,
            configs=configs,
        )

    def evaluate(self, user_id: str, attributes: Mapping[str, Any]) -> LocalAssignment:
        attrs = {**attributes, self.hash_attribute: user_id}
        decision = decide_rule(self.plan, self.matches, user_id, attrs)
        if decision.in_experiment:
            index = decision.index
            config = _config(self.configs[index]) if index < len(self.configs) else {}
            return LocalAssignment(self.key, self.variations[index], True, "assigned", config)
        return LocalAssignment(
            self.key, self.control, False, decision.reason.value, dict(self.control_config)
        )


@dataclass(frozen=True, slots=True)
class _Served:
    """A paused or completed experiment: everyone gets the same variant, nobody is in it."""

    key: str
    variant_key: str
    config: dict[str, Any] = field(default_factory=dict)
    phase: str = ""

    def evaluate(self, user_id: str, attributes: Mapping[str, Any]) -> LocalAssignment:
        return LocalAssignment(
            self.key, self.variant_key, False, Reason.NOT_RUNNING.value, dict(self.config)
        )


def _rule_of(
    key: str, feature: Mapping[str, Any], config_feature: Mapping[str, Any] | None
) -> _Rule | _Served:
    if any("variations" in r for r in feature["rules"]):
        return _Rule.of(key, feature, config_feature)
    return _Served(key, str(feature["defaultValue"]), _configs(config_feature)[0])


class FeatureSet:
    """A parsed SDK payload: one rule per experiment, evaluated without I/O (and recording
    nothing); each answer carries the variant's config from the ``<key>:config`` feature."""

    def __init__(self, payload: Mapping[str, Any]) -> None:
        try:
            features: Mapping[str, Any] = payload["features"]
            self._rules = {
                key: _rule_of(key, feature, features.get(key + CONFIG_SUFFIX))
                for key, feature in features.items()
                if not key.endswith(CONFIG_SUFFIX)
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SplitlabError(f"not a Splitlab SDK payload: {exc!r}") from exc

    @property
    def experiments(self) -> list[str]:
        return sorted(self._rules)

    def phase(self, experiment_key: str) -> str | None:
        """The experiment's bucket version as the payload names it (its rule's ``phase``)."""
        rule = self._rules.get(experiment_key)
        return None if rule is None else rule.phase

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


class ExposureCache:
    """A bounded set of (experiment key, phase, user id) already exposed, least recently seen
    evicted first; thread-safe. Keys are kept as 16-byte digests."""

    def __init__(self, capacity: int = EXPOSURE_CACHE_SIZE) -> None:
        if capacity < 1:
            raise ValueError("the exposure cache must hold at least one key")
        self.capacity = capacity
        self._keys: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(experiment_key: str, phase: str, user_id: str) -> bytes:
        text = f"{len(experiment_key)}:{experiment_key}{len(phase)}:{phase}{user_id}"
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def add(self, key: bytes) -> bool:
        """True if ``key`` is new (and now remembered); False if it was already there."""
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return False
            self._keys[key] = None
            if len(self._keys) > self.capacity:
                self._keys.popitem(last=False)
            return True

    def discard(self, key: bytes) -> None:
        with self._lock:
            self._keys.pop(key, None)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)


class _Recorder:
    """What both evaluators share: which exposures to queue, once each, without blocking."""

    def __init__(self, capacity: int) -> None:
        self.seen = ExposureCache(capacity)
        self.last_error: Exception | None = None

    def record(
        self,
        offer: Callable[[Mapping[str, Any]], str | None],
        features: FeatureSet,
        answers: list[LocalAssignment],
        user_id: str,
        attributes: Mapping[str, Any] | None,
    ) -> None:
        for answer in answers:
            phase = features.phase(answer.experiment_key)
            if not answer.in_experiment or answer.variant_key is None or phase is None:
                continue
            key = self.seen.key(answer.experiment_key, phase, user_id)
            if not self.seen.add(key):
                continue
            body = _calls.exposure_body(
                answer.experiment_key, user_id, answer.variant_key, attributes
            )
            try:
                queued = offer(body)
            except (SplitlabError, TypeError, ValueError) as exc:  # closed, or not JSON
                if self.last_error is None:
                    _log.warning("an exposure could not be queued: %r", exc)
                self.last_error = exc
                queued = None
            if queued is None:  # not sent: the user's next evaluation tries again
                self.seen.discard(key)


class LocalEvaluator:
    """A :class:`FeatureSet` kept fresh: fetched on start, refetched every ``refresh_interval``
    seconds by a background thread. A failed refresh keeps the last good payload. Exposures are
    recorded through a batcher unless ``record_exposures`` is False (see the module docstring);
    ``close()`` flushes them."""

    def __init__(
        self,
        client: Splitlab,
        *,
        refresh_interval: float = 30.0,
        record_exposures: bool = True,
        batcher: EventBatcher | None = None,
        exposure_cache_size: int = EXPOSURE_CACHE_SIZE,
    ) -> None:
        self._client = client
        self.refresh_interval = refresh_interval
        self.record_exposures = record_exposures
        self.last_error: Exception | None = None
        self.refreshed_at = 0.0
        self._recorder = _Recorder(exposure_cache_size)
        self._features = FeatureSet(client.sdk_payload())
        self.refreshed_at = time.monotonic()
        self._owns_batcher = record_exposures and batcher is None
        self._batcher = client.batcher() if self._owns_batcher else batcher
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="splitlab-sdk", daemon=True)
        self._thread.start()

    @property
    def features(self) -> FeatureSet:
        return self._features

    @property
    def batcher(self) -> EventBatcher | None:
        """The batcher exposures go through (``batcher.exposure_stats`` counts them)."""
        return self._batcher

    @property
    def exposure_error(self) -> Exception | None:
        """The last reason an exposure could not be queued (a closed batcher, attributes JSON
        cannot carry), if any."""
        return self._recorder.last_error

    def refresh(self) -> None:
        """Fetch the payload now."""
        self._features = FeatureSet(self._client.sdk_payload())
        self.refreshed_at = time.monotonic()

    def assign(
        self, experiment_key: str, user_id: str, attributes: Mapping[str, Any] | None = None
    ) -> LocalAssignment:
        features = self._features
        answer = features.assign(experiment_key, user_id, attributes)
        if answer.in_experiment:
            self._record(features, [answer], user_id, attributes)
        return answer

    def evaluate(
        self, user_id: str, attributes: Mapping[str, Any] | None = None
    ) -> dict[str, LocalAssignment]:
        features = self._features
        answers = features.evaluate(user_id, attributes)
        self._record(features, list(answers.values()), user_id, attributes)
        return answers

    def flush(self, timeout: float | None = None) -> bool:
        """Send the exposures queued so far; True once the server has answered for them."""
        return self._batcher.flush(timeout) if self._batcher is not None else True

    def close(self) -> None:
        """Stop refreshing; flush and close the batcher made for this evaluator (raising if
        exposures are still unsent after its timeout)."""
        self._stop.set()
        self._thread.join()
        if self._owns_batcher and self._batcher is not None:
            self._batcher.close()

    def __enter__(self) -> LocalEvaluator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _record(
        self,
        features: FeatureSet,
        answers: list[LocalAssignment],
        user_id: str,
        attributes: Mapping[str, Any] | None,
    ) -> None:
        if self.record_exposures and self._batcher is not None:
            self._recorder.record(
                self._batcher.offer_exposure, features, answers, user_id, attributes
            )

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_interval):
            try:
                self.refresh()
                self.last_error = None
            except Exception as exc:  # keep serving the last good payload, say why
                self.last_error = exc


class AsyncLocalEvaluator:
    """The asyncio twin of :class:`LocalEvaluator`: ``await client.local_evaluator()`` returns
    one started (or ``async with`` an unstarted one). ``assign`` and ``evaluate`` are plain
    calls, for the loop's own thread; exposures go through an :class:`AsyncEventBatcher`
    made on ``start()`` (or the one passed)."""

    def __init__(
        self,
        client: AsyncSplitlab,
        *,
        refresh_interval: float = 30.0,
        record_exposures: bool = True,
        batcher: AsyncEventBatcher | None = None,
        exposure_cache_size: int = EXPOSURE_CACHE_SIZE,
    ) -> None:
        self._client = client
        self.refresh_interval = refresh_interval
        self.record_exposures = record_exposures
        self.last_error: Exception | None = None
        self.refreshed_at = 0.0
        self._recorder = _Recorder(exposure_cache_size)
        self._owns_batcher = record_exposures and batcher is None
        self._batcher = batcher
        self._features: FeatureSet | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def features(self) -> FeatureSet:
        if self._features is None:
            raise SplitlabError("call `await evaluator.start()` first")
        return self._features

    @property
    def batcher(self) -> AsyncEventBatcher | None:
        """The batcher exposures go through (``batcher.exposure_stats`` counts them)."""
        return self._batcher

    @property
    def exposure_error(self) -> Exception | None:
        return self._recorder.last_error

    async def start(self) -> AsyncLocalEvaluator:
        """Fetch the payload and start refreshing it (once; later calls do nothing)."""
        if self._task is None:
            await self.refresh()
            if self._owns_batcher and self._batcher is None:
                self._batcher = self._client.batcher()
            self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    async def refresh(self) -> None:
        self._features = FeatureSet(await self._client.sdk_payload())
        self.refreshed_at = time.monotonic()

    def assign(
        self, experiment_key: str, user_id: str, attributes: Mapping[str, Any] | None = None
    ) -> LocalAssignment:
        features = self.features
        answer = features.assign(experiment_key, user_id, attributes)
        if answer.in_experiment:
            self._record(features, [answer], user_id, attributes)
        return answer

    def evaluate(
        self, user_id: str, attributes: Mapping[str, Any] | None = None
    ) -> dict[str, LocalAssignment]:
        features = self.features
        answers = features.evaluate(user_id, attributes)
        self._record(features, list(answers.values()), user_id, attributes)
        return answers

    async def flush(self, timeout: float | None = None) -> bool:
        """Send the exposures queued so far; True once the server has answered for them."""
        return await self._batcher.flush(timeout) if self._batcher is not None else True

    async def close(self) -> None:
        """Stop refreshing; flush and close the batcher made for this evaluator."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._owns_batcher and self._batcher is not None:
            await self._batcher.close()

    async def __aenter__(self) -> AsyncLocalEvaluator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _record(
        self,
        features: FeatureSet,
        answers: list[LocalAssignment],
        user_id: str,
        attributes: Mapping[str, Any] | None,
    ) -> None:
        if self.record_exposures and self._batcher is not None:
            self._recorder.record(
                self._batcher.offer_exposure, features, answers, user_id, attributes
            )

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_interval)
            try:
                await self.refresh()
                self.last_error = None
            except Exception as exc:  # keep serving the last good payload, say why
                self.last_error = exc
