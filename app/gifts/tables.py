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
    # Render data and availability (``app.gifts.details``).
    thumbnail_url = Text(null=True, default=None)
    animation_url = Text(null=True, default=None)
    animation_kind = Varchar(length=8, default="NONE")
    tier = Integer(default=1)
    category = Varchar(length=32, null=True, default=None)
    sort_order = Integer(default=0)
    availability_kind = Varchar(length=16, default="PERMANENT")
    available_from = Timestamptz(null=True, default=None)
    available_until = Timestamptz(null=True, default=None)
    regions = Text(default="")  # ISO country codes, sorted, comma-separated; "": everywhere


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


class GiftCredit(Table, tablename="gift_credit"):
    """A sent gift's diamonds and stream totals waiting to be settled (a queue)."""

    event_id = BigInt()
    host_id = BigInt()
    stream_id = BigInt()
    coins = BigInt()
    quantity = Integer()
    diamonds = BigInt()
    created_at = Timestamptz()


class GiftSettlement(Table, tablename="gift_settlement"):
    """One host's part of a settled batch: the transfer that credited it and its events.

    ``transfer_id`` is NULL for an event taken off the queue by a reversal before it was
    settled (its diamonds were never credited)."""

    transfer_id = BigInt(null=True, default=None)
    host_id = BigInt()
    event_ids = Text()  # a JSON array, ascending
    diamonds = BigInt()
    digest = Varchar(length=64)
    settled_at = Timestamptz()


class GiftMessage(Table, tablename="gift_message"):
    """The message a gift carried (trimmed, at most 150 characters); ``hidden_at`` set when
    the host or staff hid it, after which it shows as null everywhere but moderation."""

    event_id = BigInt(unique=True)
    message = Text()
    hidden_at = Timestamptz(null=True, default=None)
    hidden_by = Varchar(length=40, null=True, default=None)  # "user:<id>" or "staff:<handle>"
