"""Gift tables; columns mirror ``piccolo_migrations/``. Gift events are never updated."""

from piccolo.columns import BigInt, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class Gift(Table, tablename="gift"):
    """A gift's identity; its name and price live in versions."""

    slug = Varchar(length=64, unique=True)
    current_version_id = BigInt(null=True, default=None)
    retired = Boolean(default=False)
    created_at = Timestamptz()


class GiftVersion(Table, tablename="gift_version"):
    """A gift as it was priced from ``created_at`` until the next version."""

    gift_id = BigInt()
    name = Varchar(length=64)
    coin_cost = BigInt()
    diamond_value = BigInt()
    image_url = Text(null=True, default=None)
    created_at = Timestamptz()
    created_by = Varchar(length=24, null=True, default=None)  # staff handle; NULL: seed


class GiftEvent(Table, tablename="gift_event"):
    """One sendGift: the price snapshot, the ledger operation and the combo it continued."""

    operation_id = BigInt()
    stream_id = BigInt()
    gift_id = BigInt()
    gift_version_id = BigInt()
    sender_id = BigInt()
    host_id = BigInt()
    quantity = Integer()
    coins = BigInt()
    diamonds = BigInt()
    combo_count = Integer()
    created_at = Timestamptz()
