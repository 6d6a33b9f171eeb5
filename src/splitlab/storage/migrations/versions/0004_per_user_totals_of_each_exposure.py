"""per-user totals of each exposure, backfilled from the events already stored

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 13:47:22.605399
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: What ``splitlab.events.totals`` folds, for every exposure at once, in this revision's terms:
#: per randomised exposure and event type, the user's events after exposure and in the 14 days
#: before it (events untagged or tagged with the exposure's experiment).
_FOLD = """
INSERT INTO exposure_totals (exposure_id, event_type, experiment_id, bucket_version, variant_id,
                             post_count, post_sum, pre_count, pre_sum)
SELECT x.id, e.event_type, x.experiment_id, x.bucket_version, x.variant_id,
       SUM(CASE WHEN e.timestamp >= x.exposed_at THEN 1 ELSE 0 END),
       SUM(CASE WHEN e.timestamp >= x.exposed_at THEN COALESCE(e.value, 0.0) ELSE 0.0 END),
       SUM(CASE WHEN e.timestamp >= x.exposed_at THEN 0 ELSE 1 END),
       SUM(CASE WHEN e.timestamp >= x.exposed_at THEN 0.0 ELSE COALESCE(e.value, 0.0) END)
FROM events AS e
JOIN exposures AS x
  ON x.workspace_id = e.workspace_id AND x.user_id = e.user_id AND NOT x.is_override
 AND (e.experiment_id IS NULL OR e.experiment_id = x.experiment_id)
 AND e.timestamp >= {window_start}
GROUP BY x.id, e.event_type, x.experiment_id, x.bucket_version, x.variant_id
"""
BACKFILL = {
    "postgresql": _FOLD.format(window_start="x.exposed_at - make_interval(days => 14)"),
    "sqlite": _FOLD.format(window_start="strftime('%Y-%m-%d %H:%M:%f', x.exposed_at, '-14 days')"),
}


def upgrade() -> None:
    op.create_table(
        "exposure_totals",
        sa.Column(
            "exposure_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("bucket_version", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=False),
        sa.Column("post_count", sa.BigInteger(), nullable=False),
        sa.Column("post_sum", sa.Float(), nullable=False),
        sa.Column("pre_count", sa.BigInteger(), nullable=False),
        sa.Column("pre_sum", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exposure_id"],
            ["exposures.id"],
            name=op.f("fk_exposure_totals_exposure_id_exposures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("exposure_id", "event_type", name=op.f("pk_exposure_totals")),
    )
    with op.batch_alter_table("exposure_totals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exposure_totals_experiment_id_bucket_version_event_type"),
            ["experiment_id", "bucket_version", "event_type"],
            unique=False,
        )

    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exposures_workspace_id_user_id"),
            ["workspace_id", "user_id"],
            unique=False,
        )
        batch_op.drop_index(batch_op.f("ix_exposures_experiment_id_variant_id"))
        batch_op.create_index(
            batch_op.f("ix_exposures_experiment_id_bucket_version_variant_id_is_override"),
            ["experiment_id", "bucket_version", "variant_id", "is_override"],
            unique=False,
        )
    op.execute(BACKFILL[op.get_bind().dialect.name])


def downgrade() -> None:
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_exposures_experiment_id_bucket_version_variant_id_is_override")
        )
        batch_op.create_index(
            batch_op.f("ix_exposures_experiment_id_variant_id"),
            ["experiment_id", "variant_id"],
            unique=False,
        )
        batch_op.drop_index(batch_op.f("ix_exposures_workspace_id_user_id"))

    with op.batch_alter_table("exposure_totals", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_exposure_totals_experiment_id_bucket_version_event_type")
        )

    op.drop_table("exposure_totals")
