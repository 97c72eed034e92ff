"""Payout tables. Columns mirror ``piccolo_migrations/``, where checks and indexes live."""

from piccolo.columns import BigInt, Boolean, Date, Text, Timestamptz, Varchar
from piccolo.table import Table


class Payout(Table, tablename="payout"):
    """A creator's request to cash out diamonds; its status only moves forward."""

    creator_id = BigInt()
    diamonds = BigInt()
    amount_minor = BigInt()
    currency = Varchar(length=3)
    status = Varchar(length=16, default="PENDING")
    # The ledger operation of the request: its idempotency key and its hold transfer.
    operation_id = BigInt()
    # The UTC day the request counts against for the daily cap.
    requested_day = Date()
    payment_reference = Varchar(length=128, null=True, default=None)
    reason = Text(default="")
    decided_by = Varchar(length=64, null=True, default=None)
    requested_at = Timestamptz()
    decided_at = Timestamptz(null=True, default=None)
    paid_at = Timestamptz(null=True, default=None)


class PayoutDailyTotal(Table, tablename="payout_daily_total"):
    """Diamonds a creator has requested on one UTC day and not had given back.

    One row per creator and day, raised by a conditional update that enforces the cap, so
    two concurrent requests cannot both pass it.
    """

    creator_id = BigInt()
    day = Date()
    diamonds = BigInt(default=0)


class SandboxPayoutTransfer(Table, tablename="payout_sandbox_transfer"):
    """What the sandbox payout provider 'sent': one transfer per payout, at most."""

    payout_id = BigInt()
    amount_minor = BigInt()
    currency = Varchar(length=3)
    reference = Varchar(length=128)
    created_at = Timestamptz()


class PayoutReviewHold(Table, tablename="payout_review_hold"):
    """While a row exists, the creator's payouts wait: staff cannot approve them.

    Created by a fraud migration (``fraud_2026_11_25t16_40``) before payouts owned it."""

    creator_id = BigInt()
    held_by = Varchar(length=64)
    reason = Text()
    created_at = Timestamptz()


class PayoutAccount(Table, tablename="payout_account"):
    """A creator's account at the payout provider (a Stripe Connect Express account).

    ``state_at`` is when the provider reported the flags (the event's ``created``), so an
    older ``account.updated`` delivered late never overwrites a newer state."""

    creator_id = BigInt()
    provider = Varchar(length=16)
    account_id = Varchar(length=255)
    details_submitted = Boolean(default=False)
    payouts_enabled = Boolean(default=False)
    state_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class StripePayoutTransfer(Table, tablename="payout_stripe_transfer"):
    """What Stripe was asked to do for a payout: a transfer to the creator's connected
    account, then a payout from it to their bank; one row per payout, at most."""

    payout_id = BigInt()
    account_id = Varchar(length=255)
    transfer_id = Varchar(length=255)
    stripe_payout_id = Varchar(length=255)
    created_at = Timestamptz()
