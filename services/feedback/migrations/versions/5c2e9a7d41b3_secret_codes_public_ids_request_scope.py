"""secret tracking codes, public ids, data requests scoped to their proof (issue 13)

Every existing tracking code was listed by the public Open311 API, so none is a secret any more:
it becomes the ticket's public id (Open311 clients keep finding their requests by it) and the
ticket gets a fresh, longer secret code (staff at the intake desk can read it to the citizen).
Open data requests filed under the old rule covered every ticket of a phone without an identity
check: they now wait for staff to record one.

Revision ID: 5c2e9a7d41b3
Revises: 0f737d0b2a7e
Create Date: 2026-12-04 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.feedback.domain.codes import new_code

revision: str = "5c2e9a7d41b3"
down_revision: str | None = "0f737d0b2a7e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.alter_column(
            "code", existing_type=sa.String(length=16), type_=sa.String(length=24)
        )
        batch_op.add_column(sa.Column("public_id", sa.String(length=24), nullable=True))
    bind = op.get_bind()
    tickets = sa.table(
        "tickets", sa.column("id", sa.String), sa.column("code"), sa.column("public_id")
    )
    for row in bind.execute(sa.select(tickets.c.id, tickets.c.code)).all():
        bind.execute(
            tickets.update()
            .where(tickets.c.id == row.id)
            .values(public_id=row.code, code=new_code())
        )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.alter_column("public_id", existing_type=sa.String(length=24), nullable=False)
        batch_op.create_unique_constraint("uq_tickets_public_id", ["public_id"])

    with op.batch_alter_table("data_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scope", sa.String(length=10), server_default="tickets", nullable=False)
        )
        batch_op.add_column(sa.Column("ticket_ids", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("identity_checked_by", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("identity_checked_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("identity_note", sa.Text(), nullable=True))
    requests = sa.table("data_requests", sa.column("scope"), sa.column("status"))
    bind.execute(
        requests.update()
        .where(requests.c.status.in_(("received", "acknowledged")))
        .values(scope="phone")
    )


def downgrade() -> None:
    with op.batch_alter_table("data_requests", schema=None) as batch_op:
        batch_op.drop_column("identity_note")
        batch_op.drop_column("identity_checked_at")
        batch_op.drop_column("identity_checked_by")
        batch_op.drop_column("ticket_ids")
        batch_op.drop_column("scope")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_constraint("uq_tickets_public_id", type_="unique")
        batch_op.drop_column("public_id")
