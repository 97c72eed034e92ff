"""Responsible spending: per-day spend counters and spending limits."""
