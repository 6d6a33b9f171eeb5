"""Queries analysis needs beyond the metric aggregates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from splitlab.storage.models import Exposure


def exposure_counts(session: Session, experiment_id: int, bucket_version: int) -> dict[int, int]:
    rows = session.execute(
        select(Exposure.variant_id, func.count())
        .where(Exposure.experiment_id == experiment_id, Exposure.bucket_version == bucket_version)
        .group_by(Exposure.variant_id)
    )
    return {variant_id: count for variant_id, count in rows}


def exposure_span(
    session: Session, experiment_id: int, bucket_version: int
) -> tuple[datetime | None, datetime | None]:
    row = session.execute(
        select(func.min(Exposure.exposed_at), func.max(Exposure.exposed_at)).where(
            Exposure.experiment_id == experiment_id, Exposure.bucket_version == bucket_version
        )
    ).one()
    return row[0], row[1]
