"""one counter that every change to tokens, workspaces and experiments moves

API processes cache tokens, workspaces and experiment configs in memory, so that the hot path
makes no database round trip for them. Each process polls this one row (``splitlab.runtime``)
and drops its caches when the number has moved. Triggers move it, in the same transaction as the
change, whatever made the change: the API, the CLI, another process or a hand-written UPDATE.
Only ``last_used_at`` of a token may change without moving it (usage is not configuration).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Tables whose rows the caches hold, and for updates, the columns that matter (None: all).
WATCHED: dict[str, tuple[str, ...] | None] = {
    "workspaces": None,
    "experiments": None,
    "variants": None,
    "api_tokens": (
        "workspace_id",
        "name",
        "scope",
        "prefix",
        "token_hash",
        "is_active",
        "is_demo",
        "expires_at",
    ),
}
_BUMP = "UPDATE control_generation SET value = value + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "control_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_generation")),
    )
    op.execute("INSERT INTO control_generation (id, value) VALUES (1, 1)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION splitlab_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN {_BUMP}; RETURN NULL; END $$
            """
        )
        for table, columns in WATCHED.items():
            update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
            op.execute(
                f"CREATE TRIGGER {table}_generation AFTER INSERT OR {update} OR DELETE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION splitlab_bump_generation()"
            )
        return
    for table, columns in WATCHED.items():
        update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
        for action in ("INSERT", update, "DELETE"):
            name = f"{table}_generation_{action.split()[0].lower()}"
            op.execute(f"CREATE TRIGGER {name} AFTER {action} ON {table} BEGIN {_BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_generation ON {table}")
        op.execute("DROP FUNCTION splitlab_bump_generation()")
    else:
        for table in WATCHED:
            for action in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {table}_generation_{action}")
    op.drop_table("control_generation")
