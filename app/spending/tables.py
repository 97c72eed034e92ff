"""Spending tables; columns mirror ``piccolo_migrations/``."""

from piccolo.columns import BigInt, Date, Timestamptz
from piccolo.table import Table


class SpendingDay(Table, tablename="spending_day"):
    """Coins one user spent on one UTC day: limits are checked from these, not history."""

    user_id = BigInt()
    day = Date()
    coins = BigInt(default=0)


class SpendingLimit(Table, tablename="spending_limit"):
    """A user's own limits; a raise waits in ``pending_*`` until ``pending_applies_at``."""

    user_id = BigInt(unique=True)
    daily = BigInt(null=True, default=None)
    weekly = BigInt(null=True, default=None)
    monthly = BigInt(null=True, default=None)
    pending_daily = BigInt(null=True, default=None)
    pending_weekly = BigInt(null=True, default=None)
    pending_monthly = BigInt(null=True, default=None)
    pending_applies_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class PurchaseLimit(Table, tablename="spending_purchase_limit"):
    """A user's own limits on money paid for coins (minor units of the reference currency),
    with ``SpendingLimit``'s columns: the same pending-change rules apply to both."""

    user_id = BigInt(unique=True)
    daily = BigInt(null=True, default=None)
    weekly = BigInt(null=True, default=None)
    monthly = BigInt(null=True, default=None)
    pending_daily = BigInt(null=True, default=None)
    pending_weekly = BigInt(null=True, default=None)
    pending_monthly = BigInt(null=True, default=None)
    pending_applies_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()
