"""Queries of the assignment path: config lookups and exposures (insert-once, read back)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Boolean, func, select, text, update
from sqlalchemy.orm import Session, selectinload

from splitlab.events import totals
from splitlab.storage.base import JSONType, UTCDateTime, as_id, sqlite_time
from splitlab.storage.models import Experiment, Exposure, User, Variant


def experiment_version(
    session: Session, workspace_id: int, ref: str
) -> tuple[int, datetime] | None:
    """``(id, updated_at)`` of an experiment by key first, else by integer id."""
    query = select(Experiment.id, Experiment.updated_at).where(
        Experiment.workspace_id == workspace_id
    )
    row = session.execute(query.where(Experiment.key == ref)).first()
    experiment_id = as_id(ref) if row is None else None
    if experiment_id is not None:
        row = session.execute(query.where(Experiment.id == experiment_id)).first()
    return (row[0], row[1]) if row is not None else None


def load_experiment(session: Session, experiment_id: int) -> Experiment:
    experiment: Experiment = session.scalars(
        select(Experiment)
        .options(selectinload(Experiment.variants))
        .where(Experiment.id == experiment_id)
    ).one()
    return experiment


def running_experiment_versions(session: Session, workspace_id: int) -> list[tuple[int, datetime]]:
    """``(id, updated_at)`` of the workspace's running experiments, oldest first."""
    return experiment_versions_in(session, workspace_id, ("running",))


#: The experiments the SDK payload serves: running ones, paused ones (their control) and
#: completed ones (their winner); drafts and cancelled experiments serve nothing.
PUBLISHED_STATUSES = ("running", "paused", "completed")


def experiment_versions_in(
    session: Session, workspace_id: int, statuses: Sequence[str]
) -> list[tuple[int, datetime]]:
    """``(id, updated_at)`` of the workspace's experiments in ``statuses``, oldest first."""
    rows = session.execute(
        select(Experiment.id, Experiment.updated_at)
        .where(Experiment.workspace_id == workspace_id, Experiment.status.in_(statuses))
        .order_by(Experiment.id)
    )
    return [(experiment_id, updated_at) for experiment_id, updated_at in rows]


def user_properties(session: Session, workspace_id: int, user_id: str) -> dict[str, Any]:
    properties = session.scalar(
        select(User.properties).where(User.workspace_id == workspace_id, User.user_id == user_id)
    )
    return dict(properties or {})


def find_exposure(
    session: Session, experiment_id: int, bucket_version: int, user_id: str
) -> tuple[str, bool, datetime] | None:
    row = session.execute(
        select(Variant.key, Exposure.is_override, Exposure.exposed_at)
        .join(Variant, Variant.id == Exposure.variant_id)
        .where(
            Exposure.experiment_id == experiment_id,
            Exposure.bucket_version == bucket_version,
            Exposure.user_id == user_id,
        )
    ).first()
    return (row[0], row[1], row[2]) if row else None


_SQLITE_VERSIONS = text(
    "SELECT id, updated_at FROM experiments WHERE id IN (SELECT value FROM json_each(:ids))"
).columns(updated_at=UTCDateTime())
_PG_VERSIONS = text(
    "SELECT id, updated_at FROM experiments WHERE id = ANY(CAST(:ids AS integer[]))"
).columns(updated_at=UTCDateTime())


def experiment_versions(session: Session, ids: Sequence[int]) -> dict[int, datetime]:
    """``updated_at`` (the config version) of each experiment id that exists; one prepared
    statement, as the group committer runs it once per transaction."""
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(_PG_VERSIONS, {"ids": list(ids)})
    else:
        rows = session.execute(_SQLITE_VERSIONS, {"ids": to_json(list(ids)).decode()})
    return {experiment_id: updated_at for experiment_id, updated_at in rows}


ExposureKey = tuple[int, int, str]
StoredExposure = tuple[str, bool, datetime]

#: The stored exposures of many ``(experiment, bucket version, user)`` keys, in one statement
#: built once: the keys are one bound JSON array, looked up through the unique index. (An ORM
#: ``IN`` per experiment cost the group committer a third of its time compiling expressions.)
_SQLITE_FIND_EXPOSURES = text(
    """
    SELECT e.experiment_id, e.bucket_version, e.user_id, v.key, e.is_override, e.exposed_at
    FROM json_each(:keys) AS k
    JOIN exposures AS e
      ON e.experiment_id = json_extract(k.value, '$[0]')
     AND e.bucket_version = json_extract(k.value, '$[1]')
     AND e.user_id = json_extract(k.value, '$[2]')
    JOIN variants AS v ON v.id = e.variant_id
    """
).columns(is_override=Boolean(), exposed_at=UTCDateTime())
_PG_FIND_EXPOSURES = text(
    """
    SELECT e.experiment_id, e.bucket_version, e.user_id, v.key, e.is_override, e.exposed_at
    FROM unnest(CAST(:experiments AS integer[]), CAST(:buckets AS integer[]),
                CAST(:users AS text[])) AS k(experiment_id, bucket_version, user_id)
    JOIN exposures AS e
      ON e.experiment_id = k.experiment_id
     AND e.bucket_version = k.bucket_version
     AND e.user_id = k.user_id
    JOIN variants AS v ON v.id = e.variant_id
    """
).columns(is_override=Boolean(), exposed_at=UTCDateTime())


def find_exposures_of(
    session: Session, keys: Sequence[ExposureKey]
) -> dict[ExposureKey, StoredExposure]:
    """The stored exposure (variant key, is it an override, when) of each key that has one."""
    if not keys:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            _PG_FIND_EXPOSURES,
            {
                "experiments": [k[0] for k in keys],
                "buckets": [k[1] for k in keys],
                "users": [k[2] for k in keys],
            },
        )
    else:
        rows = session.execute(_SQLITE_FIND_EXPOSURES, {"keys": to_json(list(keys)).decode()})
    return {
        (experiment_id, bucket_version, user_id): (key, is_override, exposed_at)
        for experiment_id, bucket_version, user_id, key, is_override, exposed_at in rows
    }


_SQLITE_USERS_PROPERTIES = text(
    """
    SELECT u.workspace_id, u.user_id, u.properties
    FROM json_each(:keys) AS k
    JOIN users AS u
      ON u.workspace_id = json_extract(k.value, '$[0]')
     AND u.user_id = json_extract(k.value, '$[1]')
    """
).columns(properties=JSONType)
_PG_USERS_PROPERTIES = text(
    """
    SELECT u.workspace_id, u.user_id, u.properties
    FROM unnest(CAST(:workspaces AS integer[]), CAST(:users AS text[])) AS k(workspace_id, user_id)
    JOIN users AS u ON u.workspace_id = k.workspace_id AND u.user_id = k.user_id
    """
).columns(properties=JSONType)


def properties_of(
    session: Session, keys: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], dict[str, Any]]:
    """Stored properties of ``(workspace, user)`` keys (users without a row are left out)."""
    if not keys:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            _PG_USERS_PROPERTIES,
            {"workspaces": [k[0] for k in keys], "users": [k[1] for k in keys]},
        )
    else:
        rows = session.execute(_SQLITE_USERS_PROPERTIES, {"keys": to_json(list(keys)).decode()})
    return {(w, u): dict(props or {}) for w, u, props in rows}


#: Both statements take the exposures as one JSON array of ``_EXPOSURE_COLUMNS`` rows (one bound
#: parameter, unpacked by the database), as ``events.repository`` does for events: a multi-row
#: ``VALUES`` cost SQLAlchemy about 150 ms of compiling per 1,000 rows.
_EXPOSURE_COLUMNS = (
    "workspace_id",
    "experiment_id",
    "variant_id",
    "user_id",
    "bucket_version",
    "is_override",
    "context",
    "disagrees",
    "exposed_at",
)
_PG_INSERT_EXPOSURES = text(
    f"""
    INSERT INTO exposures ({", ".join(_EXPOSURE_COLUMNS)})
    SELECT (e->>0)::integer, (e->>1)::integer, (e->>2)::integer, e->>3, (e->>4)::integer,
           (e->>5)::boolean, e->6, (e->>7)::boolean, (e->>8)::timestamptz
    FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS r(e)
    ON CONFLICT (experiment_id, bucket_version, user_id) DO NOTHING
    RETURNING id
    """
)
# ``WHERE true`` tells SQLite's parser that ON CONFLICT belongs to the INSERT, not to a join.
_SQLITE_INSERT_EXPOSURES = text(
    f"""
    INSERT INTO exposures ({", ".join(_EXPOSURE_COLUMNS)})
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
           json_extract(value, '$[2]'), json_extract(value, '$[3]'),
           json_extract(value, '$[4]'), json_extract(value, '$[5]'),
           json_extract(value, '$[6]'), json_extract(value, '$[7]'),
           json_extract(value, '$[8]')
    FROM json_each(:rows) WHERE true
    ON CONFLICT (experiment_id, bucket_version, user_id) DO NOTHING
    RETURNING id
    """
)


def insert_exposures(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert exposures, leaving any that already exist untouched (first exposure wins);
    answers how many were new.

    ``ON CONFLICT DO NOTHING`` on the unique ``(experiment, bucket version, user)`` constraint
    makes concurrent first requests safe: exactly one row survives, whoever wins. The user's
    events already stored are folded into each new exposure's totals (``events.totals``), under
    the users' exclusive locks, so that no concurrent event batch is counted twice or never.
    """
    if not rows:
        return 0
    totals.lock_users(session, {(r["workspace_id"], r["user_id"]) for r in rows}, shared=False)
    postgres = session.get_bind().dialect.name == "postgresql"
    # Timestamps as each database parses them: ISO 8601 with its offset for ``timestamptz``,
    # SQLite's stored text format there (it compares timestamps as text).
    stamp = _iso_time if postgres else sqlite_time
    encoded = to_json(
        [
            [
                *(r[c] for c in _EXPOSURE_COLUMNS[:-2]),
                r.get("disagrees", False),
                stamp(r["exposed_at"]),
            ]
            for r in rows
        ]
    ).decode()
    statement = _PG_INSERT_EXPOSURES if postgres else _SQLITE_INSERT_EXPOSURES
    new = list(session.scalars(statement, {"rows": encoded}))
    totals.fold_exposures(session, new)
    return len(new)


def override_exposure(
    session: Session,
    *,
    workspace_id: int,
    experiment_id: int,
    bucket_version: int,
    user_id: str,
    variant_id: int,
    context: dict[str, Any],
    at: datetime,
) -> None:
    """Make a user's stored exposure an override of ``variant_id`` (``force_variant`` on a user
    already exposed), so that what is stored is what they are shown from now on.

    Forced exposures are never analysed: the exposure leaves the totals first
    (``totals.unroll_exposures``), under the user's exclusive lock, as in retention clean-up.
    """
    totals.lock_users(session, {(workspace_id, user_id)}, shared=False)
    exposure_id = session.scalar(
        select(Exposure.id).where(
            Exposure.experiment_id == experiment_id,
            Exposure.bucket_version == bucket_version,
            Exposure.user_id == user_id,
        )
    )
    if exposure_id is None:
        return
    totals.unroll_exposures(session, [exposure_id])
    session.execute(
        update(Exposure)
        .where(Exposure.id == exposure_id)
        .values(variant_id=variant_id, is_override=True, context=context, exposed_at=at)
    )


def _iso_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise TypeError(f"not a timezone-aware datetime: {value!r}")
    return value.isoformat()


def list_exposures(
    session: Session,
    workspace_id: int,
    *,
    experiment_id: int | None,
    user_id: str | None,
    offset: int,
    limit: int,
) -> tuple[list[tuple[Exposure, str, str]], int]:
    conditions = [Exposure.workspace_id == workspace_id]
    if experiment_id is not None:
        conditions.append(Exposure.experiment_id == experiment_id)
    if user_id is not None:
        conditions.append(Exposure.user_id == user_id)
    total = session.scalar(select(func.count()).select_from(Exposure).where(*conditions)) or 0
    rows = session.execute(
        select(Exposure, Experiment.key, Variant.key)
        .join(Experiment, Experiment.id == Exposure.experiment_id)
        .join(Variant, Variant.id == Exposure.variant_id)
        .where(*conditions)
        .order_by(Exposure.id)
        .offset(offset)
        .limit(limit)
    )
    return [(exposure, exp_key, var_key) for exposure, exp_key, var_key in rows], total
