"""exposures: SDK-reported ones may disagree with the server (flagged, indexed); no FK checks;
the bucket version in the hashed seed, counted from each experiment's version at upgrade

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

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

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


@contextmanager
def _totals_kept() -> Iterator[None]:
    """On SQLite a batch copies ``exposures`` and drops the old table, and with foreign keys on,
    that drop cascades to every row of ``exposure_totals``: keep them aside and put them back
    (exposure ids survive the copy). PostgreSQL alters the table in place."""
    if op.get_bind().dialect.name != "sqlite":
        yield
        return
    op.execute("CREATE TEMP TABLE kept_exposure_totals AS SELECT * FROM exposure_totals")
    yield
    op.execute("DELETE FROM exposure_totals")
    op.execute("INSERT INTO exposure_totals SELECT * FROM kept_exposure_totals")
    op.execute("DROP TABLE kept_exposure_totals")


def upgrade() -> None:
    # First (on SQLite a batch copies the table): the index below is then made on the copy.
    with _totals_kept(), op.batch_alter_table("exposures", schema=None) as batch_op:
        for column, table in FOREIGN_KEYS:
            batch_op.drop_constraint(
                batch_op.f(f"fk_exposures_{column}_{table}"), type_="foreignkey"
            )
    # A plain ADD COLUMN with a constant default: no table rewrite on either database.
    op.add_column(
        "exposures",
        sa.Column("disagrees", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # The hashed seed now carries the bucket version (``assignment.config.bucket_seed``),
    # counted from this column: existing experiments count from their current version, so no
    # user of a running experiment moves on upgrade.
    op.add_column(
        "experiments",
        sa.Column("bucket_seed_base", sa.Integer(), server_default="0", nullable=False),
    )
    op.execute("UPDATE experiments SET bucket_seed_base = bucket_version")
    op.create_index(
        "ix_exposures_disagreements",
        "exposures",
        ["experiment_id", "bucket_version", "variant_id"],
        unique=False,
        sqlite_where=sa.text("disagrees"),
        postgresql_where=sa.text("disagrees"),
    )


def downgrade() -> None:
    # In place on both databases (SQLite >= 3.35): a batch copy of ``experiments`` would drop
    # migration 0007's triggers and cascade to every row that references an experiment.
    op.execute("ALTER TABLE experiments DROP COLUMN bucket_seed_base")
    op.drop_index("ix_exposures_disagreements", table_name="exposures")
    with _totals_kept(), op.batch_alter_table("exposures", schema=None) as batch_op:
        batch_op.drop_column("disagrees")
        for column, table in FOREIGN_KEYS:
            batch_op.create_foreign_key(
                batch_op.f(f"fk_exposures_{column}_{table}"),
                table,
                [column],
                ["id"],
                ondelete="CASCADE",
            )
