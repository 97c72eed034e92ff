"""An expiry date and terms on each partner offer; redemptions listed per offer.

``expires_at`` NULL means the offer never expires; ``terms`` is the partner's small print
shown with the offer (empty when there is none). The index serves the staff's list of an
offer's redemptions, newest first.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T14:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Expiry date and terms of partner offers"

DDL = """
ALTER TABLE partner_offer ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE partner_offer ADD COLUMN terms TEXT NOT NULL DEFAULT '';
CREATE INDEX redemption_offer ON redemption (offer_id, id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "offers", DESCRIPTION, DDL)
