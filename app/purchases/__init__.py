"""Coin purchases: packages on sale, verified payments, refunds and clawbacks."""
