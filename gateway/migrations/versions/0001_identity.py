"""Identity schema: users and rotating refresh tokens.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "identity"


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "users",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("email", sa.Text, nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("locale", sa.Text, nullable=False, server_default=""),
        sa.Column("display_name", sa.Text, nullable=False, server_default=""),
        sa.Column("create_time", ts, nullable=False, server_default=sa.text("now()")),
        sa.Column("update_time", ts, nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("email = lower(email)", name="users_email_lower"),
        sa.CheckConstraint("role IN ('customer', 'admin')", name="users_role_known"),
        schema=S,
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_id", sa.Uuid, primary_key=True),
        sa.Column("family_id", sa.Uuid, nullable=False),
        sa.Column(
            "user_id",
            sa.Uuid,
            sa.ForeignKey(f"{S}.users.user_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),
        sa.Column("issue_time", ts, nullable=False),
        sa.Column("expire_time", ts, nullable=False),
        sa.Column("rotate_time", ts),
        sa.Column("revoke_time", ts),
        sa.CheckConstraint("expire_time > issue_time", name="refresh_tokens_expiry_after_issue"),
        schema=S,
    )
    op.create_index("refresh_tokens_family", "refresh_tokens", ["family_id"], schema=S)


def downgrade() -> None:
    op.drop_table("refresh_tokens", schema=S)
    op.drop_table("users", schema=S)
