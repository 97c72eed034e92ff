"""Limits on buying coins with real money: the user's own per day, ISO week and month, and
the platform's cap on young accounts.

Guarantees
- Amounts are minor units of one reference currency (``PurchaseLimitSettings``); a price in
  another currency counts at the static conversion rate, rounded up (never in the buyer's
  disfavour by less than a cent). Periods are UTC, weeks start on Monday.
- Money paid counts from the purchases themselves (COMPLETED ones: refunds and held
  payments do not count), so there is no counter to drift.
- What may still be bought (``allowance_of``, ``me.purchaseAllowance``, the checkout's
  check) also counts every open web checkout (OPEN, created less than ``checkout_hold_s``
  ago) at its price, as if paid, in the period it was started. The webhook that pays one
  marks it PAID in the transaction that records its purchase, so it counts once: open
  before, paid after. Open checkouts are read before purchases, so a payment committing
  in between is counted twice for that one read (refusing too much), never not at all.
- ``ensure_purchase_allowed`` refuses, with PURCHASE_LIMIT_REACHED, where no money has moved
  yet (a checkout); ``record_purchase`` never refuses a payment that already happened: it
  says whether the purchase goes over a limit (on money paid only), and the purchase is
  marked so. An over-limit purchase counts like any other, so further checkouts wait until
  its period has passed.
- The user's limits follow the spending limits' rules (``app.spending.service.set_limits``):
  a lower limit applies at once, a higher or removed one after the raise delay.
- Checkouts of one user are checked one at a time: ``createCheckout`` checks again under
  ``lock_purchase_limits`` (a transaction-scoped advisory lock per user on PostgreSQL;
  SQLite has one writer) in the transaction that records the checkout, so of two concurrent
  checkouts the second sees the first as open. A checkout left open past the hold stops
  counting; if it is paid after all, the payment counts and is marked when it arrives.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from fractions import Fraction

import structlog

from app.core.clock import as_utc, utcnow
from app.core.database import is_sqlite
from app.core.errors import DomainError, ErrorCode
from app.core.money import Money, minor_unit_exponent
from app.purchases.codes import CheckoutStatus, PurchaseStatus
from app.purchases.tables import Checkout, Purchase
from app.settings import PurchaseLimitSettings
from app.spending import service as spending
from app.spending.service import PERIODS, Limits, LimitsState, period_starts
from app.users.service import UserRecord

log = structlog.get_logger(__name__)


class LimitKind(enum.StrEnum):
    """Which limit binds: the user's own per period, or the young-account cap."""

    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    NEW_ACCOUNT = "NEW_ACCOUNT"


_KIND_OF_PERIOD = {
    "daily": LimitKind.DAILY,
    "weekly": LimitKind.WEEKLY,
    "monthly": LimitKind.MONTHLY,
}


@dataclass(frozen=True, slots=True)
class PurchaseTotals:
    """Money paid for coins, in minor units of ``currency`` (the reference currency)."""

    currency: str
    today: int
    this_week: int
    this_month: int


@dataclass(frozen=True, slots=True)
class Allowance:
    """What the user may still pay for coins now (minor units of ``currency``).

    Each field is None where no limit applies; ``remaining`` is the smallest, and
    ``binding`` the limit it comes from.
    """

    currency: str
    daily: int | None
    weekly: int | None
    monthly: int | None
    new_account: int | None
    remaining: int | None
    binding: LimitKind | None


def to_reference(price: Money, settings: PurchaseLimitSettings) -> int | None:
    """``price`` in minor units of the reference currency, rounded up; None without a rate."""
    reference = settings.reference_currency
    if price.currency == reference:
        return price.amount_minor
    rate = dict(settings.conversion_rates).get(price.currency)
    if rate is None:
        return None
    scale = Fraction(10) ** (minor_unit_exponent(reference) - minor_unit_exponent(price.currency))
    value = price.amount_minor * rate * scale
    return -(-value.numerator // value.denominator)


async def limits_of(user_id: int) -> LimitsState:
    return await spending.purchase_limits_of(user_id)


async def set_limits(user_id: int, requested: Limits, *, raise_delay_s: int) -> LimitsState:
    """The spending limits' rules, on money: see ``app.spending.service.set_limits``."""
    return await spending.set_purchase_limits(user_id, requested, raise_delay_s=raise_delay_s)


def _period_start_times(now: datetime) -> tuple[datetime, datetime, datetime]:
    today = now.date()
    week, month = period_starts(today)
    return tuple(datetime.combine(day, time(), tzinfo=UTC) for day in (today, week, month))  # type: ignore[return-value]


def _by_period(
    amounts: Iterable[tuple[Money, datetime]], settings: PurchaseLimitSettings, now: datetime
) -> PurchaseTotals:
    """Sum ``(money, when)`` into today, this week and this month (UTC), in the reference
    currency; a currency without a rate is left out (logged)."""
    starts = _period_start_times(now)
    totals = [0, 0, 0]
    for money, when in amounts:
        amount = to_reference(money, settings)
        if amount is None:
            log.warning("purchase_limits.no_rate", currency=money.currency)
            continue
        for index, start in enumerate(starts):
            if as_utc(when) >= start:
                totals[index] += amount
    return PurchaseTotals(settings.reference_currency, *totals)


async def _paid(user_id: int, since: datetime) -> list[tuple[Money, datetime]]:
    """Money paid for coins since ``since``: completed purchases, less partial refunds."""
    rows = await Purchase.select(
        Purchase.price_minor, Purchase.refunded_minor, Purchase.currency, Purchase.created_at
    ).where(
        (Purchase.user_id == user_id)
        & (Purchase.status == PurchaseStatus.COMPLETED.value)
        & (Purchase.created_at >= since)
    )
    return [
        (Money(row["price_minor"] - row["refunded_minor"], row["currency"]), row["created_at"])
        for row in rows
    ]


async def _open_checkouts(user_id: int, since: datetime) -> list[tuple[Money, datetime]]:
    """The prices of the user's open (unpaid) web checkouts started since ``since``."""
    rows = await Checkout.select(
        Checkout.price_minor, Checkout.currency, Checkout.created_at
    ).where(
        (Checkout.user_id == user_id)
        & (Checkout.status == CheckoutStatus.OPEN.value)
        & (Checkout.created_at >= since)
    )
    return [(Money(row["price_minor"], row["currency"]), row["created_at"]) for row in rows]


def _period_start(now: datetime) -> datetime:
    """The start of the longest period counted (a week can start before its month)."""
    _, week_start, month_start = _period_start_times(now)
    return min(week_start, month_start)


async def purchase_totals(user_id: int, settings: PurchaseLimitSettings) -> PurchaseTotals:
    """Money paid for coins today, this week and this month (UTC), in the reference currency."""
    now = utcnow()
    return _by_period(await _paid(user_id, _period_start(now)), settings, now)


async def lock_purchase_limits(user_id: int) -> None:
    """Hold the user's purchase limits until the transaction ends (PostgreSQL: an advisory
    transaction lock keyed by the user; SQLite transactions already run one at a time)."""
    if is_sqlite():
        return
    await Checkout.raw(
        "SELECT pg_advisory_xact_lock(hashtextextended({}, 0))", f"coins.purchase_limits.{user_id}"
    )


def _young(user: UserRecord, settings: PurchaseLimitSettings) -> bool:
    return utcnow() - user.created_at < timedelta(days=settings.new_account_days)


async def allowance_of(
    user: UserRecord, settings: PurchaseLimitSettings, *, open_checkouts: bool = True
) -> Allowance:
    """What ``user`` may still pay for coins this day, week and month, and which limit binds.

    Open checkouts count as paid (``open_checkouts``), read before the purchases: see the
    module's guarantees. ``record_purchase`` leaves them out: it judges money paid.
    """
    limits = (await limits_of(user.id)).current
    now = utcnow()
    since = _period_start(now)
    # Open checkouts first (see the module's guarantees), those past the hold left out.
    pending = (
        await _open_checkouts(
            user.id, max(since, now - timedelta(seconds=settings.checkout_hold_s))
        )
        if open_checkouts
        else []
    )
    totals = _by_period([*pending, *await _paid(user.id, since)], settings, now)
    spent = dict(zip(PERIODS, (totals.today, totals.this_week, totals.this_month), strict=True))
    left: dict[LimitKind, int] = {}
    for period in PERIODS:
        limit = limits.get(period)
        if limit is not None:
            left[_KIND_OF_PERIOD[period]] = max(limit - spent[period], 0)
    if _young(user, settings):
        left[LimitKind.NEW_ACCOUNT] = max(settings.new_account_daily_minor - totals.today, 0)
    binding = min(left, key=lambda kind: left[kind]) if left else None
    return Allowance(
        currency=settings.reference_currency,
        daily=left.get(LimitKind.DAILY),
        weekly=left.get(LimitKind.WEEKLY),
        monthly=left.get(LimitKind.MONTHLY),
        new_account=left.get(LimitKind.NEW_ACCOUNT),
        remaining=left[binding] if binding else None,
        binding=binding,
    )


def _limit_reached(allowance: Allowance, amount: int) -> DomainError:
    kind = allowance.binding
    assert kind is not None
    remaining = Money(allowance.remaining or 0, allowance.currency).decimal_amount
    what = (
        "New accounts may buy only a little each day in their first days"
        if kind is LimitKind.NEW_ACCOUNT
        else f"This would go over your {kind.value.lower()} purchase limit"
    )
    return DomainError(
        ErrorCode.PURCHASE_LIMIT_REACHED,
        f"{what}: {remaining} {allowance.currency} left for now.",
        "packageId",
    )


async def ensure_purchase_allowed(
    user: UserRecord, price: Money, settings: PurchaseLimitSettings
) -> Allowance:
    """Refuse (PURCHASE_LIMIT_REACHED) a purchase not paid yet that would cross a limit.

    Call before any money moves (``createCheckout``, under ``lock_purchase_limits`` where it
    decides); an unknown currency is refused too, since it could not be counted.
    """
    amount = to_reference(price, settings)
    if amount is None:
        raise DomainError(
            ErrorCode.PACKAGE_UNAVAILABLE,
            f"Purchases in {price.currency} cannot be counted against limits here.",
            "packageId",
        )
    allowance = await allowance_of(user, settings)
    if allowance.remaining is not None and amount > allowance.remaining:
        raise _limit_reached(allowance, amount)
    return allowance


async def record_purchase(user: UserRecord, price: Money, settings: PurchaseLimitSettings) -> bool:
    """Whether a payment that already happened goes over a limit (never refuses it).

    Called by the one place purchases are credited (``app.purchases.buying._credit``), inside its
    transaction and before the purchase row is written; the caller marks the purchase.
    """
    amount = to_reference(price, settings)
    if amount is None:
        log.warning("purchase_limits.no_rate", currency=price.currency, user_id=user.id)
        return False
    # Money paid only: the checkout this payment settles is still open in this transaction
    # (and another open one is no payment to go over a limit with).
    allowance = await allowance_of(user, settings, open_checkouts=False)
    over = allowance.remaining is not None and amount > allowance.remaining
    if over:
        log.info(
            "purchase_limits.over_limit",
            user_id=user.id,
            binding=allowance.binding.value if allowance.binding else None,
        )
    return over
