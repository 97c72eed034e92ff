"""Fraud review vocabulary: which rule raised a flag, how bad it looks, where it stands."""

from __future__ import annotations

import enum


class FraudRule(enum.StrEnum):
    YOUNG_ACCOUNT_SPENDING = "YOUNG_ACCOUNT_SPENDING"
    CIRCULAR_GIFTING = "CIRCULAR_GIFTING"
    CONCENTRATION_BEFORE_PAYOUT = "CONCENTRATION_BEFORE_PAYOUT"
    REFUND_AFTER_SPEND = "REFUND_AFTER_SPEND"
    NEW_ACCOUNT_SWARM = "NEW_ACCOUNT_SWARM"
    CREATOR_REPORT = "CREATOR_REPORT"
    PAYMENT_AMOUNT_MISMATCH = "PAYMENT_AMOUNT_MISMATCH"


class Severity(enum.StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class FlagStatus(enum.StrEnum):
    OPEN = "OPEN"
    DISMISSED = "DISMISSED"
    ACTIONED = "ACTIONED"
