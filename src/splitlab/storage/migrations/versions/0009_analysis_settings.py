"""experiments: the analysis settings issue 18 makes settable per experiment

- ``correction``: how p-values are adjusted within each family of comparisons (the primary
  metric's treatments; the secondary metrics' and the guardrails' comparisons across metrics and
  treatments): ``holm`` (the default, as before for the treatments of one metric), ``bh``,
  ``bonferroni`` or ``none``.
- ``planned_sample_size`` and ``sequential_tuning``: the sequential test's tuning, fixed before
  the data (an explicit tuning, else the planned number of users, else 5,000 as before).
- ``prior_mean`` and ``prior_stddev``: the Bayesian prior on the relative lift (N(0, 0.3²) as
  before; no standard deviation means a flat prior).

Plain ADD COLUMNs with constant defaults: no table rewrite on either database, and no existing
experiment's results change.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 07:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    sa.Column("correction", sa.String(20), server_default="holm", nullable=False),
    sa.Column("planned_sample_size", sa.Integer(), nullable=True),
    sa.Column("sequential_tuning", sa.Float(), nullable=True),
    sa.Column("prior_mean", sa.Float(), server_default="0", nullable=False),
    sa.Column("prior_stddev", sa.Float(), server_default="0.3", nullable=True),
)


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("experiments", column)


def downgrade() -> None:
    # In place on both databases (SQLite >= 3.35): a batch copy of ``experiments`` would drop
    # migration 0007's triggers and cascade to every row that references an experiment.
    for column in reversed(COLUMNS):
        op.execute(f"ALTER TABLE experiments DROP COLUMN {column.name}")
