"""The control plane: experiments, their variants and their lifecycle history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from splitlab.storage.base import Base, JSONType, utcnow


class Experiment(Base):
    __tablename__ = "experiments"
    __table_args__ = (
        UniqueConstraint("workspace_id", "key"),
        UniqueConstraint("workspace_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    hypothesis: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)

    targeting: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    sticky_bucketing: Mapped[bool] = mapped_column(Boolean, default=True)
    override_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    min_sample_size: Mapped[int] = mapped_column(Integer, default=100)
    confidence_level: Mapped[float] = mapped_column(Float, default=0.95)
    # Assignment: GrowthBook-compatible hashing. hash_seed None means "the experiment key".
    hash_seed: Mapped[str | None] = mapped_column(String(200))
    hash_version: Mapped[int] = mapped_column(Integer, default=2)
    bucket_version: Mapped[int] = mapped_column(Integer, default=0)
    #: The bucket version users are hashed from: the seed carries ``bucket_version`` minus this
    #: (``assignment.config.bucket_seed``). Migration 0008 set it to the bucket version of every
    #: experiment then, so they kept hashing as before until their version is raised again.
    bucket_seed_base: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Analysis options.
    sequential_testing: Mapped[bool] = mapped_column(Boolean, default=False)
    cuped: Mapped[bool] = mapped_column(Boolean, default=True)
    minimum_detectable_effect: Mapped[float] = mapped_column(Float, default=0.05)
    correction: Mapped[str] = mapped_column(String(20), default="holm", server_default="holm")
    planned_sample_size: Mapped[int | None] = mapped_column(Integer)
    sequential_tuning: Mapped[float | None] = mapped_column(Float)
    prior_mean: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # No default here: null (a flat prior) is a value, and the ORM leaves a None out of an
    # INSERT when the column has a default. The service always sets it; migration 0009 gave
    # the rows before it 0.3, the prior they were analysed with.
    prior_stddev: Mapped[float | None] = mapped_column(Float)

    # Seed 003's free-form fields.
    variant_ref: Mapped[str | None] = mapped_column(String(200))
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    start_date: Mapped[datetime | None]
    end_date: Mapped[datetime | None]
    winning_variant: Mapped[str | None] = mapped_column(String(100))
    conclusion_notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    variants: Mapped[list[Variant]] = relationship(
        back_populates="experiment",
        lazy="raise",
        order_by="Variant.position",
        cascade="all, delete-orphan",
    )


class Variant(Base):
    __tablename__ = "variants"
    __table_args__ = (UniqueConstraint("experiment_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    allocation: Mapped[float] = mapped_column(Float)
    is_control: Mapped[bool] = mapped_column(Boolean, default=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    experiment: Mapped[Experiment] = relationship(back_populates="variants", lazy="raise")


class LifecycleEvent(Base):
    """One row per transition or edit of an experiment: who, when, from, to, what changed, why."""

    __tablename__ = "lifecycle_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str | None] = mapped_column(String(200))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Metric(Base):
    """A metric definition: how one event type becomes one number per exposed user."""

    __tablename__ = "metrics"
    __table_args__ = (UniqueConstraint("experiment_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(20))
    higher_is_better: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
