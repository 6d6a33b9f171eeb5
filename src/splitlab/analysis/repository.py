"""Queries analysis needs beyond the metric aggregates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from splitlab.storage.models import Exposure


def override_count(session: Session, experiment_id: int, bucket_version: int) -> int:
    """Users whose variant was forced: exposed, but left out of the analysis."""
    count = session.execute(
        select(func.count()).where(
            Exposure.experiment_id == experiment_id,
            Exposure.bucket_version == bucket_version,
            Exposure.is_override.is_(True),
        )
    ).scalar_one()
    return int(count)


def disagreement_counts(
    session: Session, experiment_id: int, bucket_version: int
) -> dict[int, int]:
    """Exposures SDKs reported with a variant the server would not have chosen, per variant
    id (only variants with any); read from a partial index over those exposures alone."""
    rows = session.execute(
        select(Exposure.variant_id, func.count())
        .where(
            Exposure.experiment_id == experiment_id,
            Exposure.bucket_version == bucket_version,
            Exposure.disagrees.is_(True),
        )
        .group_by(Exposure.variant_id)
    )
    return {variant_id: int(count) for variant_id, count in rows}


def exposure_span(
    session: Session, experiment_id: int, bucket_version: int
) -> tuple[datetime | None, datetime | None]:
    """First and last randomised exposure (``None`` when there is none)."""
    row = session.execute(
        select(func.min(Exposure.exposed_at), func.max(Exposure.exposed_at)).where(
            Exposure.experiment_id == experiment_id,
            Exposure.bucket_version == bucket_version,
            Exposure.is_override.is_(False),
        )
    ).one()
    return row[0], row[1]
