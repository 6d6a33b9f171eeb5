"""exposures: SDK-reported ones may disagree with the server (flagged, indexed); no FK checks

``POST /api/v1/exposures/batch`` records what an SDK showed a user, even when the server would
have chosen another variant for the same attributes (a stale payload, a paused experiment). Such
exposures carry ``disagrees = true``; a partial index over them alone lets the results count them
per variant without reading the experiment's other exposures.

Exposures lose their foreign keys, as events did in 0005: SDKs now send exposures 10,000 at a
time, and the three per-row checks were three quarters of such an insert on PostgreSQL (0.43 of
0.58 s). The writers resolve workspace, experiment and variant before writing, and none of them
is deleted once it has exposures (variants change only while a draft, which records none;
experiments are cancelled, not deleted; workspaces are never deleted).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


FOREIGN_KEYS = (
    ("workspace_id", "workspaces"),
    ("experiment_id", "experiments"),
    ("variant_id", "variants"),
)


def upgrade() -> None:
    # First (on SQLite a batch copies the table): the index below is then made on the copy.
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        for column, table in FOREIGN_KEYS:
            batch_op.drop_constraint(
                batch_op.f(f"fk_exposures_{column}_{table}"), type_="foreignkey"
            )
    # A plain ADD COLUMN with a constant default: no table rewrite on either database.
    op.add_column(
        "exposures",
        sa.Column("disagrees", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_index(
        "ix_exposures_disagreements",
        "exposures",
        ["experiment_id", "bucket_version", "variant_id"],
        unique=False,
        sqlite_where=sa.text("disagrees"),
        postgresql_where=sa.text("disagrees"),
    )


def downgrade() -> None:
    op.drop_index("ix_exposures_disagreements", table_name="exposures")
    with op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.drop_column("disagrees")
        for column, table in FOREIGN_KEYS:
            batch_op.create_foreign_key(
                batch_op.f(f"fk_exposures_{column}_{table}"),
                table,
                [column],
                ["id"],
                ondelete="CASCADE",
            )
