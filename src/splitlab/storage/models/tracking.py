"""The data plane: exposures (assignments that counted) and tracked events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from splitlab.storage.base import Base, JSONType, utcnow

# SQLite only auto-increments INTEGER PRIMARY KEY; BIGINT elsewhere for high-volume tables.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Exposure(Base):
    """A user's counted assignment: at most one per experiment, user and bucket version."""

    __tablename__ = "exposures"
    __table_args__ = (
        UniqueConstraint("experiment_id", "bucket_version", "user_id"),
        # Exposed users per variant, counted from the index alone (analysis, results).
        Index(None, "experiment_id", "bucket_version", "variant_id", "is_override"),
        # Events find the exposures they count for by user (``events.totals``).
        Index(None, "workspace_id", "user_id"),
        # The results' disagreement check counts only the few exposures that disagree.
        Index(
            "ix_exposures_disagreements",
            "experiment_id",
            "bucket_version",
            "variant_id",
            sqlite_where=text("disagrees"),
            postgresql_where=text("disagrees"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # No foreign keys, as for events (migration 0008): the writers resolve the workspace,
    # experiment and variant first, and none of them is deleted once it has exposures (variants
    # change only while a draft, which records none; experiments are cancelled, not deleted).
    # The per-row checks were three quarters of a 10,000-exposure insert on PostgreSQL.
    workspace_id: Mapped[int] = mapped_column(Integer)
    experiment_id: Mapped[int] = mapped_column(Integer)
    variant_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(String(255))
    bucket_version: Mapped[int] = mapped_column(Integer, default=0)
    is_override: Mapped[bool] = mapped_column(Boolean, default=False)
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    exposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Reported by an SDK (``POST /api/v1/exposures/batch``) with a variant the server would
    #: not have chosen for the same attributes: a stale payload, a paused experiment. Counted in
    #: the results as a health check; the exposure still counts as what the user saw.
    disagrees: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Event(Base):
    """An append-only tracked event, idempotent on ``(workspace_id, event_id)``.

    The hottest table, so it carries only what its readers need: no foreign keys (the service
    resolves workspace and experiment before writing, and neither is ever deleted) and two
    secondary indexes. Analysis reads ``exposure_totals``, not this table.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "event_id"),
        # A user's events: a new exposure's fold (``events.totals``), seed 000's variant values.
        Index(None, "workspace_id", "user_id"),
        # Retention clean-up, reports and the oldest / newest event.
        Index(None, "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(Integer)
    experiment_id: Mapped[int | None] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExposureTotal(Base):
    """What one exposed user did of one event type: the per-user rollup analysis reads.

    Kept exact at write time by ``events.totals``: every stored event is folded into the totals
    of each exposure it counts for (same workspace and user, untagged or tagged with that
    experiment, within the pre-exposure window or after), and a new exposure folds in the
    user's events already stored. ``post_*`` covers events at or after ``exposed_at``; ``pre_*``
    the ``PRE_WINDOW`` before it. Randomised exposures only: forced ones are never analysed.
    ``experiment_id``, ``bucket_version`` and ``variant_id`` are the exposure's, copied so that
    analysis scans this table alone.
    """

    __tablename__ = "exposure_totals"
    __table_args__ = (Index(None, "experiment_id", "bucket_version", "event_type"),)

    exposure_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("exposures.id", ondelete="CASCADE"), primary_key=True
    )
    event_type: Mapped[str] = mapped_column(String(200), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(Integer)
    bucket_version: Mapped[int] = mapped_column(Integer)
    variant_id: Mapped[int] = mapped_column(Integer)
    post_count: Mapped[int] = mapped_column(BigInteger, default=0)
    post_sum: Mapped[float] = mapped_column(Float, default=0.0)
    pre_count: Mapped[int] = mapped_column(BigInteger, default=0)
    pre_sum: Mapped[float] = mapped_column(Float, default=0.0)


class VariantTotal(Base):
    """The sums over one variant's ``exposure_totals`` of one event type: what analysis reads.

    Kept exact from each write's per-user deltas by ``events.totals`` (a user's new totals'
    contributions minus their old ones), so that sufficient statistics cost the same at a
    thousand users or a million. ``count_*`` are over event counts, ``value_*`` over value sums,
    ``post`` after exposure, ``pre`` in the window before, ``cross`` the product of the two;
    ``users_*`` count users with any event after, before, and both (conversions).
    """

    __tablename__ = "variant_totals"

    experiment_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    variant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_type: Mapped[str] = mapped_column(String(200), primary_key=True)
    count_post: Mapped[int] = mapped_column(BigInteger, default=0)
    count_post_sq: Mapped[int] = mapped_column(BigInteger, default=0)
    count_pre: Mapped[int] = mapped_column(BigInteger, default=0)
    count_pre_sq: Mapped[int] = mapped_column(BigInteger, default=0)
    count_cross: Mapped[int] = mapped_column(BigInteger, default=0)
    value_post: Mapped[float] = mapped_column(Float, default=0.0)
    value_post_sq: Mapped[float] = mapped_column(Float, default=0.0)
    value_pre: Mapped[float] = mapped_column(Float, default=0.0)
    value_pre_sq: Mapped[float] = mapped_column(Float, default=0.0)
    value_cross: Mapped[float] = mapped_column(Float, default=0.0)
    users_post: Mapped[int] = mapped_column(BigInteger, default=0)
    users_pre: Mapped[int] = mapped_column(BigInteger, default=0)
    users_both: Mapped[int] = mapped_column(BigInteger, default=0)
