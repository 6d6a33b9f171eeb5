"""a leaner events table: no foreign keys, two secondary indexes instead of three

Every stored event paid for two foreign-key triggers and three secondary B-trees. The checks
were never needed (the service resolves the experiment and workspace before it writes, and
neither is ever deleted), and analysis now reads ``exposure_totals``, not raw events, so the
events table keeps only what its remaining readers need: the user's events for a new exposure's
fold and seed 000's per-variant values, ``(workspace_id, user_id)``; retention and reports,
``(timestamp)``; idempotency, the unique ``(workspace_id, event_id)``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 17:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_events_experiment_id_experiments"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_events_workspace_id_workspaces"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_events_experiment_id_event_type_user_id"))
        batch_op.drop_index(batch_op.f("ix_events_workspace_id_user_id_event_type_timestamp"))
        batch_op.create_index(
            batch_op.f("ix_events_workspace_id_user_id"), ["workspace_id", "user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_workspace_id_user_id"))
        batch_op.create_index(
            batch_op.f("ix_events_workspace_id_user_id_event_type_timestamp"),
            ["workspace_id", "user_id", "event_type", "timestamp"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_events_experiment_id_event_type_user_id"),
            ["experiment_id", "event_type", "user_id"],
            unique=False,
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_events_workspace_id_workspaces"),
            "workspaces",
            ["workspace_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_events_experiment_id_experiments"),
            "experiments",
            ["experiment_id"],
            ["id"],
            ondelete="CASCADE",
        )
