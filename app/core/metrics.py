"""The service's own Prometheus metrics, declared once per process.

They live here, at the bottom layer, so that the transaction module can count its retries
with one line; everything else is counted from the edges (the GraphQL controller, the
after-commit events wired in ``app.wiring``) by ``app.observability.metrics``. Gauges of
live state (the database pool, the live feed) are read at scrape time by a collector there,
not kept here. Labels take bounded values only: operation names are capped, codes and
statuses are enums.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Seconds; the gift path answers in a few ms, a slow read in tens.
LATENCY_BUCKETS_S = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

GRAPHQL_REQUESTS = Counter(
    "coins_graphql_requests",
    "GraphQL operations over HTTP, by operation name and outcome "
    "(ok, a domain error code, invalid, unexpected).",
    ["operation", "outcome"],
)
GRAPHQL_LATENCY = Histogram(
    "coins_graphql_request_duration_seconds",
    "Time to answer a GraphQL operation over HTTP, by operation name and outcome.",
    ["operation", "outcome"],
    buckets=LATENCY_BUCKETS_S,
)
GIFTS_SENT = Counter("coins_gifts_sent", "Committed sendGift operations (replays not counted).")
GIFT_COINS = Counter("coins_gift_coins", "Coins spent on committed gifts.")
COINS_SOLD = Counter(
    "coins_coins_sold",
    "Coins (bonus included) credited by committed purchases, by price currency and provider.",
    ["currency", "provider"],
)
PURCHASES = Counter(
    "coins_purchases",
    "Committed purchases, by price currency and provider.",
    ["currency", "provider"],
)
PAYOUTS = Counter(
    "coins_payouts",
    "Payouts entering each status (PENDING when requested, then APPROVED, PAID, "
    "REJECTED or CANCELLED).",
    ["status"],
)
TRANSACTION_RETRIES = Counter(
    "coins_transaction_retries",
    "Ledger transactions run again after a transient conflict, by what was met.",
    ["reason"],
)
TRANSACTION_CONFLICTS = Counter(
    "coins_transaction_conflicts",
    "Ledger transactions given up after every retry (the client saw an unexpected error).",
)
