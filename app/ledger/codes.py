"""The ledger's vocabulary: currencies, account codes and transfer kinds."""

from __future__ import annotations

import enum


class Currency(enum.StrEnum):
    COIN = "COIN"
    DIAMOND = "DIAMOND"


class AccountCode(enum.StrEnum):
    """What an account is for. USER accounts belong to a user; the rest are the platform's."""

    USER = "USER"
    COIN_ISSUANCE = "COIN_ISSUANCE"
    COIN_SINK = "COIN_SINK"
    DIAMOND_ISSUANCE = "DIAMOND_ISSUANCE"
    PAYOUT_HOLD = "PAYOUT_HOLD"
    PAYOUTS_PAID = "PAYOUTS_PAID"
    PARTNER_REDEMPTIONS = "PARTNER_REDEMPTIONS"
    # Coins of purchases under an open payment dispute: neither the buyer's nor gone yet.
    DISPUTE_HOLD = "DISPUTE_HOLD"


# System accounts, their currency, and whether they may go below zero (sources of value do).
SYSTEM_ACCOUNTS: dict[AccountCode, tuple[Currency, bool]] = {
    AccountCode.COIN_ISSUANCE: (Currency.COIN, True),
    AccountCode.COIN_SINK: (Currency.COIN, False),
    AccountCode.PARTNER_REDEMPTIONS: (Currency.COIN, False),
    AccountCode.DIAMOND_ISSUANCE: (Currency.DIAMOND, True),
    AccountCode.PAYOUT_HOLD: (Currency.DIAMOND, False),
    AccountCode.PAYOUTS_PAID: (Currency.DIAMOND, False),
    AccountCode.DISPUTE_HOLD: (Currency.COIN, False),
}


# The system accounts every gift touches, split into shards by the sender (or the host), so
# that gifts to and from different people do not wait for one account's lock.
SHARDED_ACCOUNTS = frozenset(
    {AccountCode.COIN_ISSUANCE, AccountCode.COIN_SINK, AccountCode.DIAMOND_ISSUANCE}
)
DEFAULT_SHARDS = 32


class TransferKind(enum.StrEnum):
    """Why value moved; the API shows it as ``LedgerEntryKind``."""

    PURCHASE = "PURCHASE"
    GIFT_SENT = "GIFT_SENT"
    GIFT_RECEIVED = "GIFT_RECEIVED"
    PAYOUT_HOLD = "PAYOUT_HOLD"
    PAYOUT_RELEASED = "PAYOUT_RELEASED"
    PAYOUT_PAID = "PAYOUT_PAID"
    REFUND_CLAWBACK = "REFUND_CLAWBACK"
    REDEMPTION = "REDEMPTION"
    ADJUSTMENT = "ADJUSTMENT"
    # A disputed purchase's coins held away from the buyer, released when the dispute is won.
    DISPUTE_HOLD = "DISPUTE_HOLD"
    DISPUTE_RELEASED = "DISPUTE_RELEASED"
    # Coins a refund or lost dispute took back, given back (refund reversed, dispute won).
    CLAWBACK_REVERSED = "CLAWBACK_REVERSED"


# Only these may take a user's balance below zero: value the user had was taken back.
OVERDRAFT_KINDS = frozenset(
    {TransferKind.REFUND_CLAWBACK, TransferKind.ADJUSTMENT, TransferKind.DISPUTE_HOLD}
)
