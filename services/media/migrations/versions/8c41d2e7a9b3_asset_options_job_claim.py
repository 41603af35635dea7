"""media: asset options (logo, subtitles), job claim token

Revision ID: 8c41d2e7a9b3
Revises: 3aa395fbbf34
Create Date: 2026-11-26 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8c41d2e7a9b3"
down_revision: str | None = "3aa395fbbf34"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("assets", sa.Column("options", sa.JSON(), nullable=True))
    op.add_column("jobs", sa.Column("claim", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("claim")
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("options")
