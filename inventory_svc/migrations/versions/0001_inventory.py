"""Inventory schema: products, stock, reservations, the movement ledger.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "inventory"


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "products",
        sa.Column(
            "product_id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column("sku", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("price_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", ts, nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", ts, nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("price_minor > 0", name="price_positive"),
        schema=S,
    )
    op.create_index("products_created", "products", ["created_at", "product_id"], schema=S)
    op.create_table(
        "stock",
        sa.Column(
            "product_id", sa.Uuid, sa.ForeignKey(f"{S}.products.product_id"), primary_key=True
        ),
        sa.Column("on_hand", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reserved", sa.Integer, nullable=False, server_default="0"),
        sa.CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        sa.CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        sa.CheckConstraint("reserved <= on_hand", name="available_not_negative"),
        schema=S,
    )
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.Uuid, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("items_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", ts, nullable=False),
        sa.Column("created_at", ts, nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", ts, nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint(
            "status IN ('HELD','RELEASED','EXPIRED','COMMITTED','RESTOCKED')", name="status_known"
        ),
        schema=S,
    )
    op.create_index(
        "reservations_held_expiry",
        "reservations",
        ["expires_at"],
        schema=S,
        postgresql_where=sa.text("status = 'HELD'"),
    )
    op.create_table(
        "reservation_items",
        sa.Column("order_id", sa.Uuid, sa.ForeignKey(f"{S}.reservations.order_id"), nullable=False),
        sa.Column("product_id", sa.Uuid, sa.ForeignKey(f"{S}.products.product_id"), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("order_id", "product_id"),
        sa.CheckConstraint("quantity BETWEEN 1 AND 1000", name="quantity_range"),
        schema=S,
    )
    op.create_table(
        "movements",
        sa.Column("movement_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("product_id", sa.Uuid, sa.ForeignKey(f"{S}.products.product_id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("on_hand_delta", sa.Integer, nullable=False),
        sa.Column("reserved_delta", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("order_id", sa.Uuid, nullable=True),
        sa.Column("actor", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", ts, nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint(
            "kind IN ('INITIAL','ADJUST','RESERVE','RELEASE','EXPIRE','SALE','RESTOCK')",
            name="kind_known",
        ),
        schema=S,
    )
    op.create_index("movements_product", "movements", ["product_id", "movement_id"], schema=S)


def downgrade() -> None:
    for table in ("movements", "reservation_items", "reservations", "stock", "products"):
        op.drop_table(table, schema=S)
