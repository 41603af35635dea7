"""sealed free text: the ticket's title holds a Fernet token (longer than 300 characters)

Descriptions, messages, answers, notes and titles are encrypted from now on (models.SEALED).
Rows written before stay readable as they are; `loa keys rotate` seals them (docs/operations.md).

Revision ID: 8e4b1f0c6a27
Revises: 5c2e9a7d41b3
Create Date: 2026-12-04 17:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8e4b1f0c6a27"
down_revision: str | None = "5c2e9a7d41b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.alter_column(
            "title", existing_type=sa.String(length=300), type_=sa.Text(), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.alter_column(
            "title", existing_type=sa.Text(), type_=sa.String(length=300), existing_nullable=False
        )
