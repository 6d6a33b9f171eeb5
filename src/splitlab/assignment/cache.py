"""Caches in front of the database for the assignment hot path.

The database is the system of record. Without Redis, experiment configs are cached in process and
validated against the experiment's version on every call (one indexed lookup). With Redis, configs
and sticky assignments are cached there, shared by every API process, and invalidated after each
committed experiment change; flushing Redis changes no answer, only its speed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from splitlab.assignment.config import AssignmentConfig
from splitlab.config import Settings

log = logging.getLogger("splitlab.cache")

_PENDING = "splitlab.invalidate"
CONFIG_TTL_SECONDS = 3600
#: Redis calls give up after this long (connect and each read), then Redis is bypassed for
#: ``BYPASS_SECONDS``: a hung Redis is a blip of at most one timeout per call in flight.
REDIS_TIMEOUT_SECONDS = 0.25
BYPASS_SECONDS = 5.0
STICKY_TTL_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class StickyAssignment:
    variant_key: str
    is_override: bool
    exposed_at: str


class LocalConfigCache:
    """In-process configs keyed by experiment version: a stale entry simply never matches."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._by_version: dict[str, AssignmentConfig] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, version: str) -> AssignmentConfig | None:
        return self._by_version.get(version)

    def put(self, config: AssignmentConfig) -> None:
        with self._lock:
            if len(self._by_version) >= self._max:
                self._by_version.clear()
            self._by_version[config.version] = config


_PUT_IF_GENERATION = """
local current = redis.call('GET', KEYS[1])
if (current or 'None') ~= ARGV[1] then return 0 end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[2], 'EX', ARGV[3]) end
return 1
"""


class RedisCache:
    """Configs by ``(workspace, key)`` and sticky assignments by ``(experiment, bucket, user)``."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.bypass_until = float("-inf")
        self.failures = 0

    def _config_key(self, workspace_id: int, key: str) -> str:
        # ``cfg2``: configs carry the fallback variant and the bucket version in their seed.
        return f"{self.prefix}:cfg2:{workspace_id}:{key}"

    def _sticky_key(self, experiment_id: int, bucket_version: int, user_id: str) -> str:
        return f"{self.prefix}:sticky:{experiment_id}:{bucket_version}:{user_id}"

    def _generation_key(self, workspace_id: int) -> str:
        return f"{self.prefix}:gen:{workspace_id}"

    def get_config(self, workspace_id: int, ref: str) -> tuple[dict[str, Any] | None, str]:
        """The cached config's JSON (or None) and the workspace generation for put_config."""
        raw, generation = self._safe(
            self.client.mget,
            self._config_key(workspace_id, ref),
            self._generation_key(workspace_id),
        ) or (None, None)
        data: dict[str, Any] | None = json.loads(raw) if raw else None
        return data, (generation.decode() if isinstance(generation, bytes) else str(generation))

    def put_config(self, config: AssignmentConfig, generation: str) -> None:
        """Store a config read from the database, unless an invalidation happened meanwhile.

        Stored under the experiment's key only. Routes also accept an id, but a key may itself
        be digits ("7"), and the key wins: caching experiment 7 under "7" would answer for the
        experiment whose key is "7" until the entry expired. So an id misses here and resolves
        through the database (one indexed lookup), then the in-process cache.

        The generation check closes the race where a slow reader would write back a config
        that a concurrent, already committed change has made stale.
        """
        payload = json.dumps(config.to_json())
        keys = [self._config_key(config.workspace_id, config.key)]
        self._safe(
            self.client.eval,
            _PUT_IF_GENERATION,
            1 + len(keys),
            self._generation_key(config.workspace_id),
            *keys,
            generation,
            payload,
            CONFIG_TTL_SECONDS,
        )

    def invalidate(self, workspace_id: int, refs: set[str]) -> None:
        keys = [self._config_key(workspace_id, ref) for ref in refs]
        self._safe(self.client.incr, self._generation_key(workspace_id))
        if keys:
            self._safe(self.client.delete, *keys)

    def get_stickies(self, keys: list[tuple[int, int, str]]) -> list[StickyAssignment | None]:
        """Sticky assignments of ``(experiment, bucket version, user)`` keys, in one round trip;
        all misses while Redis misbehaves."""
        raw = self._safe(self.client.mget, [self._sticky_key(*key) for key in keys])
        if raw is None:
            return [None] * len(keys)
        return [StickyAssignment(**json.loads(item)) if item else None for item in raw]

    def get_sticky(
        self, experiment_id: int, bucket_version: int, user_id: str
    ) -> StickyAssignment | None:
        raw = self._safe(self.client.get, self._sticky_key(experiment_id, bucket_version, user_id))
        return StickyAssignment(**json.loads(raw)) if raw else None

    def put_sticky(
        self,
        experiment_id: int,
        bucket_version: int,
        user_id: str,
        sticky: StickyAssignment,
        *,
        replaces: bool = False,
    ) -> None:
        """Cache a stored exposure. Only an override that replaced one overwrites what is
        cached: any other fill is ``SET NX``, so that a reader that saw the exposure before an
        override, and commits after it, cannot put the old variant back."""
        payload = _sticky_json(sticky)
        self._safe(
            self.client.set,
            self._sticky_key(experiment_id, bucket_version, user_id),
            payload,
            ex=STICKY_TTL_SECONDS,
            nx=not replaces,
        )

    def put_stickies(self, items: list[tuple[int, int, str, StickyAssignment, bool]]) -> None:
        """``put_sticky`` for many, in one round trip (a pipeline)."""

        def send() -> Any:
            pipe = self.client.pipeline(transaction=False)
            for experiment_id, bucket_version, user_id, sticky, replaces in items:
                pipe.set(
                    self._sticky_key(experiment_id, bucket_version, user_id),
                    _sticky_json(sticky),
                    ex=STICKY_TTL_SECONDS,
                    nx=not replaces,
                )
            return pipe.execute()

        self._safe(send)

    def _safe(self, operation: Any, *args: Any, **kwargs: Any) -> Any:
        """A cache that is down is a cache miss, never an outage: the database answers.

        A circuit breaker: after a failure (an error, or no answer within the client's short
        socket timeout) Redis is bypassed for ``BYPASS_SECONDS``, then tried again. A hung Redis
        costs the few calls in flight one timeout each, then nothing.
        """
        import redis

        if time.monotonic() < self.bypass_until:
            return None
        try:
            return operation(*args, **kwargs)
        except redis.RedisError as exc:
            self.bypass_until = time.monotonic() + BYPASS_SECONDS
            self.failures += 1
            log.warning(
                "redis unavailable (%s); bypassed for %ss, the database answers",
                exc,
                BYPASS_SECONDS,
            )
            return None

    @property
    def available(self) -> bool:
        return time.monotonic() >= self.bypass_until


def _sticky_json(sticky: StickyAssignment) -> str:
    return json.dumps(
        {
            "variant_key": sticky.variant_key,
            "is_override": sticky.is_override,
            "exposed_at": sticky.exposed_at,
        }
    )


def connect_redis(settings: Settings) -> Any:
    """A Redis client when ``REDIS_URL`` is configured, else None. Connects lazily."""
    if not settings.redis_url:
        return None
    import redis

    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return redis.Redis.from_url(
        settings.redis_url,
        password=password,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )


def mark_changed(session: Session, workspace_id: int, *refs: str | int) -> None:
    """Remember, for after the commit, that an experiment's cached config is now stale."""
    pending: set[tuple[int, str]] = session.info.setdefault(_PENDING, set())
    pending.update((workspace_id, str(ref)) for ref in refs)


def install_invalidation(factory: sessionmaker[Session], cache: RedisCache) -> None:
    """Delete stale configs from Redis only once the change is committed (never before)."""

    @event.listens_for(factory, "after_commit")
    def _after_commit(session: Session) -> None:
        pending: set[tuple[int, str]] = session.info.pop(_PENDING, set())
        by_workspace: dict[int, set[str]] = {}
        for workspace_id, ref in pending:
            by_workspace.setdefault(workspace_id, set()).add(ref)
        for workspace_id, refs in by_workspace.items():
            cache.invalidate(workspace_id, refs)
        stickies = session.info.pop(_STICKY, [])
        if stickies:
            cache.put_stickies(stickies)

    @event.listens_for(factory, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop(_PENDING, None)
        session.info.pop(_STICKY, None)


_STICKY = "splitlab.sticky"


def queue_sticky(
    session: Session,
    experiment_id: int,
    bucket_version: int,
    user_id: str,
    sticky: StickyAssignment,
    *,
    replaces: bool = False,
) -> None:
    """Cache a sticky assignment in Redis once (and only if) the transaction commits;
    ``replaces``: it overrode the exposure stored before (``RedisCache.put_sticky``)."""
    session.info.setdefault(_STICKY, []).append(
        (experiment_id, bucket_version, user_id, sticky, replaces)
    )
