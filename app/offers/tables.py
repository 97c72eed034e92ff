"""Partner-offer tables; columns mirror ``piccolo_migrations/``."""

from piccolo.columns import BigInt, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class PartnerOffer(Table, tablename="partner_offer"):
    brand = Varchar(length=64)
    title = Varchar(length=120)
    coin_cost = BigInt()
    active = Boolean(default=True)
    created_at = Timestamptz()
    # Codes one user may take from this offer.
    per_user_limit = Integer(default=1)
    # Not listed and not redeemable from this moment on; None: never expires.
    expires_at = Timestamptz(null=True, default=None)
    # The partner's small print, shown with the offer.
    terms = Text(default="")


class OfferCode(Table, tablename="offer_code"):
    """One discount code of an offer's pool; handed out at most once."""

    offer_id = BigInt()
    code = Varchar(length=128)
    redeemed_by = BigInt(null=True, default=None)
    redeemed_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


class Redemption(Table, tablename="redemption"):
    operation_id = BigInt()
    offer_id = BigInt()
    user_id = BigInt()
    code_id = BigInt()
    code = Varchar(length=128)
    coins = BigInt()
    created_at = Timestamptz()


class OfferUserRedemption(Table, tablename="offer_user_redemption"):
    """How many codes of an offer a user took: the row their redemptions queue on."""

    offer_id = BigInt()
    user_id = BigInt()
    redeemed = Integer(default=0)
