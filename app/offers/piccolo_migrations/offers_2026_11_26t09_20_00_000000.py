"""A per-user limit on each offer (one code per user unless staff say otherwise).

``per_user_limit`` on the offer; ``offer_user_redemption`` counts a user's redemptions of
an offer, raised by a conditional update in the redemption's transaction (race-safe).
Existing offers get the default, 1; existing redemptions are counted.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T09:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Per-user redemption limit of partner offers"

DDL = """
ALTER TABLE partner_offer ADD COLUMN per_user_limit INTEGER NOT NULL DEFAULT 1
    CHECK (per_user_limit > 0);

CREATE TABLE offer_user_redemption (
    id {pk},
    offer_id BIGINT NOT NULL REFERENCES partner_offer (id),
    user_id BIGINT NOT NULL REFERENCES coins_user (id),
    redeemed INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX offer_user_redemption_unique ON offer_user_redemption (offer_id, user_id);

INSERT INTO offer_user_redemption (offer_id, user_id, redeemed)
    SELECT offer_id, user_id, COUNT(*) FROM redemption GROUP BY offer_id, user_id
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "offers", DESCRIPTION, DDL)
